"""Inbound e-mail (numi/inbox), on a fresh database per test, with the real NLU (the trained
model loaded in process): what a received mail does to tickets, and what numi answers.

Mails are built as a customer's client would write them (In-Reply-To, quoted history,
signature, HTML); robots as real robots do (RFC 3834 headers, RFC 3464 delivery reports)."""
from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Optional

import pytest
from sqlalchemy import func, select

from numi.db import models as m
from numi.inbox import process, signing
from numi.inbox.parse import html_to_text, parse, strip_quotes
from numi.inbox.process import Deps, receive
from numi.inbox.receivers import parsed_of
from numi.reminders import engine
from numi.settings import InboundSettings
from tests.helpers import marie

pytestmark = pytest.mark.slow  # the trained model (the real NLU) loads once per session

CUSTOMER = "marie.durand@exemple.fr"


@pytest.fixture
def deps(services, agent):
    def understand(text: str):
        return parsed_of(asyncio.run(agent.parse_message(text)), text)

    return Deps(sessions=services.sessions, settings=services.settings, library=services.library,
                understand=understand)


@pytest.fixture
def waiting(services):
    """Marie's ticket, waiting for her test, and the gentle reminder numi sent her (signed)."""
    number = marie.waiting_ticket(services.sessions, "CLT-09001", CUSTOMER)
    engine.run(services.sessions, services.settings, today=marie.FIRST_REMINDER)
    with services.sessions() as s:
        row = s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.ticket_number == number)).one()
        return number, row.message_id, row.subject


def reply_to(message_id: Optional[str], text: str, subject: str = "Re: Suivi", sender: str = CUSTOMER,
             **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Marie Durand <{sender}>"
    msg["To"] = "numi.support <support@numi.support>"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="exemple.fr")
    if message_id:
        msg["In-Reply-To"] = message_id
        msg["References"] = message_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text + "\n\nCordialement,\nMarie\n\nLe mer. 25 nov. 2026 à 09:30, numi.support "
                    "<support@numi.support> a écrit :\n> Bonjour Marie,\n> Vous avez eu le temps de tester ?\n")
    return msg.as_bytes()


def ticket_of(services, number: int) -> m.Ticket:
    """The ticket as it is now, with its history, detached (no session left open: SQLite's writers
    would wait for it)."""
    with services.sessions() as s:
        ticket = s.get(m.Ticket, number)
        list(ticket.history)
        return ticket


def answers(services, number: int):
    with services.sessions() as s:
        return list(s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.ticket_number == number,
                                                            m.OutboxMessage.kind == "mail_auto")
                              .order_by(m.OutboxMessage.id)))


# -- signing -----------------------------------------------------------------------------------

def test_a_signed_message_id_names_its_ticket_and_a_forged_one_is_refused():
    mid = signing.message_id("s3cret", 456, "reminder:456:x", "numi.support")
    assert signing.from_message_ids("s3cret", [mid]) == signing.Reference(456, True)
    forged = mid.replace("tk-00456", "tk-00457")
    assert signing.from_message_ids("s3cret", [forged]) == signing.Reference(457, False)
    assert signing.from_message_ids("another-secret", [mid]).valid is False
    address = signing.reply_address("s3cret", 456, "support@numi.support")
    assert signing.from_addresses("s3cret", [address]) == signing.Reference(456, True)
    assert signing.from_addresses("s3cret", [address.replace("00456", "00001")]).valid is False
    assert signing.tag_subject("Suivi", 456) == "Suivi [TK-00456]"
    assert signing.tag_subject("Suivi [TK-00456]", 456) == "Suivi [TK-00456]"


def test_the_reminder_mail_is_signed_tagged_and_threadable(services, waiting):
    number, mid, subject = waiting
    assert f"[TK-{number:05d}]" in subject
    assert signing.from_message_ids(services.settings.secret, [mid]).valid


# -- parsing -----------------------------------------------------------------------------------

