"""Inbound e-mail over real protocols: numi's reminder goes out by SMTP into the customer's
mailbox on a real IMAP server (Dovecot, started by the test), her reply comes back into numi's
mailbox, numi fetches it over IMAP (STARTTLS, login), understands it with the real NLU, and its
answer lands in her mailbox, in the same thread. And the same reply delivered straight to numi's
SMTP listener, as an MTA would. The thread, as the IMAP server holds it, is written to
artifacts/mail_thread.txt."""
from __future__ import annotations

import asyncio
import smtplib
import time
from dataclasses import replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from sqlalchemy import select

from numi.db import models as m
from numi.inbox.process import Deps
from numi.inbox.receivers import ImapPoller, ImapTarget, fetch_once, parsed_of, start_smtp
from numi.mail import Mailer
from numi.reminders import engine, outbox
from numi.settings import InboundSettings, SmtpSettings
from tests.helpers import mailworld, marie

pytestmark = [pytest.mark.slow]
if mailworld.available():
    pytest.skip(mailworld.available(), allow_module_level=True)

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.fixture
def world(tmp_path):
    w = mailworld.MailWorld(tmp_path / "mail", users=["support", "marie"])
    (tmp_path / "mail").mkdir()
    w.start()
    yield w
    w.stop()


@pytest.fixture
def live(services, agent, world):
    """numi's settings pointed at the mail world: it sends through the relay, reads its mailbox."""
    settings = replace(services.settings,
                       smtp=SmtpSettings(host="127.0.0.1", port=world.smtp_port,
                                         sender="numi.support <support@numi.support>"),
                       inbound=InboundSettings(imap_url=world.imap_url("support"),
                                               smtp=("127.0.0.1", mailworld.free_port()), imap_poll_seconds=0.3))
    mailer = Mailer(settings)

    def understand(text: str):
        return parsed_of(asyncio.run(agent.parse_message(text)), text)

    deps = Deps(sessions=services.sessions, settings=settings, library=services.library, understand=understand,
                deliver=lambda: outbox.flush(services.sessions, mailer))
    number = marie.waiting_ticket(services.sessions, "CLT-09101", world.address("marie"))
    engine.run(services.sessions, settings, today=marie.FIRST_REMINDER, mailer=mailer)
    return deps, settings, number


