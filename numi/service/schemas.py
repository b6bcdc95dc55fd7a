"""The declared shape of every request body the numi service accepts (pydantic).

Strict types: a list or an object where a string belongs is refused (422, naming the
field), never coerced or half-saved. Unknown fields are refused too, so that a typo in
a field name is not silently ignored.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Dict, List, Literal, Optional, Union

from pydantic import BaseModel, StrictBool, conint, constr, validator

from numi.tickets.lifecycle import CLOSE_REASONS, PRIORITIES, QUEUES, STATUSES, WAITING_REASONS

CUSTOMER_ID = r"^[A-Z0-9-]{1,16}$"
TICKET_ID = r"^TK-\d{1,9}$"
ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"

Token = constr(strict=True, min_length=1, max_length=4096)
Text = constr(strict=True, max_length=4000)
Line = constr(strict=True, max_length=200)
Name = constr(strict=True, min_length=1, max_length=80)
CustomerId = constr(strict=True, regex=CUSTOMER_ID)
IsoDate = constr(strict=True, regex=ISO_DATE)
IsoDateTime = constr(strict=True, min_length=10, max_length=40)
Priority = Literal[PRIORITIES]  # type: ignore[valid-type]
Queue = Literal[QUEUES]  # type: ignore[valid-type]
Status = Literal[STATUSES]  # type: ignore[valid-type]
WaitingReason = Literal[WAITING_REASONS]  # type: ignore[valid-type]
CloseReason = Literal[CLOSE_REASONS]  # type: ignore[valid-type]


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
    email: Optional[constr(strict=True, max_length=254, regex=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] = None
    phone: Optional[constr(strict=True, max_length=32, regex=r"^\+?[0-9 .()-]{6,32}$")] = None
    segment: Optional[Literal["vip", "standard", "starter"]] = None
    perimeter: Optional[constr(strict=True, min_length=1, max_length=40)] = None
    satisfaction: Optional[conint(strict=True, ge=1, le=5)] = None
    recommendation: Optional[conint(strict=True, ge=0, le=10)] = None


# --- tickets ----------------------------------------------------------------
class TicketCreate(Body):
    scenario: constr(strict=True, min_length=1, max_length=60)
    customer_id: Optional[CustomerId] = None
    conversation_id: Optional[constr(strict=True, max_length=128)] = None
    priority: Optional[Priority] = None
    subject: Optional[Line] = None
    queue: Optional[Queue] = None
    # an admin importing from another helpdesk
    id: Optional[constr(strict=True, regex=TICKET_ID)] = None
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


# --- reminders, renewals ------------------------------------------------------
class DayRun(Body):
    today: Optional[IsoDate] = None
    dry_run: StrictBool = False

    _today = validator("today", allow_reuse=True)(_date)


# --- handoffs ---------------------------------------------------------------
class AgentMessage(Body):
    text: constr(strict=True, min_length=1, max_length=4000)


class HandoffEnd(Body):
    close_reason: Optional[CloseReason] = None
    note: Optional[Text] = None


# --- prompter ---------------------------------------------------------------
class StartCall(Body):
    customer_id: Optional[constr(strict=True, max_length=16)] = None


class OnCall(Body):
    call_token: Token


class CallerSays(OnCall):
    text: constr(strict=True, min_length=1, max_length=4000)


class CallTicket(OnCall):
    scenario: constr(strict=True, min_length=1, max_length=60)
    priority: Optional[Priority] = None
    subject: Optional[Line] = None


class CallEscalation(OnCall):
    scenario: constr(strict=True, min_length=1, max_length=60)
    queue: Queue
    reason: Optional[Text] = None


class CallSummary(OnCall):
    scenario: constr(strict=True, min_length=1, max_length=60)
    situation: Text = ""
    actions: Text = ""
    resolution: Text = ""


# --- trainer ----------------------------------------------------------------
class QuizAnswer(Body):
    index: conint(strict=True, ge=0, le=1000)
    given: Optional[constr(strict=True, max_length=10)] = None


class QuizAnswers(Body):
    answers: Union[List[Optional[constr(strict=True, max_length=10)]],
                   Dict[constr(max_length=6), Optional[constr(strict=True, max_length=10)]]]


# --- the rasa-sdk action protocol (Rasa → numi's private action listener) ------
class ActionTracker(BaseModel):
    sender_id: constr(strict=True, min_length=1, max_length=128)
    slots: Dict[str, Any] = {}
    latest_message: Dict[str, Any] = {}
    events: List[Dict[str, Any]]
    paused: StrictBool = False
    followup_action: Optional[constr(strict=True, max_length=100)] = None
    active_loop: Optional[Dict[str, Any]] = None
    latest_action_name: Optional[constr(strict=True, max_length=100)] = None

    class Config:
        extra = "allow"


class ActionCall(BaseModel):
    next_action: constr(strict=True, min_length=1, max_length=100)
    sender_id: constr(strict=True, min_length=1, max_length=128)
    tracker: ActionTracker
    domain: Dict[str, Any]
    version: Optional[constr(strict=True, max_length=40)] = None

    class Config:
        extra = "allow"