def test_quoted_history_and_signature_are_stripped_in_french():
    text = ("Toujours le même problème, rien ne s'affiche.\n\nCordialement,\nMarie\n\n"
            "Le lun. 30 nov. 2026 à 10:12, numi.support <support@numi.support> a écrit :\n> Bonjour\n")
    assert strip_quotes(text) == "Toujours le même problème, rien ne s'affiche."
    outlook = ("C'est réglé merci\n\nDe : numi.support <support@numi.support>\nEnvoyé : lundi 30 novembre 2026\n"
               "À : Marie\nObjet : Suivi\n\nBonjour Marie")
    assert strip_quotes(outlook) == "C'est réglé merci"


def test_html_is_sanitised_into_text():
    text = html_to_text("<html><head><style>p{color:red}</style><script>alert(1)</script></head>"
                        "<body><p>Bonjour,</p><p>ça <b>marche</b> <img src=x onerror=alert(2)></p></body></html>")
    assert "alert" not in text and "color" not in text
    assert "Bonjour," in text and "ça marche" in text


def test_attachments_are_kept_within_limits():
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = CUSTOMER, "support@numi.support", "captures"
    msg.set_content("voici les captures")
    msg.add_attachment(b"%PDF-1.4 ...", maintype="application", subtype="pdf", filename="facture.pdf")
    msg.add_attachment(b"MZ\x90\x00", maintype="application", subtype="x-msdownload", filename="outil.exe")
    msg.add_attachment(b"x" * 2048, maintype="image", subtype="png", filename="grande.png")
    limits = InboundSettings(max_attachment_bytes=1024)
    parsed = parse(msg.as_bytes(), limits, "numi.support")
    assert [(a.filename, a.refused) for a in parsed.attachments] == [
        ("facture.pdf", None), ("outil.exe", "type"), ("grande.png", "size")]


def test_robots_are_recognised():
    def kind(**headers):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = CUSTOMER, "support@numi.support", headers.pop("Subject", "Re: x")
        for name, value in headers.items():
            msg[name.replace("_", "-")] = value
        msg.set_content("x")
        return parse(msg.as_bytes(), InboundSettings(), "numi.support").robot

    assert kind() is None
    assert kind(Auto_Submitted="auto-replied") == "auto_reply"
    assert kind(Auto_Submitted="no") is None
    assert kind(X_Autoreply="yes") == "auto_reply"
    assert kind(Subject="Réponse automatique : absente jusqu'au 5 janvier") == "auto_reply"
    assert kind(Precedence="bulk") == "list"
    assert kind(List_Id="<annonces.exemple.fr>") == "list"
    assert kind(X_Loop="numi") == "loop"


# -- replies on a waiting ticket (the NLU decides) ---------------------------------------------

def test_a_resolved_reply_closes_the_ticket_and_is_answered_in_thread(services, deps, waiting):
    number, mid, _ = waiting
    raw = reply_to(mid, "Oui c'est bon, ça marche maintenant, merci beaucoup !")
    result = receive(deps, raw, "imap")
    assert (result.kind, result.threaded_by, result.answered) == ("reply", "headers", True)
    ticket = ticket_of(services, number)
    assert ticket.status == "closed" and ticket.close_reason == "resolution"
    email_in = [e for e in ticket.history if e.event == "email_in"][0]
    assert email_in.details["channel"] == "email" and email_in.details["direction"] == "in"
    assert email_in.details["text"] == "Oui c'est bon, ça marche maintenant, merci beaucoup !"  # quotes stripped
    (answer,) = answers(services, number)
    assert answer.headers["In-Reply-To"] == parse(raw, InboundSettings(), "numi.support").message_id
    assert f"[TK-{number:05d}]" in answer.subject and answer.recipient == CUSTOMER
    assert "clôture" in answer.body and f"TK-{number:05d}" in answer.body
    assert [e.event for e in ticket.history].count("email_out") == 1
    entries = m.ticket_json(ticket)["history"]  # as GET /api/tickets/<id> gives it: the contract's two fields
    assert {(h.get("channel"), h.get("direction")) for h in entries if h["event"].startswith("email_")} == {
        ("email", "in"), ("email", "out")}
    with services.sessions() as s:
        kept = s.scalars(select(m.InboundMail)).one()
        assert kept.raw == raw  # the original is kept whole


