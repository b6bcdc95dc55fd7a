"""The staff desk's ticket endpoints, attacked and used, on the in-process service (no Rasa):
`GET /api/tickets` with the desk's filters and counts, `GET /api/tickets/<ref>/desk`,
`GET /api/tickets/<ref>/conversation`, `POST /api/tickets/<ref>/notes` and
`POST /api/tickets/<ref>/replies` (e-mail through the outbox, chat through Rasa's HTTP API: a
stand-in answers here as Rasa does)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Dict, Iterator, List, Optional

import pytest
import sqlalchemy as sa
from sqlalchemy import event, select

from numi.clock import utcnow
from numi.db import models as m
from numi.devstack import signed_conversation
from numi.reminders import outbox
from tests.helpers import rasa_stand_in
from tests.service_client import SECRET, Service

HOSTILE = "<script>alert('numi')</script> {{7*7}} {% raw %} <img src=x onerror=alert(1)> ' OR 1=1 --"
DESK_ROLES = ("hotliner", "level2", "cs", "supervisor", "admin")
ENDPOINTS = [("GET", "/api/tickets", None), ("GET", "/api/tickets/TK-00456/desk", None),
             ("GET", "/api/tickets/TK-00456/conversation", None),
             ("POST", "/api/tickets/TK-00456/notes", {"text": "note"}),
             ("POST", "/api/tickets/TK-00456/replies", {"channel": "email", "text": "Bonjour"})]


# --- the data ------------------------------------------------------------------------------
def add_ticket(service: Service, customer_id: Optional[str], subject: str, *, status: str = "in_progress",
               queue: Optional[str] = None, priority: Optional[str] = "normal", conversation_id: Optional[str] = None,
               scenario: str = "tech_support", waiting_days: Optional[int] = None) -> str:
    now = utcnow()
    with service.services.sessions() as s, s.begin():
        t = m.Ticket(customer_id=customer_id, scenario=scenario, subject=subject, status=status, queue=queue,
                     priority=priority, conversation_id=conversation_id, created_at=now - timedelta(days=20),
                     updated_at=now, data={},
                     waiting_since=now - timedelta(days=waiting_days) if waiting_days is not None else None,
                     waiting_reason="feedback" if waiting_days is not None else None)
        s.add(t)
        s.flush()
        s.add(m.TicketEvent(ticket_number=t.number, at=now - timedelta(days=20), actor="hotliner:Camille",
                            event="created", to_status="new"))
        return t.ref


def tracker_events(service: Service, conversation: str, lines: List[tuple], mode: str = "customer") -> None:
    """User and bot events in a tracker store of Rasa's shape (the `events` table)."""
    engine = sa.create_engine(service.settings.tracker_url)
    start = (utcnow() - timedelta(hours=1) - datetime(1970, 1, 1)).total_seconds()
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                             "sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL, timestamp FLOAT, "
                             "intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"))
        for k, (kind, text) in enumerate(lines):
            e: Dict[str, Any] = {"event": "user" if kind == "user" else "bot", "timestamp": start + 10 * k,
                                 "text": text}
            e["metadata"] = ({"numi": {"mode": mode}} if kind == "user" else
                             {"numi": {"from": "agent", "author": "Karim"}} if kind == "agent" else {})
            conn.execute(sa.text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, :t, :ts, :d)"),
                         {"s": conversation, "t": e["event"], "ts": e["timestamp"], "d": json.dumps(e)})
    engine.dispose()


def history(service: Service, ref: str) -> List[m.TicketEvent]:
    with service.services.sessions() as s:
        return list(s.scalars(select(m.TicketEvent).where(m.TicketEvent.ticket_number == m.parse_ticket_ref(ref))
                              .order_by(m.TicketEvent.id)))


def outbox_rows(service: Service, ref: str) -> List[m.OutboxMessage]:
    with service.services.sessions() as s:
        return list(s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.ticket_number == m.parse_ticket_ref(ref))
                              .order_by(m.OutboxMessage.id)))


@pytest.fixture
def rasa() -> Iterator[type]:
    with rasa_stand_in.serving() as handler:
        yield handler


