"""Delivery faults (issue 13, point 6): an SMTP server that is down, answers 4xx, or refuses
for good (5xx). Retries with backoff, nothing sent twice, permanent failures on the ticket."""
from datetime import timedelta

from aiosmtpd.controller import Controller
from sqlalchemy import select

from numi.clock import utcnow
from numi.db import models as m
from numi.devstack import free_port
from numi.mail import Mailer
from numi.reminders import outbox
from numi.settings import Settings
from numi.tickets import service


class Moody:
    """A real SMTP server answering the scripted codes to the end of DATA, then 250."""

    def __init__(self, codes):
        self.codes, self.received = list(codes), []

    async def handle_DATA(self, server, session, envelope):
        if self.codes:
            return self.codes.pop(0)
        self.received.append(envelope.content)
        return "250 OK"


def mailer_for(settings, port):
    return Mailer(Settings.from_env(env={"NUMI_SMTP_HOST": "127.0.0.1", "NUMI_SMTP_PORT": str(port)},
                                    database_url=settings.database_url, secret="test-secret"))


def one_mail(db, key):
    ticket = service.open_ticket(db, scenario="tech_support", actor="test", customer_id="CLT-00321")
    outbox.enqueue(db, key=key, kind="gentle", channel="email", recipient="paul.martin@example.fr",
                   subject="[TK] test", body="Bonjour", ticket_number=ticket.number, now=utcnow())
    db.commit()
    return ticket


def row(db, key):
    db.expire_all()
    return db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.key == key)).one()


def test_a_busy_server_is_retried_with_backoff_and_gets_the_mail_once(db, services):
    handler = Moody(["451 4.3.0 try again later", "451 4.3.0 try again later"])
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        one_mail(db, "busy")
        db.rollback()
        mailer, now = mailer_for(services.settings, port), utcnow()
        assert outbox.flush(services.sessions, mailer, now=now)["failed"] == 1
        first = row(db, "busy")
        assert first.status == "pending" and first.not_before >= now + timedelta(minutes=1)
        assert "451" in first.last_error
        db.rollback()
        assert outbox.flush(services.sessions, mailer, now=now + timedelta(seconds=30))["sent"] == 0  # backing off
        assert outbox.flush(services.sessions, mailer, now=now + timedelta(minutes=2))["failed"] == 1
        assert row(db, "busy").not_before >= now + timedelta(minutes=4)  # twice as long
        db.rollback()
        assert outbox.flush(services.sessions, mailer, now=now + timedelta(minutes=10))["sent"] == 1
        assert outbox.flush(services.sessions, mailer, now=now + timedelta(hours=1))["sent"] == 0
        assert len(handler.received) == 1 and row(db, "busy").status == "sent"
    finally:
        controller.stop()


def test_a_server_that_is_down_then_up_gets_the_mail_once(db, services):
    port = free_port()
    one_mail(db, "down")
    db.rollback()
    mailer, now = mailer_for(services.settings, port), utcnow()
    assert outbox.flush(services.sessions, mailer, now=now)["failed"] == 1  # nothing listens
    assert row(db, "down").status == "pending"
    db.rollback()
    handler = Moody([])
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert outbox.flush(services.sessions, mailer, now=now + timedelta(minutes=2))["sent"] == 1
        assert outbox.flush(services.sessions, mailer, now=now + timedelta(minutes=30))["sent"] == 0
        assert len(handler.received) == 1
    finally:
        controller.stop()


def test_a_refusal_for_good_is_not_retried_and_shows_on_the_ticket(db, services):
    handler = Moody(["550 5.1.1 no such user"])
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        ticket = one_mail(db, "refused")
        db.rollback()
        mailer, now = mailer_for(services.settings, port), utcnow()
        outbox.flush(services.sessions, mailer, now=now)
        assert row(db, "refused").status == "failed"
        db.rollback()
        assert outbox.flush(services.sessions, mailer, now=now + timedelta(hours=2)) == {"sent": 0, "failed": 0,
                                                                                         "skipped": 0}
        db.expire_all()
        events = [e for e in db.get(m.Ticket, ticket.number).history if e.event == "delivery_failed"]
        assert len(events) == 1 and "550" in events[0].details["error"]
        assert "paul.martin" not in str(events[0].details)  # no personal data in the history
        assert handler.received == []
    finally:
        controller.stop()
