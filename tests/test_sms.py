"""SMS out, for real: a local HTTP gateway on 127.0.0.1 that fails, then recovers; the outbox
retries with backoff and the SMS reaches the gateway once (numi/sms.py, numi/mail.py)."""
from __future__ import annotations

import json
import logging
import socket
import threading
import time as clock
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Optional, Union

import pytest
from sqlalchemy import select

from numi.clock import to_utc_naive
from numi.db import models as m
from numi.mail import Mail, Mailer
from numi.reminders import engine, outbox
from numi.reminders.policy import Step, load_default
from numi.settings import Settings, SmsSettings
from numi.sms import HttpGatewaySender, PermanentDeliveryError, TransientDeliveryError, classify, to_e164
from numi.tickets import service
from numi.tickets.lifecycle import Transition

TOKEN = "sms-gateway-secret-7f3a9c"
T0 = datetime(2026, 12, 3, 9, 0)  # naive UTC, inside the send window
PAUL = "06 12 34 56 78"  # CLT-00321 of the demo data
PAUL_E164 = "+33612345678"


@dataclass
class Slow:
    """Accept the message at once (the gateway dedupes on receipt), answer after `seconds`."""
    seconds: float
    status: int = 200


@dataclass
class Gateway:
    """An SMS gateway: answers from `script` in turn (then 200), dedupes on Idempotency-Key."""
    script: List[Union[int, Slow]] = field(default_factory=list)
    requests: List[Dict[str, Any]] = field(default_factory=list)
    delivered: List[Dict[str, Any]] = field(default_factory=list)  # what reached the phones
    ids: Dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, headers: Dict[str, str], body: Dict[str, Any]) -> tuple:
        with self.lock:
            self.requests.append({"headers": headers, "body": body})
            action = self.script.pop(0) if self.script else 200
            status, delay = (action.status, action.seconds) if isinstance(action, Slow) else (action, 0.0)
            provider_id = ""
            if 200 <= status < 300:
                key = headers.get("idempotency-key", "")
                if key not in self.ids:
                    self.ids[key] = f"gw-{len(self.ids) + 1}"
                    self.delivered.append(body)
                provider_id = self.ids[key]
        return status, delay, provider_id


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    gw = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, delay, provider_id = gw.handle({k.lower(): v for k, v in self.headers.items()},
                                                   json.loads(raw.decode("utf-8")))
            clock.sleep(delay)
            answer = json.dumps({"id": provider_id} if provider_id else {"error": "nope"}).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:  # the client gave up (timeout)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    gw.url = f"http://127.0.0.1:{server.server_address[1]}/v1/sms"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield gw
    server.shutdown()
    server.server_close()


def sms_settings(settings: Settings, gw: Gateway, timeout: float = 0.5) -> Settings:
    return replace(settings, sms=SmsSettings(url=gw.url, token=TOKEN, timeout=timeout))


def a_ticket(services, customer: str = "CLT-00321") -> int:
    with services.sessions() as s, s.begin():
        return service.open_ticket(s, scenario="tech_support", actor="test", customer_id=customer,
                                   priority="high", subject="Doublons", now=T0 - timedelta(days=5)).number


def enqueue_sms(services, ticket: Optional[int], recipient: str, key: str = "reminder:test:sms") -> int:
    with services.sessions() as s, s.begin():
        row = outbox.enqueue(s, key=key, kind="call", channel="sms", recipient=recipient, subject="SMS",
                             body="numi.support : bonjour Paul, avez-vous pu avancer ?\n", ticket_number=ticket,
                             now=T0)
        assert row is not None
        s.flush()
        return row.id


def row_of(services, row_id: int) -> m.OutboxMessage:
    with services.sessions() as s:
        row = s.get(m.OutboxMessage, row_id)
        s.expunge(row)
        return row


def history(services, ticket: int) -> List[m.TicketEvent]:
    with services.sessions() as s:
        events = list(s.scalars(select(m.TicketEvent).where(m.TicketEvent.ticket_number == ticket)))
        for e in events:
            s.expunge(e)
        return events