# --- who may call them ---------------------------------------------------------------------
@pytest.mark.parametrize("method,path,body", ENDPOINTS)
async def test_no_token_is_401_and_a_wrong_role_403(service: Service, method, path, body):
    status, answer = await service.call(method, path, body)
    assert status == 401 and answer["code"] == "unauthenticated"
    status, answer = await service.call(method, path, body, token="not-a-token")
    assert status == 401
    for role in ("trainer", "website"):
        status, answer = await service.call(method, path, body, role=role)
        assert status == 403 and answer["code"] == "forbidden", (role, answer)
    assert len(history(service, "TK-00456")) == 2 and outbox_rows(service, "TK-00456") == []


@pytest.mark.parametrize("method,path,body", ENDPOINTS[1:])
async def test_a_ticket_out_of_scope_is_refused_and_leaks_nothing(service: Service, method, path, body):
    status, answer = await service.call(method, path, body, role="level2")  # TK-00456 is level 1's
    assert status == 403 and set(answer) == {"error", "code"} and answer["code"] == "out_of_scope"
    assert "Synchronisation" not in json.dumps(answer) and "CLT-00321" not in json.dumps(answer)
    status, answer = await service.call(method, path.replace("TK-00456", "TK-99999"), body, role="supervisor")
    assert status == 404 and set(answer) == {"error"}
    assert len(history(service, "TK-00456")) == 2 and outbox_rows(service, "TK-00456") == []
    with service.services.sessions() as s:
        denied = s.scalars(select(m.AuditEvent).where(m.AuditEvent.outcome == "denied")).all()
    assert any(a.target == "TK-00456" for a in denied)


@pytest.mark.parametrize("ref", ["TK-²", "TK-" + "9" * 40, "TK-4%2556", "%3Cscript%3E", "TK--1"])
async def test_odd_ticket_numbers_are_404_never_500(service: Service, ref):
    for method, path, body in ENDPOINTS[1:]:
        status, _ = await service.call(method, path.replace("TK-00456", ref), body, role="supervisor")
        assert status == 404, (path, ref, status)


# --- the list ------------------------------------------------------------------------------
async def test_the_list_keeps_the_contract_and_adds_counts_and_customer_names(service: Service):
    status, body = await service.call("GET", "/api/tickets", role="supervisor")
    assert status == 200 and set(body) == {"tickets", "counts"}
    by_id = {t["id"]: t for t in body["tickets"]}
    assert {"TK-00456", "TK-00891", "TK-00712"} <= set(by_id)
    t = by_id["TK-00456"]
    for key in ("id", "customer_id", "conversation_id", "scenario", "subject", "priority", "status", "queue",
                "assignee", "waiting_reason", "waiting_since", "close_reason", "created_at", "updated_at", "reminders"):
        assert key in t
    assert "history" not in t and t["customer_name"] == "Paul Martin"
    counts = body["counts"]
    assert counts["total"] == len(body["tickets"]) == 3
    assert counts["status"]["waiting_customer"] == 3 and counts["status"]["closed"] == 0
    assert counts["queue"]["none"] == 3 and counts["queue"]["level2"] == 0
    # the contract's filters still work as they did
    status, body = await service.call("GET", "/api/tickets?customer_id=CLT-00322&status=waiting_customer",
                                      role="supervisor")
    assert [t["id"] for t in body["tickets"]] == ["TK-00891"]
    status, body = await service.call("GET", "/api/tickets?scenario=%3Cscript%3E&subject=ignored", role="hotliner")
    assert status == 200 and body["tickets"] == [] and body["counts"]["total"] == 0