def test_still_broken_goes_back_to_the_hotliner_and_the_thread_goes_on(services, deps, waiting):
    number, mid, _ = waiting
    receive(deps, reply_to(mid, "Non, toujours le même problème, ça ne marche pas."), "smtp")
    ticket = ticket_of(services, number)
    assert ticket.status == "in_progress" and ticket.next_reminder_due is None  # the 001 clock stopped
    first = answers(services, number)[0]
    assert "décrivez" in first.body.lower()
    # her answer to the bot's question, in the same thread: the playbook goes on
    receive(deps, reply_to(first.message_id, "Outlook affiche une erreur 0x800CCC0E au démarrage."), "smtp")
    ticket = ticket_of(services, number)
    assert ticket.data.get("verbatim") == "Outlook affiche une erreur 0x800CCC0E au démarrage."
    second = answers(services, number)[1]
    assert "rendez-vous" in second.body and second.headers["In-Reply-To"] != first.headers.get("In-Reply-To")


def test_not_yet_tested_gives_a_new_date_and_the_clock_starts_again(services, deps, waiting):
    number, mid, _ = waiting
    receive(deps, reply_to(mid, "Désolée, je n'ai pas encore eu le temps de tester."), "imap")
    ticket = ticket_of(services, number)
    assert ticket.status == "in_progress"
    ask = answers(services, number)[0]
    receive(deps, reply_to(ask.message_id, "Je pourrai tester le 10 décembre."), "imap")
    ticket = ticket_of(services, number)
    assert ticket.status == "waiting_customer"
    assert ticket.next_reminder_due is not None and ticket.next_reminder_due > date(2026, 11, 25)
    assert "10 décembre" in answers(services, number)[1].body


def test_hostile_text_is_stored_verbatim_and_never_evaluated(services, deps, waiting):
    number, mid, _ = waiting
    raw = reply_to(mid, "{{7*7}} <script>alert(1)</script> /still_broken{\"x\": 1}", subject="Re: {{7*7}}")
    receive(deps, raw, "imap")
    ticket = ticket_of(services, number)
    text = [e for e in ticket.history if e.event == "email_in"][0].details["text"]
    assert "{{7*7}}" in text and "<script>" in text
    for answer in answers(services, number):
        assert "49" not in answer.subject and "49" not in answer.body


# -- threading and forgery ---------------------------------------------------------------------

def test_a_forged_reference_is_refused_and_opens_nothing_on_that_ticket(services, deps, waiting):
    number, mid, _ = waiting
    forged = re.sub(r"\.([0-9a-f]{20})@", ".0123456789abcdef0123@", mid)  # numi's shape, another signature
    assert forged != mid
    result = receive(deps, reply_to(forged, "C'est réglé, fermez le ticket", sender="pirate@exemple.org"), "smtp")
    assert result.notes.get("forged") == ["headers"]
    assert result.kind == "new" and result.ticket != f"TK-{number:05d}"
    assert ticket_of(services, number).status == "waiting_customer"


def test_the_subject_reference_counts_only_from_the_tickets_customer(services, deps, waiting):
    number, _, _ = waiting
    ref = f"TK-{number:05d}"
    stranger = receive(deps, reply_to(None, "Je veux le détail de ce ticket", subject=f"Re: [{ref}]",
                                      sender="inconnu@exemple.org"), "smtp")
    assert stranger.ticket != ref and stranger.notes.get("subject_reference_refused") == ref
    owner = receive(deps, reply_to(None, "ça marche maintenant, merci", subject=f"Re: [{ref}]"), "smtp")
    assert (owner.ticket, owner.threaded_by) == (ref, "subject")


def test_the_same_mail_twice_is_handled_once(services, deps, waiting):
    number, mid, _ = waiting
    raw = reply_to(mid, "ça marche maintenant")
    assert receive(deps, raw, "imap").kind == "reply"
    assert receive(deps, raw, "imap").kind == "duplicate"
    with services.sessions() as s:
        assert s.scalar(select(func.count(m.InboundMail.id))) == 1
    assert len(answers(services, number)) == 1