def mail(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def answer_of(reminder: EmailMessage, text: str) -> bytes:
    """Marie's mail client answering: Reply-To, In-Reply-To, References, « Re: », the quote."""
    reply = EmailMessage()
    reply["From"] = "Marie Durand <marie@exemple.fr>"
    reply["To"] = reminder["Reply-To"] or reminder["From"]
    reply["Subject"] = "Re: " + reminder["Subject"]
    reply["Message-ID"] = make_msgid(domain="exemple.fr")
    reply["In-Reply-To"] = reminder["Message-ID"]
    reply["References"] = " ".join(filter(None, [reminder.get("References"), reminder["Message-ID"]]))
    quoted = "\n".join("> " + line for line in reminder.get_content().splitlines())
    reply.set_content(f"{text}\n\nMarie\n\nLe mer. 25 nov. 2026 à 09:30, numi.support a écrit :\n{quoted}\n")
    return reply.as_bytes(policy=policy.SMTP)


def send(port: int, raw: bytes, to: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.sendmail("marie@exemple.fr", [to], raw)


def _wait(predicate, seconds: float = 20.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_reply_fetched_by_imap_reopens_the_ticket_and_is_answered_in_thread(services, world, live):
    deps, settings, number = live
    (reminder_raw,) = world.messages("marie")  # numi's reminder, as her mailbox received it
    reminder = mail(reminder_raw)
    assert f"[TK-{number:05d}]" in reminder["Subject"] and reminder["Reply-To"].startswith("support+tk-")
    assert reminder["Auto-Submitted"] == "auto-generated"

    reply_raw = answer_of(reminder, "Toujours le même problème, Outlook ne reçoit toujours rien.")
    send(world.smtp_port, reply_raw, reminder["Reply-To"])
    results = fetch_once(deps, ImapTarget.parse(settings.inbound.imap_url), ssl_context=world.ssl_context())
    assert [(r.kind, r.ticket, r.threaded_by, r.answered) for r in results] == [
        ("reply", f"TK-{number:05d}", "headers", True)]

    with services.sessions() as s:
        ticket = s.get(m.Ticket, number)
        assert ticket.status == "in_progress" and ticket.next_reminder_due is None
        events = [(e.event, (e.details or {}).get("direction")) for e in ticket.history]
        assert ("email_in", "in") in events and ("email_out", "out") in events
    inbox = world.messages("marie")
    assert len(inbox) == 2
    answer = mail(inbox[1])
    assert answer["In-Reply-To"] == mail(reply_raw)["Message-ID"]
    assert reminder["Message-ID"] in answer["References"]
    assert f"[TK-{number:05d}]" in answer["Subject"] and "décrivez" in answer.get_content().lower()
    assert all(b"\\Seen" in flags for flags in world.flags("support"))  # read, kept on the server
    assert fetch_once(deps, ImapTarget.parse(settings.inbound.imap_url), ssl_context=world.ssl_context()) == []

    ARTIFACTS.mkdir(exist_ok=True)
    thread = [("marie", reminder_raw), ("support", world.messages("support")[0]), ("marie", inbox[1])]
    (ARTIFACTS / "mail_thread.txt").write_bytes(b"".join(
        f"===== mailbox {who}@{'numi.support' if who == 'support' else 'exemple.fr'} =====\n".encode() + raw + b"\n"
        for who, raw in thread))


def test_the_imap_poller_picks_up_new_mail_on_its_own(services, world, live):
    deps, settings, _ = live
    poller = ImapPoller(deps, ssl_context=world.ssl_context()).start()
    try:
        msg = EmailMessage()
        msg["From"], msg["To"] = "Paul <paul@exemple.fr>", "support@numi.support"
        msg["Subject"], msg["Message-ID"] = "Imprimante", make_msgid(domain="exemple.fr")
        msg.set_content("Bonjour, mon imprimante n'imprime plus rien depuis ce matin.")
        send(world.smtp_port, msg.as_bytes(policy=policy.SMTP), "support@numi.support")

        def opened():
            with services.sessions() as s:
                return s.scalars(select(m.InboundMail).where(m.InboundMail.kind == "new")).first()

        row = _wait(opened)
        assert row.source == "imap" and row.ticket_number is not None
    finally:
        poller.stop()


def test_a_reply_delivered_to_the_smtp_listener_closes_the_ticket(services, world, live):
    deps, settings, number = live
    reminder = mail(world.messages("marie")[0])
    controller = start_smtp(deps)
    host, port = settings.inbound.smtp
    try:
        send(port, answer_of(reminder, "C'est résolu, ça marche maintenant. Merci !"), reminder["Reply-To"])
        with services.sessions() as s:
            ticket = s.get(m.Ticket, number)
            assert ticket.status == "closed" and ticket.close_reason == "resolution"
        answer = mail(_wait(lambda: world.messages("marie")[1:])[0])
        assert "clôture" in answer.get_content() and f"[TK-{number:05d}]" in answer["Subject"]

        big = EmailMessage()
        big["From"], big["To"], big["Subject"] = "marie@exemple.fr", "support@numi.support", "vidéo"
        big.set_content("la vidéo")
        big.add_attachment(b"\0" * (11 * 2**20), maintype="video", subtype="mp4", filename="v.mp4")
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send(port, big.as_bytes(policy=policy.SMTP), "support@numi.support")
        assert refused.value.smtp_code == 552 and b"10 Mo" in refused.value.smtp_error
    finally:
        controller.stop()


def test_the_numi_service_receives_mail_when_configured(tmp_path, world):
    """The service process itself, configured only by its environment: its SMTP listener takes a
    mail an MTA delivers, its IMAP poller fetches one from its mailbox; the running Rasa server
    understands both (rasa_understand); the acknowledgements go out through its SMTP relay."""
    from numi.devstack import Stack, http

    inbound_port = mailworld.free_port()
    stack = Stack(tmp_path / "stack", extra_env={
        "NUMI_INBOUND_SMTP": f"127.0.0.1:{inbound_port}", "NUMI_IMAP_URL": world.imap_url("support"),
        "NUMI_IMAP_POLL_SECONDS": "0.5", "NUMI_SMTP_HOST": "127.0.0.1", "NUMI_SMTP_PORT": str(world.smtp_port),
        "SSL_CERT_FILE": str(world.cert), "NUMI_ALERTS": "0"})
    (tmp_path / "stack").mkdir()
    stack.start()
    try:
        her = world.address("marie")
        customer = {"first_name": "Marie", "last_name": "Durand", "email": her}
        assert http("PUT", f"{stack.numi}/api/customers/CLT-09201", customer, token=stack.admin_token)[0] == 201

        def new_mail(subject: str, text: str) -> bytes:
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = f"Marie Durand <{her}>", "support@numi.support", subject
            msg["Message-ID"] = make_msgid(domain="exemple.fr")
            msg.set_content(text)
            return msg.as_bytes(policy=policy.SMTP)

        send(inbound_port, new_mail("Piratage", "Au secours, j'ai cliqué sur un lien dans un faux mail de ma banque "
                                                "et j'ai donné mon mot de passe."), "support@numi.support")
        send(world.smtp_port, new_mail("Imprimante", "Bonjour, mon imprimante n'imprime plus rien depuis ce matin."),
             "support@numi.support")  # into numi's mailbox on the IMAP server
        acks = [mail(raw) for raw in _wait(lambda: (lambda got: got if len(got) == 2 else None)(
            world.messages("marie")), seconds=60)]
        status, listed = http("GET", f"{stack.numi}/api/tickets?customer_id=CLT-09201", token=stack.admin_token)
        assert status == 200
        by_subject = {t["subject"]: t for t in listed["tickets"]}
        security, printer = by_subject["Piratage"], by_subject["Imprimante"]
        assert security["scenario"] == "security_incident" and security["priority"] == "urgent"
        assert security["queue"] == "level2" and printer["scenario"] != "security_incident"
        assert sorted(a["Subject"].split("[")[-1].rstrip("]") for a in acks) == sorted(
            [security["id"], printer["id"]])
        assert all(a["Auto-Submitted"] == "auto-generated" and a["To"] == her for a in acks)
        assert all(b"\\Seen" in flags for flags in world.flags("support"))  # fetched by the service's poller
        status, ticket = http("GET", f"{stack.numi}/api/tickets/{printer['id']}", token=stack.admin_token)
        assert status == 200 and {(h.get("channel"), h.get("direction")) for h in ticket["history"]} >= {
            ("email", "in"), ("email", "out")}  # the contract's history entries
    finally:
        stack.stop()