async def test_the_desk_filters_and_their_counts(service: Service):
    add_ticket(service, "CLT-00324", "Imprimante réseau", queue="level2", priority="high")
    add_ticket(service, "CLT-00324", "Sauvegarde cloud", queue="level2", status="closed", priority=None)
    add_ticket(service, None, "Sans client", queue="cs", status="escalated", priority="urgent")

    async def ids(query: str, role: str = "supervisor") -> List[str]:
        status, body = await service.call("GET", "/api/tickets?" + query, role=role)
        assert status == 200, body
        return sorted(t["id"] for t in body["tickets"])

    assert len(await ids("queue=level2")) == 2
    assert len(await ids("queue=none")) == 3
    assert await ids("priority=urgent") == sorted(["TK-00712", (await ids("queue=cs"))[0]])
    assert len(await ids("priority=none")) == 1
    assert len(await ids("status=open")) == 5  # every status but closed
    assert await ids("waiting_days_min=8") == ["TK-00891"]  # waiting for 10 days; TK-00456 for 7
    assert await ids("waiting_days_min=5") == ["TK-00456", "TK-00891"]
    # the search: subject (any case), ticket number, customer name and e-mail
    assert await ids("q=imprimante") == await ids("q=R%C3%A9SEAU")
    assert await ids("q=TK-00456") == await ids("q=456") == ["TK-00456"]
    assert await ids("q=sophie") == await ids("q=sophie.blanc%40example") == ["TK-00891"]
    assert await ids("q=Lef%C3%A8vre") == sorted(await ids("customer_id=CLT-00324"))
    assert await ids("q=%25") == [] and await ids("q=_") == [] and await ids("q=!") == []  # LIKE's characters are text
    # counts: per status without the status filter, per queue without the queue filter
    status, body = await service.call("GET", "/api/tickets?queue=level2&status=closed", role="supervisor")
    counts = body["counts"]
    assert counts["total"] == 1
    assert counts["status"]["closed"] == 1 and counts["status"]["in_progress"] == 1  # level 2's, any status
    assert counts["queue"]["level2"] == 1 and counts["queue"]["none"] == 0 and counts["queue"]["cs"] == 0
    # pages
    status, first = await service.call("GET", "/api/tickets?limit=2&sort=waiting", role="supervisor")
    status, second = await service.call("GET", "/api/tickets?limit=2&offset=2&sort=waiting", role="supervisor")
    assert [t["id"] for t in first["tickets"]] == ["TK-00891", "TK-00456"]  # the longest waiting first
    assert len(second["tickets"]) == 2 and first["counts"]["total"] == second["counts"]["total"] == 6
    assert not {t["id"] for t in first["tickets"]} & {t["id"] for t in second["tickets"]}


async def test_the_list_stays_within_the_callers_scope(service: Service):
    level2 = add_ticket(service, "CLT-00324", "Niveau 2", queue="level2")
    add_ticket(service, "CLT-00325", "CS", queue="cs")
    status, body = await service.call("GET", "/api/tickets", role="level2")
    assert [t["id"] for t in body["tickets"]] == [level2]
    assert body["counts"]["total"] == 1 and sum(body["counts"]["queue"].values()) == 1
    assert body["counts"]["queue"]["cs"] == 0 and body["counts"]["status"]["waiting_customer"] == 0
    status, body = await service.call("GET", "/api/tickets?q=Paul&queue=none", role="level2")
    assert body["tickets"] == [] and body["counts"]["total"] == 0  # TK-00456 exists, but not for level 2
    status, body = await service.call("GET", "/api/tickets", role="hotliner")
    assert sorted(t["id"] for t in body["tickets"]) == ["TK-00456", "TK-00712", "TK-00891"]


@pytest.mark.parametrize("query,field", [
    ("queue=level9", "queue"), ("queue=%3Cscript%3E", "queue"), ("priority=extreme", "priority"),
    ("waiting_days_min=-1", "waiting_days_min"), ("waiting_days_min=abc", "waiting_days_min"),
    ("waiting_days_min=99999999999999999999999", "waiting_days_min"), ("waiting_days_min=1.5", "waiting_days_min"),
    ("limit=0", "limit"), ("limit=100000", "limit"), ("offset=-3", "offset"), ("sort=random()", "sort"),
    ("q=" + "x" * 201, "q")])
async def test_bad_filters_are_422_in_french_never_500(service: Service, query, field):
    status, body = await service.call("GET", "/api/tickets?" + query, role="supervisor")
    assert status == 422, body
    assert body["code"] == "invalid_parameter" and body["field"] == field
    assert body["error"].startswith("Paramètre invalide : « " + field + " » doit être ")
    assert "value is not" not in body["error"] and "ensure" not in body["error"]  # pydantic's English is not shown