# -- robots ------------------------------------------------------------------------------------

def test_an_out_of_office_is_recorded_and_changes_nothing(services, deps, waiting):
    number, mid, _ = waiting
    before = ticket_of(services, number).next_reminder_due
    result = receive(deps, reply_to(mid, "Je suis absente jusqu'au 5 janvier.", subject="Absence du bureau",
                                    Auto_Submitted="auto-replied"), "imap")
    assert (result.kind, result.answered) == ("auto_reply", False)
    ticket = ticket_of(services, number)
    assert ticket.status == "waiting_customer" and ticket.next_reminder_due == before
    assert [e.details["kind"] for e in ticket.history if e.event == "email_in"] == ["auto_reply"]
    assert answers(services, number) == []


def _bounce_of(original_mid: str, recipient: str) -> bytes:
    report = EmailMessage()
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.exemple.fr>"
    report["To"] = "support@numi.support"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Return-Path"] = "<>"
    report["Message-ID"] = make_msgid(domain="mx.exemple.fr")
    report.set_content(f"Votre message n'a pas pu être remis à {recipient} : boîte inexistante.")
    report.make_mixed()
    status = EmailMessage()
    status.set_content(f"Reporting-MTA: dns; mx.exemple.fr\n\nFinal-Recipient: rfc822; {recipient}\n"
                       "Action: failed\nStatus: 5.1.1\n")
    returned = EmailMessage()
    returned["Message-ID"] = original_mid
    returned["Subject"] = "Suivi"
    returned.set_content("...")
    raw = report.as_bytes()
    boundary = report.get_boundary()
    dsn = (f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.exemple.fr\r\n\r\n"
           f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
           f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {original_mid}\r\n"
           f"Subject: Suivi\r\n\r\n--{boundary}--\r\n").encode()
    head, _, _ = raw.partition(f"--{boundary}--".encode())
    raw = head.replace(b"multipart/mixed", b'multipart/report; report-type="delivery-status"') + dsn
    return raw


def test_a_bounce_marks_the_address_failing_and_the_next_reminder_goes_by_sms(services, deps, waiting):
    number, mid, _ = waiting
    result = receive(deps, _bounce_of(mid, CUSTOMER), "imap")
    assert (result.kind, result.ticket, result.answered) == ("bounce", f"TK-{number:05d}", False)
    with services.sessions() as s:
        assert s.get(m.Customer, "CLT-09001").email_failing_at is not None
    ticket = ticket_of(services, number)
    assert "email_failing" in [e.event for e in ticket.history]
    due = ticket.next_reminder_due
    done = engine.run(services.sessions, services.settings, today=due + timedelta(days=1))
    assert [a.channel for a in done if a.ticket_id == f"TK-{number:05d}"] == ["sms"]


def test_the_address_works_again_when_she_writes_from_it(services, deps, waiting):
    number, mid, _ = waiting
    receive(deps, _bounce_of(mid, CUSTOMER), "imap")
    receive(deps, reply_to(mid, "Je n'ai pas encore pu tester, je le fais demain."), "imap")
    with services.sessions() as s:
        assert s.get(m.Customer, "CLT-09001").email_failing_at is None  # a person wrote from it
        row = s.scalars(select(m.InboundMail).where(m.InboundMail.kind == "reply")).one()
        assert row.notes["address_works_again"] == "CLT-09001"


def test_a_mailing_list_is_recorded_never_answered(services, deps):
    result = receive(deps, reply_to(None, "Notre lettre d'information de décembre", subject="Les nouveautés",
                                    sender="lettre@exemple.org", List_Id="<news.exemple.org>",
                                    Precedence="bulk"), "imap")
    assert (result.kind, result.ticket, result.answered) == ("list", None, False)


# -- new mail ----------------------------------------------------------------------------------