# --- the outbox through the gateway ---------------------------------------------------------------
def test_a_failing_gateway_is_retried_with_backoff_and_the_sms_arrives_once(services, gateway, caplog):
    caplog.set_level(logging.DEBUG)
    gateway.script = [503, Slow(seconds=1.5)]  # unavailable, then too slow for the 0.5 s timeout
    mailer = Mailer(sms_settings(services.settings, gateway))
    ticket = a_ticket(services)
    row_id = enqueue_sms(services, ticket, PAUL)

    assert outbox.flush(services.sessions, mailer, now=T0) == {"sent": 0, "failed": 1, "skipped": 0}
    row = row_of(services, row_id)
    assert (row.status, row.attempts, row.not_before) == ("pending", 1, T0 + timedelta(minutes=1))
    assert row.last_error == "TransientDeliveryError 503"

    outbox.flush(services.sessions, mailer, now=T0 + timedelta(seconds=30))  # backoff not over: nothing
    assert len(gateway.requests) == 1

    outbox.flush(services.sessions, mailer, now=T0 + timedelta(minutes=1))  # the timeout
    row = row_of(services, row_id)
    assert (row.status, row.attempts, row.not_before) == ("pending", 2, T0 + timedelta(minutes=3))

    assert outbox.flush(services.sessions, mailer, now=T0 + timedelta(minutes=3))["sent"] == 1
    assert row_of(services, row_id).status == "sent"
    assert outbox.flush(services.sessions, mailer, now=T0 + timedelta(hours=2)) == {"sent": 0, "failed": 0,
                                                                                     "skipped": 0}

    assert len(gateway.requests) == 3  # 503, timeout (accepted late by the gateway), 200
    key = row_of(services, row_id).key
    for request in gateway.requests:
        assert request["headers"]["authorization"] == f"Bearer {TOKEN}"
        assert request["headers"]["idempotency-key"] == key
        assert request["headers"]["content-type"] == "application/json"
        assert request["body"] == {"to": PAUL_E164, "text": "numi.support : bonjour Paul, avez-vous pu avancer ?",
                                   "sender": "numi"}
    assert gateway.delivered == [gateway.requests[0]["body"]]  # once at the phone
    assert not any(e.event == "delivery_failed" for e in history(services, ticket))
    assert "attempt 1 failed (TransientDeliveryError 503)" in caplog.text
    assert TOKEN not in caplog.text and PAUL_E164 not in caplog.text


def test_a_refusal_of_the_gateway_fails_the_row_and_shows_on_the_ticket(services, gateway, caplog):
    caplog.set_level(logging.DEBUG)
    gateway.script = [400]
    mailer = Mailer(sms_settings(services.settings, gateway))
    ticket = a_ticket(services)
    row_id = enqueue_sms(services, ticket, "+33 6 12 34 56 78")

    assert outbox.flush(services.sessions, mailer, now=T0)["failed"] == 1
    outbox.flush(services.sessions, mailer, now=T0 + timedelta(hours=2))  # never tried again
    row = row_of(services, row_id)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "PermanentDeliveryError 400")
    assert len(gateway.requests) == 1 and gateway.requests[0]["body"]["to"] == PAUL_E164
    failed = [e for e in history(services, ticket) if e.event == "delivery_failed"]
    assert len(failed) == 1
    assert failed[0].details == {"channel": "sms", "kind": "call", "error": "PermanentDeliveryError 400",
                                 "attempts": 1}
    assert TOKEN not in caplog.text and TOKEN not in json.dumps(failed[0].details)


@pytest.mark.parametrize("number", ["12", "06 12", "not a number", "+33 1"])
def test_an_invalid_number_fails_without_any_request(services, gateway, number):
    mailer = Mailer(sms_settings(services.settings, gateway))
    ticket = a_ticket(services)
    row_id = enqueue_sms(services, ticket, number)
    assert outbox.flush(services.sessions, mailer, now=T0)["failed"] == 1
    assert row_of(services, row_id).status == "failed"
    assert gateway.requests == []
    assert [e.event for e in history(services, ticket)].count("delivery_failed") == 1


