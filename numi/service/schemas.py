"""The declared shape of every request body the numi service accepts (pydantic).

Strict types: a list or an object where a string belongs is refused (422, naming the
field), never coerced or half-saved. Unknown fields are refused too, so that a typo in
a field name is not silently ignored.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Dict, List, Literal, Optional, Union

from pydantic import BaseModel, StrictBool, conint, constr, validator

from numi.tickets.lifecycle import CLOSE_REASONS, PRIORITIES, QUEUES, STATUSES, WAITING_REASONS
from numi.vocab import CALL_OUTCOMES

CUSTOMER_ID = r"^[A-Z0-9-]{1,16}$"
TICKET_ID = r"^TK-\d{1,9}$"
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"

if TYPE_CHECKING:  # to the type checker they are plain str and int; pydantic checks the constraints
    Token = str
    Text = str
    Line = str
    Name = str
    CustomerId = str
    IsoDate = str
    IsoDateTime = str
    Email = str
    Phone = str
    Perimeter = str
    Score5 = int
    Score10 = int
    ScenarioId = str
    Ref = str
    TicketId = str
    Message = str
    ShortId = str
    Index = int
    Answer = str
    AnswerKey = str
    SenderId = str
    ActionName = str
    RequiredActionName = str
    Version = str
    SearchText = str
    Days = int
    PageSize = int
    Offset = int
    ClientId = str
    CallNote = str
else:
    Token = constr(strict=True, min_length=1, max_length=4096)
    Text = constr(strict=True, max_length=4000)
    Line = constr(strict=True, max_length=200)
    Name = constr(strict=True, min_length=1, max_length=80)
    CustomerId = constr(strict=True, regex=CUSTOMER_ID)
    IsoDate = constr(strict=True, regex=ISO_DATE)
    IsoDateTime = constr(strict=True, min_length=10, max_length=40)
    Email = constr(strict=True, max_length=254, regex=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    Phone = constr(strict=True, max_length=32, regex=r"^\+?[0-9 .()-]{6,32}$")
    Perimeter = constr(strict=True, min_length=1, max_length=40)
    Score5 = conint(strict=True, ge=1, le=5)
    Score10 = conint(strict=True, ge=0, le=10)
    ScenarioId = constr(strict=True, min_length=1, max_length=60)
    Ref = constr(strict=True, max_length=128)
    TicketId = constr(strict=True, regex=TICKET_ID)
    Message = constr(strict=True, min_length=1, max_length=4000)
    ShortId = constr(strict=True, max_length=16)
    Index = conint(strict=True, ge=0, le=1000)
    Answer = constr(strict=True, max_length=10)
    AnswerKey = constr(max_length=6)
    SenderId = constr(strict=True, min_length=1, max_length=128)
    ActionName = constr(strict=True, max_length=100)
    RequiredActionName = constr(strict=True, min_length=1, max_length=100)
    Version = constr(strict=True, max_length=40)
    SearchText = constr(strict=True, max_length=200)
    Days = conint(ge=0, le=3650)  # a query string's digits: not strict
    PageSize = conint(ge=1, le=500)
    Offset = conint(ge=0, le=1_000_000)
    ClientId = constr(strict=True, regex=r"^[A-Za-z0-9_-]{1,64}$")
    CallNote = constr(strict=True, max_length=2000)
Priority = Literal[PRIORITIES]  # type: ignore[valid-type]
Queue = Literal[QUEUES]  # type: ignore[valid-type]
Status = Literal[STATUSES]  # type: ignore[valid-type]
WaitingReason = Literal[WAITING_REASONS]  # type: ignore[valid-type]
CloseReason = Literal[CLOSE_REASONS]  # type: ignore[valid-type]
CallOutcome = Literal[CALL_OUTCOMES]  # type: ignore[valid-type]


class Body(BaseModel):
    class Config:
        extra = "forbid"
        anystr_strip_whitespace = True


def _datetime(value: Optional[str]) -> Optional[str]:
    if value is not None:
        datetime.fromisoformat(value.replace("Z", "+00:00"))  # ValueError → 422
    return value


def _date(value: Optional[str]) -> Optional[str]:
    if value is not None:
        date.fromisoformat(value)
    return value


# --- public -----------------------------------------------------------------
class NewConversation(Body):
    customer_token: Optional[Token] = None
    channel: Literal["rest", "socketio"] = "rest"


# --- customers (admin, website) ---------------------------------------------
class CustomerTokenRequest(Body):
    customer_id: CustomerId


class CustomerUpsert(Body):
    first_name: Name
    last_name: Name
    email: Optional[Email] = None
    phone: Optional[Phone] = None
    segment: Optional[Literal["vip", "standard", "starter"]] = None
    perimeter: Optional[Perimeter] = None
    satisfaction: Optional[Score5] = None
    recommendation: Optional[Score10] = None


# --- tickets ----------------------------------------------------------------
class TicketCreate(Body):
    scenario: ScenarioId
    customer_id: Optional[CustomerId] = None
    conversation_id: Optional[Ref] = None
    priority: Optional[Priority] = None
    subject: Optional[Line] = None
    queue: Optional[Queue] = None
    # an admin importing from another helpdesk
    id: Optional[TicketId] = None
    status: Optional[Status] = None
    waiting_reason: Optional[WaitingReason] = None
    waiting_since: Optional[IsoDateTime] = None
    created_at: Optional[IsoDateTime] = None

    _dates = validator("waiting_since", "created_at", allow_reuse=True)(_datetime)


class TicketPatch(Body):
    status: Optional[Status] = None
    assignee: Optional[Name] = None
    queue: Optional[Queue] = None
    priority: Optional[Priority] = None
    reason: Optional[Text] = None
    waiting_reason: Optional[WaitingReason] = None
    waiting_for: Optional[Line] = None
    close_reason: Optional[CloseReason] = None
    note: Optional[Text] = None


class TicketQuery(Body):
    """The new filters of `GET /api/tickets` (query string; the contract's four are read as they were)."""
    queue: Optional[Union[Queue, Literal["none"]]] = None
    priority: Optional[Union[Priority, Literal["none"]]] = None
    q: Optional[SearchText] = None
    waiting_days_min: Optional[Days] = None
    sort: Literal["recent", "waiting", "priority", "updated"] = "recent"
    limit: PageSize = 500
    offset: Offset = 0


class TicketNote(Body):
    text: Message
    client_id: Optional[ClientId] = None


class TicketReply(Body):
    channel: Literal["email", "chat"]
    text: Message
    client_id: Optional[ClientId] = None


# --- reminders, renewals ------------------------------------------------------
class DayRun(Body):
    today: Optional[IsoDate] = None
    dry_run: StrictBool = False

    _today = validator("today", allow_reuse=True)(_date)


# --- handoffs ---------------------------------------------------------------
class AgentMessage(Body):
    text: Message


class HandoffEnd(Body):
    close_reason: Optional[CloseReason] = None
    note: Optional[Text] = None


# --- the call list ------------------------------------------------------------
class CallOutcomeBody(Body):
    """`POST /api/calls/<id>/outcome`: how the call went (who made it is the token's staff member)."""
    outcome: CallOutcome
    note: Optional[CallNote] = None


# --- prompter ---------------------------------------------------------------
class StartCall(Body):
    customer_id: Optional[ShortId] = None


class OnCall(Body):
    call_token: Token


class CallerSays(OnCall):
    text: Message


class CallTicket(OnCall):
    scenario: ScenarioId
    priority: Optional[Priority] = None
    subject: Optional[Line] = None


class CallEscalation(OnCall):
    scenario: ScenarioId
    queue: Queue
    reason: Optional[Text] = None


class CallSummary(OnCall):
    scenario: ScenarioId
    situation: Text = ""
    actions: Text = ""
    resolution: Text = ""


# --- trainer ----------------------------------------------------------------
class QuizAnswer(Body):
    index: Index
    given: Optional[Answer] = None


class QuizAnswers(Body):
    answers: Union[List[Optional[Answer]],
                   Dict[AnswerKey, Optional[Answer]]]


# --- the rasa-sdk action protocol (Rasa → numi's private action listener) ------
class ActionTracker(BaseModel):
    sender_id: SenderId
    slots: Dict[str, Any] = {}
    latest_message: Dict[str, Any] = {}
    events: List[Dict[str, Any]]
    paused: StrictBool = False
    followup_action: Optional[ActionName] = None
    active_loop: Optional[Dict[str, Any]] = None
    latest_action_name: Optional[ActionName] = None

    class Config:
        extra = "allow"


class ActionCall(BaseModel):
    next_action: RequiredActionName
    sender_id: SenderId
    tracker: ActionTracker
    domain: Dict[str, Any]
    version: Optional[Version] = None

    class Config:
        extra = "allow"