def test_a_new_mail_opens_a_triaged_ticket_and_is_acknowledged(services, deps):
    with services.sessions() as s, s.begin():
        s.add(m.Customer(id="CLT-09002", first_name="Paul", last_name="Martin", email="paul@exemple.fr"))
    msg = EmailMessage()
    msg["From"], msg["To"] = "Paul Martin <Paul@Exemple.fr>", "support@numi.support"
    msg["Subject"], msg["Message-ID"] = "Ma facture", make_msgid(domain="exemple.fr")
    msg.set_content("Bonjour, je voudrais recevoir ma facture du mois dernier. Merci")
    result = receive(deps, msg.as_bytes(), "smtp")
    assert result.kind == "new" and result.answered
    with services.sessions() as s:
        ticket = s.get(m.Ticket, m.parse_ticket_ref(result.ticket))
        assert ticket.customer_id == "CLT-09002" and ticket.scenario == "invoice_request"
        assert ticket.data["channel"] == "email"
        (ack,) = s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.ticket_number == ticket.number))
        assert result.ticket in ack.body and f"[{result.ticket}]" in ack.subject


def test_a_security_incident_by_mail_is_urgent_and_goes_to_level_2(services, deps):
    msg = EmailMessage()
    msg["From"], msg["To"] = "inconnue@exemple.org", "support@numi.support"
    msg["Subject"], msg["Message-ID"] = "URGENT piratage", make_msgid(domain="exemple.org")
    msg.set_content("Au secours, mon compte a été piraté, quelqu'un envoie des mails en mon nom !")
    result = receive(deps, msg.as_bytes(), "smtp")
    with services.sessions() as s:
        ticket = s.get(m.Ticket, m.parse_ticket_ref(result.ticket))
        assert (ticket.scenario, ticket.priority, ticket.queue, ticket.status) == (
            "security_incident", "urgent", "level2", "escalated")
        handoff = s.scalars(select(m.Handoff).where(m.Handoff.ticket_number == ticket.number)).one()
        assert handoff.queue == "level2" and handoff.status == "waiting"


def test_automatic_answers_are_capped_per_address_and_hour(services, deps):
    cap = services.settings.inbound.auto_replies_per_hour
    results = []
    for n in range(cap + 2):
        msg = EmailMessage()
        msg["From"], msg["To"] = "bavard@exemple.org", "support@numi.support"
        msg["Subject"], msg["Message-ID"] = f"Question {n}", make_msgid(domain="exemple.org")
        msg.set_content(f"Ma box internet ne marche plus, essai {n}")
        results.append(receive(deps, msg.as_bytes(), "smtp"))
    assert [r.answered for r in results] == [True] * cap + [False, False]
    assert all(r.kind == "new" for r in results)  # every mail still opens its ticket


def test_a_mail_over_the_limit_is_refused_politely(services, deps):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = CUSTOMER, "support@numi.support", "Ma vidéo"
    msg["Message-ID"] = make_msgid(domain="exemple.fr")
    msg.set_content("voici la vidéo")
    msg.add_attachment(b"\0" * (11 * 2**20), maintype="video", subtype="mp4", filename="video.mp4")
    result = receive(deps, msg.as_bytes(), "imap")
    assert (result.kind, result.answered) == ("too_large", True)
    with services.sessions() as s:
        kept = s.scalars(select(m.InboundMail)).one()
        assert kept.raw is None and kept.sender == CUSTOMER
        (answer,) = s.scalars(select(m.OutboxMessage))
        assert "10 Mo" in answer.body and answer.recipient == CUSTOMER


def test_the_nlu_being_down_still_lands_the_mail_on_the_ticket(services, waiting):
    number, mid, _ = waiting

    def down(text: str):
        raise ConnectionRefusedError("rasa is down")

    deps = Deps(sessions=services.sessions, settings=services.settings, library=services.library, understand=down)
    result = receive(deps, reply_to(mid, "ça marche maintenant"), "imap")
    assert result.kind == "reply" and result.answered  # acknowledged: a human reads it
    ticket = ticket_of(services, number)
    assert ticket.status == "in_progress"  # the clock stopped all the same
    assert process.WALK not in (ticket.data or {})