def test_without_a_provider_sms_land_in_the_local_mailbox(services, gateway):
    assert services.settings.sms is None
    mailer = Mailer(services.settings)
    assert mailer.sms is None
    row_id = enqueue_sms(services, a_ticket(services), PAUL)
    assert outbox.flush(services.sessions, mailer, now=T0)["sent"] == 1
    files = list(services.settings.mailbox_dir.glob("*.json"))
    assert len(files) == 1
    saved = json.loads(files[0].read_text(encoding="utf-8"))
    assert saved["kind"] == "sms" and saved["to"] == PAUL and saved["message_id"] == row_of(services, row_id).message_id
    assert gateway.requests == []


def test_a_crash_between_the_gateways_answer_and_the_record_resends_with_the_same_key(settings, gateway):
    """on_commit comes right after the 2xx: a failure there sends again, and the gateway dedupes."""
    mailer = Mailer(sms_settings(settings, gateway))
    mail = Mail(to=PAUL, subject="SMS", body="bonjour\n", message_id="<k1@numi.support>", kind="sms", key="k1")

    def lost() -> None:
        raise RuntimeError("the process died before recording the send")

    with pytest.raises(RuntimeError):
        mailer.deliver(mail, lost)
    committed: List[bool] = []
    mailer.deliver(mail, lambda: committed.append(True))
    assert committed == [True]
    assert [r["headers"]["idempotency-key"] for r in gateway.requests] == ["k1", "k1"]
    assert len(gateway.delivered) == 1


# --- the reminder engine: a J+5 step "appel ou SMS" sent as SMS ---------------------------------
def test_the_reminder_engine_sends_an_sms_step_through_the_gateway(services, gateway):
    start = date(2026, 12, 1)
    default = load_default()
    policy = replace(default, timelines={**default.timelines, "high": (
        Step(day=3, kind="gentle", channel="email"), Step(day=5, kind="call", channel="sms"),
        Step(day=7, kind="firm", channel="email"), Step(day=8, kind="close", channel="email"))})
    settings = sms_settings(services.settings, gateway)
    mailer = Mailer(settings)
    with services.sessions() as s, s.begin():
        t = service.open_ticket(s, scenario="tech_support", actor="hotliner:Camille", customer_id="CLT-00321",
                                priority="high", subject="Synchronisation e-mail en double",
                                now=to_utc_naive(datetime.combine(start, time(9)), "Europe/Paris"))
        service.transition(s, t, Transition("waiting_customer", waiting_reason="feedback"), actor="hotliner:Camille",
                           now=to_utc_naive(datetime.combine(start, time(10)), "Europe/Paris"), tz="Europe/Paris",
                           waiting_for="Vous alliez tester les paramètres IMAP.")
        number, ref = t.number, t.ref

    seen = []
    for offset in range(1, 7):
        for action in engine.run(services.sessions, settings, start + timedelta(days=offset), mailer=mailer,
                                 policy=policy):
            if action.ticket_id == ref:  # the demo data has waiting tickets of its own
                seen.append((offset, action.kind, action.channel))
    assert seen == [(3, "gentle", "email"), (5, "call", "sms")]

    ours = [r for r in gateway.requests if r["headers"]["idempotency-key"].startswith(f"reminder:{number}:")]
    assert len(ours) == 1
    assert len(gateway.delivered) == len({r["headers"]["idempotency-key"] for r in gateway.requests})  # each once
    request = ours[0]
    assert request["body"]["to"] == PAUL_E164 and request["body"]["sender"] == "numi"
    assert "bonjour Paul" in request["body"]["text"] and ref in request["body"]["text"]
    assert request["headers"]["authorization"] == f"Bearer {TOKEN}"
    with services.sessions() as s:
        row = s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.ticket_number == number,
                                                      m.OutboxMessage.channel == "sms")).one()
        assert row.status == "sent" and row.recipient == PAUL
        assert request["headers"]["idempotency-key"] == row.key
    events = history(services, number)
    assert any(e.event == "reminder_sent" and (e.details or {}).get("channel") == "sms" for e in events)
    assert not any(e.event == "delivery_failed" for e in events)
    # the J+3 e-mail still went to the local mailbox (no SMTP configured)
    mailbox = [json.loads(p.read_text(encoding="utf-8")) for p in settings.mailbox_dir.glob("*.json")]
    assert [x["kind"] for x in mailbox if ref in x["subject"] + x["body"]] == ["email"]