async def test_the_list_is_one_query_whatever_the_number_of_tickets(service: Service):
    for k in range(40):
        add_ticket(service, ("CLT-00321", "CLT-00322", "CLT-00324")[k % 3], f"Ticket {k}", queue="level2")
    statements: List[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = service.services.engine
    await service.call("GET", "/api/me", role="supervisor")  # the token made and the app started before counting
    event.listen(engine, "before_cursor_execute", count)
    try:
        status, body = await service.call("GET", "/api/tickets", role="supervisor")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert status == 200 and len(body["tickets"]) == 43
    assert all(t["customer_name"] for t in body["tickets"])
    customers = [s for s in statements if "FROM customers" in s and "FROM tickets" not in s]
    assert customers == []  # the customer's name comes with the tickets, not one query each
    assert len(statements) <= 10, statements  # token, page (+ its reminders), total, status and queue counts


# --- the ticket page -----------------------------------------------------------------------
async def test_the_desk_view_gives_the_customer_the_allowed_statuses_and_the_channels(service: Service):
    status, body = await service.call("GET", "/api/tickets/TK-00456/desk", role="hotliner")
    assert status == 200
    assert body["ticket"]["id"] == "TK-00456" and len(body["ticket"]["history"]) == 2
    assert body["customer"] == {"id": "CLT-00321", "name": "Paul Martin", "email": "paul.martin@example.fr",
                                "phone": "06 12 34 56 78", "segment": "standard", "email_failing": False}
    assert body["allowed_statuses"] == ["in_progress", "escalated", "closed"]  # from waiting_customer
    assert body["channels"] == {"email": True, "chat": False}
    assert body["waiting_for"].startswith("Vous alliez tester")
    with service.services.sessions() as s:
        read = s.scalars(select(m.AuditEvent).where(m.AuditEvent.action == "read_ticket_desk")).all()
    assert [a.target for a in read] == ["CLT-00321"]
    chat = signed_conversation(SECRET, owner="CLT-00321")
    ref = add_ticket(service, "CLT-00329", "Chat", conversation_id=chat, status="closed")
    status, body = await service.call("GET", f"/api/tickets/{ref}/desk", role="supervisor")
    assert body["allowed_statuses"] == ["in_progress"] and body["channels"] == {"email": False, "chat": True}


async def test_the_conversation_transcript_is_read_from_the_tracker_store_as_text(service: Service):
    chat = signed_conversation(SECRET, owner="CLT-00324")
    ref = add_ticket(service, "CLT-00324", "Doublons", queue="level2", conversation_id=chat)
    tracker_events(service, chat, [("user", "Bonjour " + HOSTILE), ("bot", "Avez-vous vérifié IMAP ?"),
                                   ("user", "/affirm"), ("agent", "Karim : je regarde")])
    tracker_events(service, signed_conversation(SECRET), [("user", "une autre conversation")])
    status, body = await service.call("GET", f"/api/tickets/{ref}/conversation", role="level2")
    assert status == 200 and body["source"] == "tracker" and body["kind"] == "chat"
    assert [(x["from"], x["text"]) for x in body["messages"]] == [
        ("customer", "Bonjour " + HOSTILE), ("bot", "Avez-vous vérifié IMAP ?"), ("agent", "Karim : je regarde")]
    assert body["messages"][2]["author"] == "Karim"
    status, body = await service.call("GET", "/api/tickets/TK-00456/conversation", role="hotliner")
    assert status == 200 and body["messages"] == [] and body["conversation_id"] is None


# --- internal notes ------------------------------------------------------------------------
@pytest.mark.parametrize("role", DESK_ROLES[:1] + DESK_ROLES[3:])
async def test_a_note_is_recorded_verbatim_as_an_internal_note(service: Service, role):
    status, entry = await service.call("POST", "/api/tickets/TK-00456/notes", {"text": HOSTILE}, role=role)
    assert status == 201, entry
    assert entry["event"] == "internal_note" and entry["details"] == {"text": HOSTILE.strip()}
    assert entry["actor"] == (f"{role}:{role}-1" if role != "admin" else "admin:admin")
    status, ticket = await service.call("GET", "/api/tickets/TK-00456", role=role)
    assert ticket["history"][-1]["details"]["text"] == HOSTILE.strip()  # stored as written, never rendered
    assert outbox_rows(service, "TK-00456") == []  # a note is never sent to the customer


async def test_a_retried_note_is_recorded_once(service: Service):
    body = {"text": "Rappeler avant vendredi", "client_id": "note-1"}
    first = await service.call("POST", "/api/tickets/TK-00456/notes", body, role="hotliner")
    again = await service.call("POST", "/api/tickets/TK-00456/notes", body, role="hotliner")
    assert first[0] == 201 and again[0] == 200 and first[1] == again[1]
    assert [e.event for e in history(service, "TK-00456")].count("internal_note") == 1


@pytest.mark.parametrize("body,field", [
    ({"text": "x" * 100_000}, "text"), ({"text": ""}, "text"), ({"text": "   "}, "text"), ({"text": ["a"]}, "text"),
    ({"text": 42}, "text"), ({}, "text"), ({"text": "ok", "visible_to_customer": True}, "visible_to_customer"),
    ({"text": "ok", "client_id": "../../etc"}, "client_id"), ({"text": "ok", "client_id": "x" * 65}, "client_id")])
async def test_bad_note_bodies_are_422_and_change_nothing(service: Service, body, field):
    status, answer = await service.call("POST", "/api/tickets/TK-00456/notes", body, role="hotliner")
    assert status == 422 and answer["code"] == "invalid_field" and answer["field"] == field
    assert len(history(service, "TK-00456")) == 2


@pytest.mark.parametrize("raw", [b"{", b"null", b"[]", b'"text"', b"\xff"])
async def test_note_bodies_that_are_not_a_json_object_are_400(service: Service, raw):
    for path in ("/api/tickets/TK-00456/notes", "/api/tickets/TK-00456/replies"):
        status, answer = await service.call("POST", path, raw=raw, role="hotliner")
        assert status == 400 and answer["code"] == "invalid_json"


# --- replies by e-mail ---------------------------------------------------------------------
async def test_an_email_reply_lands_in_the_outbox_in_the_tickets_thread(service: Service):
    with service.services.sessions() as s, s.begin():
        s.add(m.InboundMail(digest="d" * 64, message_id="<abc@example.fr>", source="smtp",
                            sender="paul.martin@example.fr", subject="Re: Re: doublons", kind="reply",
                            ticket_number=456, received_at=utcnow()))
        s.add(m.TicketEvent(ticket_number=456, at=utcnow(), actor="client", event="email_in", details={
            "channel": "email", "direction": "in", "kind": "reply", "from": "paul.martin@example.fr",
            "subject": "Re: Re: doublons", "text": "Toujours des doublons", "threaded_by": "headers"}))
    text = "Bonjour Paul, pouvez-vous essayer ceci : " + HOSTILE
    status, sent = await service.call("POST", "/api/tickets/TK-00456/replies", {"channel": "email", "text": text},
                                      token=service.token("level2", "Karim Benali"))
    assert status == 403 and outbox_rows(service, "TK-00456") == []  # level 2 does not see a level-1 ticket
    status, sent = await service.call("POST", "/api/tickets/TK-00456/replies", {"channel": "email", "text": text},
                                      token=service.token("hotliner", "Camille Roux"))
    assert status == 201, sent
    assert sent["new"] is True and sent["message_id"].startswith("<tk-00456.")
    assert "[TK-00456]" in sent["subject"] and sent["subject"].startswith("Re: doublons")
    rows = outbox_rows(service, "TK-00456")
    assert len(rows) == 1
    row = rows[0]
    assert row.kind == "agent_reply" and row.channel == "email" and row.recipient == "paul.martin@example.fr"
    assert "[TK-00456]" in row.subject and row.message_id.startswith("<tk-00456.")
    assert row.headers["In-Reply-To"] == "<abc@example.fr>" and "+tk-00456." in row.headers["Reply-To"]
    assert "Bonjour Paul," in row.body and HOSTILE.strip() in row.body
    assert "49" not in row.body  # the agent's text is a value, never a template
    assert "\nCamille\n" in row.body and "Roux" not in row.body  # signed with the first name
    assert "TK-00456" in row.body
    entry = history(service, "TK-00456")[-1]
    assert entry.event == "email_out" and entry.actor == "hotliner:Camille Roux"
    assert entry.details["direction"] == "out" and entry.details["kind"] == "agent_reply"
    assert entry.details["message_id"] == row.message_id and sent["entry"]["event"] == "email_out"
    # what the request's delivery (after the commit) and the scheduler's tick run: the outbox's flush
    # (the request's own delivery is checked on the real server: tests/browser/test_ticket_pages.py)
    outbox.flush(service.services.sessions, service.services.mailer)
    assert outbox_rows(service, "TK-00456")[0].status == "sent"
    mailbox = [p for p in service.settings.mailbox_dir.rglob("*") if p.is_file()]
    assert any("[TK-00456]" in p.read_text(errors="replace") for p in mailbox)


async def test_a_retried_email_reply_is_sent_once(service: Service):
    body = {"channel": "email", "text": "Voici la marche à suivre.", "client_id": "reply-7"}
    first = await service.call("POST", "/api/tickets/TK-00456/replies", body, role="hotliner")
    again = await service.call("POST", "/api/tickets/TK-00456/replies", body, role="hotliner")
    assert first[0] == 201 and again[0] == 200 and again[1]["new"] is False
    assert again[1]["message_id"] == first[1]["message_id"]
    assert len(outbox_rows(service, "TK-00456")) == 1
    assert [e.event for e in history(service, "TK-00456")].count("email_out") == 1
    other = await service.call("POST", "/api/tickets/TK-00456/replies", {**body, "client_id": "reply-8"},
                               role="hotliner")
    assert other[0] == 201 and len(outbox_rows(service, "TK-00456")) == 2


async def test_an_email_reply_to_a_customer_without_an_address_is_409(service: Service):
    ref = add_ticket(service, "CLT-00329", "Odette n'a pas d'e-mail")
    status, answer = await service.call("POST", f"/api/tickets/{ref}/replies", {"channel": "email", "text": "Bonjour"},
                                        role="hotliner")
    assert status == 409 and answer["code"] == "no_customer_address" and "adresse e-mail" in answer["error"]
    ref = add_ticket(service, None, "Sans client")
    status, answer = await service.call("POST", f"/api/tickets/{ref}/replies", {"channel": "email", "text": "Bonjour"},
                                        role="hotliner")
    assert status == 409 and outbox_rows(service, ref) == []


@pytest.mark.parametrize("body,field", [
    ({"channel": "sms", "text": "x"}, "channel"), ({"channel": "email", "text": "x" * 100_000}, "text"),
    ({"channel": "email", "text": ""}, "text"), ({"channel": "email"}, "text"), ({"text": "x"}, "channel"),
    ({"channel": "email", "text": "x", "to": "attacker@example.com"}, "to"),
    ({"channel": "email", "text": "x", "subject": "Injected\r\nBcc: a@b.c"}, "subject")])
async def test_bad_reply_bodies_are_422_and_send_nothing(service: Service, body, field):
    status, answer = await service.call("POST", "/api/tickets/TK-00456/replies", body, role="hotliner")
    assert status == 422 and answer["field"] == field
    assert outbox_rows(service, "TK-00456") == [] and len(history(service, "TK-00456")) == 2


# --- replies in the chat -------------------------------------------------------------------
async def test_a_chat_reply_needs_a_chat_conversation(service: Service):
    status, answer = await service.call("POST", "/api/tickets/TK-00456/replies", {"channel": "chat", "text": "Bonjour"},
                                        role="hotliner")
    assert status == 409 and answer["code"] == "no_chat"
    forged = add_ticket(service, "CLT-00321", "Forgé", conversation_id="c1.forged.zz.rest..AAAA")
    mail = add_ticket(service, "CLT-00321", "Par e-mail", conversation_id="email:TK-00456")
    call = signed_conversation(SECRET)
    tracker_events(service, call, [("user", "le client dit que son imprimante est en panne")], mode="agent")
    prompter = add_ticket(service, "CLT-00321", "Appel", conversation_id=call)
    for ref in (forged, mail, prompter):
        status, answer = await service.call("POST", f"/api/tickets/{ref}/replies", {"channel": "chat", "text": "x"},
                                            role="supervisor")
        assert status == 409 and answer["code"] == "no_chat", ref
        assert [e.event for e in history(service, ref)] == ["created"]


async def test_a_chat_reply_that_cannot_reach_rasa_is_502_and_records_nothing(service: Service):
    ref = add_ticket(service, "CLT-00321", "Chat", conversation_id=signed_conversation(SECRET, owner="CLT-00321"))
    status, answer = await service.call("POST", f"/api/tickets/{ref}/replies", {"channel": "chat", "text": "Bonjour"},
                                        role="hotliner")  # nothing listens on the configured Rasa port
    assert status == 502 and answer["code"] == "chat_unreachable"
    assert [e.event for e in history(service, ref)] == ["created"]


async def test_a_chat_reply_is_told_to_the_conversation_and_recorded_once(make_service, rasa):
    service = make_service(rasa_url=rasa.url)
    chat = signed_conversation(SECRET, owner="CLT-00321")
    ref = add_ticket(service, "CLT-00321", "Chat", conversation_id=chat)
    body = {"channel": "chat", "text": "Je regarde votre compte " + HOSTILE, "client_id": "chat-1"}
    status, sent = await service.call("POST", f"/api/tickets/{ref}/replies", body,
                                      token=service.token("hotliner", "Camille"))
    assert status == 201, sent
    assert sent["entry"]["event"] == "agent_message"
    assert sent["entry"]["details"] == {"channel": "chat", "direction": "out", "text": body["text"].strip(),
                                        "client_id": "chat-1"}
    events = [r for r in rasa.received if "/tracker/events" in r["path"]]
    assert len(events) == 1 and chat.split(".")[1] in events[0]["path"]
    told = events[0]["body"][0]["value"]
    assert told["type"] == "agent_message" and told["text"] == body["text"].strip() and told["author"] == "Camille"
    assert told["key"].startswith(f"agent_reply:{ref}:")  # a retry after a cut is said once (actions/session.py)
    assert any("/execute" in r["path"] for r in rasa.received)
    again = await service.call("POST", f"/api/tickets/{ref}/replies", body, token=service.token("hotliner", "Camille"))
    assert again[0] == 200 and again[1]["new"] is False
    assert len([r for r in rasa.received if "/tracker/events" in r["path"]]) == 1
    assert [e.event for e in history(service, ref)] == ["created", "agent_message"]
    assert outbox_rows(service, ref) == []


# --- the status, through the existing PATCH --------------------------------------------------
async def test_a_forbidden_transition_is_409_in_french_and_changes_nothing(service: Service):
    ref = add_ticket(service, "CLT-00321", "Clôturé", status="closed")
    before = len(history(service, ref))
    for body in ({"status": "escalated"}, {"status": "waiting_customer", "waiting_reason": "feedback"}):
        status, answer = await service.call("PATCH", f"/api/tickets/{ref}", body, role="hotliner")
        assert status == 409 and answer["error"].startswith("transition interdite")
    status, answer = await service.call("PATCH", "/api/tickets/TK-00456", {"status": "closed"}, role="hotliner")
    assert status == 409 and "motif" in answer["error"]
    status, answer = await service.call("PATCH", "/api/tickets/TK-00456",
                                        {"status": "closed", "close_reason": "resolution"}, role="hotliner")
    assert status == 409 and "note" in answer["error"]
    assert len(history(service, ref)) == before and len(history(service, "TK-00456")) == 2
    status, ticket = await service.call("GET", "/api/tickets/TK-00456", role="hotliner")
    assert ticket["status"] == "waiting_customer"
    status, ticket = await service.call("PATCH", "/api/tickets/TK-00456", {
        "status": "closed", "close_reason": "resolution", "note": HOSTILE}, role="hotliner")
    assert status == 200 and ticket["status"] == "closed"
    assert ticket["history"][-1]["details"]["internal_note"] == HOSTILE.strip()