# --- the driver and the settings ------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["06 12 34 56 78", "+33 6 12 34 56 78", "0612345678", "0033612345678",
                                 "+33612345678", "06.12.34.56.78"])
def test_french_numbers_are_normalised_to_e164(raw):
    assert to_e164(raw) == PAUL_E164


def test_foreign_numbers_keep_their_country():
    assert to_e164("+32 470 12 34 56") == "+32470123456"


@pytest.mark.parametrize("status,error", [(200, None), (201, None), (202, None), (400, PermanentDeliveryError),
                                          (401, PermanentDeliveryError), (404, PermanentDeliveryError),
                                          (422, PermanentDeliveryError), (408, TransientDeliveryError),
                                          (429, TransientDeliveryError), (500, TransientDeliveryError),
                                          (503, TransientDeliveryError), (301, PermanentDeliveryError)])
def test_statuses(status, error):
    found = classify(status)
    assert (found is None) if error is None else (type(found) is error and found.status == status)


@pytest.mark.parametrize("script", [[429], [408], [502]])
def test_transient_answers_raise_a_retryable_error(gateway, script):
    gateway.script = list(script)
    sender = HttpGatewaySender(gateway.url, TOKEN, "numi", timeout=2)
    with pytest.raises(TransientDeliveryError) as caught:
        sender.send(PAUL_E164, "bonjour", "k")
    assert caught.value.status == script[0] and not isinstance(caught.value, ValueError)


def test_a_2xx_answer_gives_the_providers_id(gateway):
    sender = HttpGatewaySender(gateway.url, TOKEN, "numi", timeout=2)
    assert sender.send(PAUL_E164, "bonjour", "k") == "gw-1"
    assert sender.send(PAUL_E164, "bonjour", "k") == "gw-1"  # deduped: the same message


def test_a_closed_port_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = HttpGatewaySender(f"http://127.0.0.1:{port}/sms", TOKEN, "numi", timeout=2)
    with pytest.raises(TransientDeliveryError):
        sender.send(PAUL_E164, "bonjour", "k")


def test_a_redirect_is_not_followed_with_the_token():
    seen: List[str] = []

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            seen.append(self.path)
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sender = HttpGatewaySender(f"http://127.0.0.1:{server.server_address[1]}/sms", TOKEN, "numi", timeout=2)
        with pytest.raises(PermanentDeliveryError):
            sender.send(PAUL_E164, "bonjour", "k")
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["/sms"]


def test_only_http_urls_are_accepted():
    with pytest.raises(ValueError):
        HttpGatewaySender("file:///etc/passwd", TOKEN, "numi", timeout=2)


def test_settings_read_the_gateway_and_keep_the_token_out_of_repr():
    assert Settings.from_env(env={}).sms is None
    settings = Settings.from_env(env={"NUMI_SMS_URL": "https://sms.example/v1/messages", "NUMI_SMS_TOKEN": TOKEN})
    assert settings.sms == SmsSettings(url="https://sms.example/v1/messages", token=TOKEN, sender="numi",
                                       timeout=10.0)
    custom = Settings.from_env(env={"NUMI_SMS_URL": "https://sms.example/", "NUMI_SMS_SENDER": "numi.support",
                                    "NUMI_SMS_TIMEOUT": "2.5"}).sms
    assert custom is not None and (custom.sender, custom.timeout, custom.token) == ("numi.support", 2.5, None)
    assert TOKEN not in repr(settings) and TOKEN not in repr(Mailer(settings).sms)
