"""GDPR erasure (RGPD art. 17) really erases: every place that holds the customer's
e-mail, phone or name is seeded, the customer is erased, then every table of numi's
database and of Rasa's tracker store, and every file of the mailbox, is scanned.

Runs on SQLite and on PostgreSQL (the `database_url` fixture); the tracker store is
Rasa's own SQLTrackerStore, written by saving real trackers of real Rasa events."""
from __future__ import annotations

import json
import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, Iterable, List

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from numi import gdpr
from numi.db import models as m
from numi.mail import Mail, build, message_id
from numi.reminders import outbox

NOW = datetime(2025, 3, 3, 10, 0, 0)
CID = "CLT-09901"
FIRST, LAST = "Zéphyrin", "Quatremain"
EMAIL = "zephyrin.quatremain@exemple-rgpd.fr"
PHONE = "06 47 19 83 52"
PHONE_COMPACT, PHONE_INTL, PHONE_INTL_SPACED = "0647198352", "+33647198352", "+33 6 47 19 83 52"
OTHER = "CLT-00321"  # Paul Martin, of the demo data: must come through untouched
STAFF = "superviseur@numi.support"
SIGNED_CONV = f"c1.q8Zr3kT0VbN2xYp4mL6wHg.m7k2a1.rest.{CID}.Xy0Zl4nQkW8pR2sT6uV9aB"

CONVERSATIONS = {
    "by_ticket": "conv-rgpd-ticket",  # linked to the customer by numi's tables (ticket, handoff, alert …)
    "by_otp": "conv-rgpd-otp",  # linked by a one-time code challenge only
    # linked by nothing in numi: only what Rasa's events say
    "by_metadata": "conv-rgpd-meta",  # the verified identity in the user events' metadata
    "by_slot": "conv-rgpd-slot",  # identity proved by code, a customer_id slot event
    "typed_email": "conv-rgpd-anon-email",  # anonymous: the e-mail typed before any proof
    "typed_phone": "conv-rgpd-anon-phone",  # anonymous: the phone typed (and a ticket, no customer)
    "signed_owner": SIGNED_CONV,  # a conversation id signed for the customer
}
UNRELATED_CONV = "conv-paul"
PAUL_MENTIONS_CONV = "conv-paul-voisin"  # Paul's own conversation, where he spells the customer's e-mail


# ---------------------------------------------------------------------------
# the scan: independent of numi.gdpr_scan on purpose
# ---------------------------------------------------------------------------
def _fold(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)).lower()


NEEDLES = [_fold(LAST), _fold(FIRST), EMAIL.lower(), "exemple-rgpd"]
PHONE_ANY = re.compile(r"\D{0,4}".join("647198352"))  # 06 47 19 83 52 / 0647198352 / +33 6 47 … / +33647198352


def _strings(value: Any) -> Iterable[str]:
    if value is None:
        return
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, (dict, list, tuple)):
        for v in (value.items() if isinstance(value, dict) else value):
            yield from _strings(v)
        return
    s = str(value)
    yield s
    try:
        inner = json.loads(s)
    except ValueError:
        return
    if isinstance(inner, (dict, list, str)) and inner != s:
        yield from _strings(inner)


def personal_data_in(value: Any) -> List[str]:
    hits = []
    for s in _strings(value):
        f = _fold(s)
        hits += [n for n in NEEDLES if n in f]
        if PHONE_ANY.search(f):
            hits.append("phone")
    return hits


def dump(engine) -> Dict[str, List[tuple]]:
    meta = sa.MetaData()
    meta.reflect(bind=engine)
    out = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            out[table.name] = sorted((tuple(repr(v) for v in row) for row in conn.execute(select(table))))
    return out


def dump_files(box: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(box)): p.read_bytes() for p in sorted(box.rglob("*")) if p.is_file()} \
        if box.exists() else {}


def scan(engine, label: str) -> List[str]:
    meta = sa.MetaData()
    meta.reflect(bind=engine)
    found = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for col, value in row.items():
                    hits = personal_data_in(value)
                    if hits:
                        found.append(f"{label}.{table.name}.{col} (row {dict(row).get('id', '')}): {hits} in "
                                     f"{str(value)[:160]!r}")
    return found


def scan_files(box: Path) -> List[str]:
    found = []
    for rel, content in dump_files(box).items():
        hits = personal_data_in(rel) + personal_data_in(content)
        if hits:
            found.append(f"mailbox/{rel}: {hits} in {content[:160]!r}")
    return found


# ---------------------------------------------------------------------------
# the tracker store, as Rasa writes it
# ---------------------------------------------------------------------------
@pytest.fixture
def tracker_url(database_url, tmp_path):
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'tracker.db'}"
        return
    from tests.conftest import _drop_postgres_database, _postgres_database

    url = _postgres_database()  # Rasa's tracker store in a database of its own, as NUMI_TRACKER_URL would
    yield url
    _drop_postgres_database(url)


def _user(text: str, at: float, intent: str = "inform", customer_id: str = None, entities=None):
    from rasa.shared.core.events import UserUttered

    numi = {"mode": "customer", **({"customer_id": customer_id} if customer_id else {})}
    return UserUttered(text, intent={"name": intent, "confidence": 0.97}, entities=entities or [],
                       parse_data={"intent": {"name": intent, "confidence": 0.97}, "entities": entities or [],
                                   "text": text, "intent_ranking": [{"name": intent, "confidence": 0.97}]},
                       timestamp=at, input_channel="rest", metadata={"numi": numi})


def _bot(text: str, at: float):
    from rasa.shared.core.events import BotUttered

    return BotUttered(text, {"elements": None, "buttons": None}, {"numi": {"from": "bot"}}, timestamp=at)


def _action(name: str, at: float):
    from rasa.shared.core.events import ActionExecuted

    return ActionExecuted(name, timestamp=at)


async def seed_tracker(url: str) -> None:
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import SessionStarted, SlotSet
    from rasa.shared.core.slots import AnySlot
    from rasa.shared.core.trackers import DialogueStateTracker

    t0 = NOW.timestamp() - 86400
    conversations = {
        CONVERSATIONS["by_ticket"]: [
            _user("Bonjour, ma box ne marche plus depuis hier", t0, "box_down"),
            _bot(f"Je suis désolé {FIRST}, je crée un ticket.", t0 + 1),
        ],
        CONVERSATIONS["by_metadata"]: [
            _user("Je veux résilier, je suis furieux", t0 + 10, "cancel_subscription", customer_id=CID),
            _bot(f"Je comprends, M. {LAST}. Je vous passe un conseiller.", t0 + 11),
            _user("Merci", t0 + 12, "thanks", customer_id=CID),
        ],
        CONVERSATIONS["by_otp"]: [
            _user("je veux me connecter", t0 + 15, "login"),
            _bot("Je vous ai envoyé un code par e-mail.", t0 + 16),
        ],
        CONVERSATIONS["by_slot"]: [
            _user("Voici mon code : 482913", t0 + 20, "give_code"),
            SlotSet("customer_id", CID, timestamp=t0 + 21),
            _bot("Merci, vous êtes identifié.", t0 + 22),
        ],
        CONVERSATIONS["typed_email"]: [
            _user("mon adresse c'est Zephyrin.QUATREMAIN@Exemple-RGPD.fr", t0 + 30, "give_email",
                  entities=[{"entity": "email", "value": "Zephyrin.QUATREMAIN@Exemple-RGPD.fr", "start": 18,
                             "end": 53}]),
            SlotSet("email", "zephyrin.quatremain@exemple-rgpd.fr", timestamp=t0 + 31),
            _bot("Je vous envoie un code.", t0 + 32),
        ],
        CONVERSATIONS["typed_phone"]: [
            _user(f"rappelez-moi au {PHONE_INTL_SPACED} s'il vous plaît", t0 + 40, "request_callback"),
            _bot("C'est noté.", t0 + 41),
        ],
        CONVERSATIONS["signed_owner"]: [
            _user("Bonjour", t0 + 50, "greet"),
            _bot(f"Bonjour {FIRST} ! Que puis-je pour vous ?", t0 + 51),
        ],
        UNRELATED_CONV: [
            _user("Bonjour, une question sur ma facture", t0 + 60, "invoice_question", customer_id=OTHER),
            _bot("Bonjour Paul, je regarde.", t0 + 61),
        ],
        PAUL_MENTIONS_CONV: [
            _user("Bonjour", t0 + 70, "greet", customer_id=OTHER),
            _user(f"mon voisin n'a plus internet, son adresse est {EMAIL}", t0 + 71, "inform", customer_id=OTHER),
            _bot("Je ne peux traiter que votre propre compte, Paul.", t0 + 72),
        ],
    }
    store = SQLTrackerStore(host=url)
    try:
        for sender, events in conversations.items():
            evts = [_action("action_session_start", events[0].timestamp - 2),
                    SessionStarted(timestamp=events[0].timestamp - 1),
                    _action("action_listen", events[0].timestamp - 0.5)] + events
            slots = [AnySlot("customer_id", mappings=[]), AnySlot("email", mappings=[])]
            await store.save(DialogueStateTracker.from_events(sender, evts, slots=slots))
    finally:
        store.engine.dispose()


# ---------------------------------------------------------------------------
# numi's data
# ---------------------------------------------------------------------------
def seed_numi(s) -> Dict[str, Any]:
    s.add(m.Customer(id=CID, first_name=FIRST, last_name=LAST, email=EMAIL, phone=PHONE,
                     address="12 rue des Lilas, 75011 Paris", segment="standard", perimeter="particuliers",
                     satisfaction=2, recommendation=3, churn_risk=0.8,
                     crm_notes=[{"at": "2025-02-01T10:00:00", "note": f"{FIRST} {LAST} menace de partir",
                                 "quote": f"je m'appelle {FIRST} {LAST} et j'en ai assez", "tag": "attrition"}],
                     created_at=NOW - timedelta(days=400)))
    s.flush()
    sub = m.Subscription(customer_id=CID, plan="premium", started_on=date(2024, 3, 10), expires_on=date(2025, 3, 10))
    s.add(sub)
    for i, month in enumerate(("2025-01", "2025-02")):
        s.add(m.Invoice(id=f"FAC-2025-99{i:03d}", customer_id=CID, issued_on=date(2025, i + 1, 1), period=month,
                        amount_eur=Decimal("29.90"), label="Abonnement premium"))
    ws = m.Workshop(id="AT-RGPD-01", title="Bien utiliser sa box", topic="box", starts_at=NOW + timedelta(days=5))
    s.add(ws)
    s.flush()
    att = m.Attendance(workshop_id=ws.id, customer_id=CID, status="registered")
    s.add(att)

    t1 = m.Ticket(customer_id=CID, conversation_id=CONVERSATIONS["by_ticket"], scenario="box_down",
                  subject=f"Box en panne — {FIRST} {LAST}", status="waiting_customer",
                  waiting_for=f"que M. {LAST} envoie une photo de sa box",
                  waiting_since=NOW - timedelta(days=2),
                  data={"email": EMAIL, "verbatim": f"rappelez-moi au {PHONE_COMPACT}"},
                  created_at=NOW - timedelta(days=3), updated_at=NOW - timedelta(days=2))
    t2 = m.Ticket(customer_id=None, conversation_id=CONVERSATIONS["typed_phone"], scenario="callback_request",
                  subject="Demande de rappel", status="new", data={"phone": PHONE_INTL_SPACED},
                  created_at=NOW - timedelta(days=1), updated_at=NOW - timedelta(days=1))
    gdpr_ticket = m.Ticket(customer_id=CID, conversation_id=CONVERSATIONS["by_ticket"],
                           scenario="account_deletion_gdpr", subject="Suppression du compte", status="waiting_internal",
                           data={"erasure_due": "2025-03-03", "email": EMAIL},
                           created_at=NOW - timedelta(days=30), updated_at=NOW - timedelta(days=30))
    paul_ticket = m.Ticket(customer_id=OTHER, conversation_id=UNRELATED_CONV, scenario="invoice_question",
                           subject="Facture de Paul Martin", status="new", data={"email": "paul.martin@example.fr"},
                           created_at=NOW - timedelta(days=1), updated_at=NOW - timedelta(days=1))
    s.add_all([t1, t2, gdpr_ticket, paul_ticket])
    s.flush()
    s.add(m.TicketEvent(ticket_number=t1.number, at=NOW - timedelta(days=3), actor="bot", event="created",
                        to_status="new", reason=f"ouvert par {FIRST} {LAST}", details={"phone": PHONE_INTL}))
    s.add(m.TicketEvent(ticket_number=t1.number, at=NOW - timedelta(days=2), actor="hotliner:Camille",
                        event="status_changed", from_status="new", to_status="waiting_customer",
                        reason="photo demandée", details={"note": f"écrit à {EMAIL}"}))
    s.add(m.TicketEvent(ticket_number=paul_ticket.number, at=NOW - timedelta(days=1), actor="bot", event="created",
                        to_status="new", reason="ouvert par le client", details={}))

    # the outbox: to the customer (by ticket, by address, by key), about them (staff alerts), and to Paul
    def add(key, **kw):
        row = m.OutboxMessage(key=key, message_id=message_id(key), created_at=NOW - timedelta(days=1), **kw)
        s.add(row)
        return row

    add(f"reminder:{t1.number}:2025-03-01T10:00:00:0:gentle", ticket_number=t1.number, kind="gentle",
        channel="email", recipient=EMAIL, subject=f"Votre ticket TK-{t1.number:05d}",
        body=f"Bonjour {FIRST} {LAST},\nnous attendons votre photo.")
    add(f"reminder:{t1.number}:2025-03-01T10:00:00:1:followup", ticket_number=t1.number, kind="followup",
        channel="email", recipient=EMAIL, subject="Relance", body=f"Bonjour {FIRST},",
        not_before=NOW + timedelta(days=2))  # not sent yet: must never be
    add("sms:otp:771", kind="otp", channel="sms", recipient=PHONE_INTL, subject="Code", body="Votre code : 482913")
    add(f"contact:{CID}:email:2025-02-20T09:00:00:{EMAIL}", kind="contact_change", channel="email", recipient=EMAIL,
        subject="Vos coordonnées ont changé", body=f"Bonjour {FIRST}, votre adresse est désormais {EMAIL}.")
    add(f"renewal:{sub.id}:2025-03-10", kind="renewal", channel="email", recipient="z.quatremain@ancien-fai.fr",
        subject="Renouvellement", body="Bonjour,")  # to an address the customer had before: linked by its key
    paul_mail = add("renewal:paul:2025-03-10", kind="renewal", channel="email", recipient="paul.martin@example.fr",
                    subject="Votre renouvellement", body="Bonjour Paul Martin, votre abonnement expire bientôt.")

    # the conversations' side: handoff, callback, code, signals, alert, call task
    handoff = m.Handoff(conversation_id=CONVERSATIONS["by_ticket"], queue="level1", priority="high",
                        ticket_number=gdpr_ticket.number, customer_id=CID, status="waiting",
                        packet={"situation": "résiliation", "collected": {"email": EMAIL},
                                "transcript": [{"from": "customer", "text": f"je suis {FIRST} {LAST}"}]},
                        created_at=NOW - timedelta(hours=5))
    s.add(handoff)
    s.flush()
    s.add(m.HandoffMessage(handoff_id=handoff.id, sender="customer", text=f"je suis {FIRST} {LAST}, {PHONE}",
                           at=NOW - timedelta(hours=5)))
    s.add(m.HandoffMessage(handoff_id=handoff.id, sender="agent", author="Camille", text=f"Bonjour M. {LAST}",
                           at=NOW - timedelta(hours=4)))
    s.add(m.Callback(customer_id=CID, conversation_id=CONVERSATIONS["by_ticket"], ticket_number=t1.number,
                     phone=PHONE_COMPACT, slot_start=NOW + timedelta(days=1), subject=f"Rappeler M. {LAST} (box)",
                     context={"transcript": [f"{FIRST} : ma box ne marche plus"]}, status="scheduled"))
    s.add(m.OtpChallenge(conversation_id=CONVERSATIONS["by_otp"], email=EMAIL, customer_id=CID,
                         code_hash="0" * 64, expires_at=NOW - timedelta(days=1), verified_at=NOW - timedelta(days=1)))
    s.add(m.MessageSignal(event_key="tracker:rgpd-1", conversation_id=CONVERSATIONS["by_ticket"], customer_id=CID,
                          at=NOW - timedelta(hours=6), text=f"Je suis furieux, moi {FIRST} {LAST}", intent="cancel",
                          emotion="colere", polarity="negative", intensity=3, themes=["resiliation"],
                          keywords=[_fold(LAST), "furieux"]))
    s.add(m.MessageSignal(event_key="tracker:rgpd-2", conversation_id=CONVERSATIONS["typed_phone"], customer_id=None,
                          at=NOW - timedelta(hours=6), text=f"rappelez-moi au {PHONE_INTL_SPACED}",
                          emotion="neutre", polarity="neutral", intensity=0, themes=[], keywords=["rappel"]))
    s.add(m.MessageSignal(event_key="tracker:rgpd-3", conversation_id=CONVERSATIONS["by_slot"], customer_id=None,
                          at=NOW - timedelta(hours=7), text=f"Bonjour, c'est {FIRST}, j'ai reçu le code",
                          emotion="neutre", polarity="neutral", intensity=0, themes=[], keywords=[]))
    # (ingested before the proof: linked to the customer by Rasa's events only)
    paul_signal = m.MessageSignal(event_key="tracker:paul-1", conversation_id=UNRELATED_CONV, customer_id=OTHER,
                                  at=NOW - timedelta(hours=2), text="une question sur ma facture", emotion="neutre",
                                  polarity="neutral", intensity=0, themes=["facturation"], keywords=["facture"])
    s.add(paul_signal)
    alert = m.Alert(rule="attrition_1", conversation_id=CONVERSATIONS["by_ticket"], customer_id=CID,
                    message=f"Je résilie ! écrivez-moi à {EMAIL}", recipients=["supervision"],
                    signals={"emotion": {"label": "colere"}, "intensity": 3, "themes": ["resiliation"],
                             "keywords": [_fold(LAST), "resilie"], "segment": "standard", "satisfaction": 2,
                             "deliveries": [{"channel": "email", "recipient": "supervision", "status": "queued"}]},
                    created_at=NOW - timedelta(hours=6))
    s.add(alert)
    s.flush()
    add(f"alert:{alert.id}:email:supervision", kind="alert", channel="email", recipient=STAFF,
        subject=f"Attrition : {FIRST} {LAST}",
        body=f"Client : {FIRST} {LAST} ({CID})\n« Je résilie ! écrivez-moi à {EMAIL} »")
    add(f"alert:{alert.id}:webhook:supervision", kind="alert", channel="webhook", recipient="https://hooks.example/a",
        subject="attrition_1", body=json.dumps({"message": f"Je résilie ! écrivez-moi à {EMAIL}",
                                                "customer_name": f"{FIRST} {LAST}"}, ensure_ascii=False))
    add("digest:superviseur@numi.support:2025-03-02:41", kind="alert", channel="email", recipient=STAFF,
        subject="Alertes du jour",
        body=f"- {FIRST} {LAST} : colère\n- Paul Martin : question facture\n")  # several customers: redact, keep Paul
    s.add(m.CallTask(key=f"alert:{alert.id}", customer_id=CID, reason="attrition", urgent=True,
                     script=f"Appeler {FIRST} {LAST} au {PHONE}", due_on=NOW.date()))
    paul = s.get(m.Customer, OTHER)
    paul.crm_notes = list(paul.crm_notes or []) + [{"at": "2025-03-01T09:00:00", "note": "appel pour son voisin",
                                                    "quote": f"mon voisin {FIRST} {LAST} n'a plus internet"}]
    s.flush()
    return {"tickets": [t1.number, t2.number, gdpr_ticket.number], "paul_ticket": paul_ticket.number,
            "paul_mail": paul_mail.id, "paul_signal": paul_signal.id}


def seed_mailbox(box: Path) -> None:
    """A message that did not go through the outbox (SMTP fallback copy, an .eml)."""
    box.mkdir(parents=True, exist_ok=True)
    msg = build(Mail(to=EMAIL, subject="Votre attestation", body=f"Bonjour {FIRST} {LAST},", message_id="<x@numi>"),
                "numi.support <support@numi.support>")
    (box / "attestation-99.eml").write_bytes(bytes(msg))
    (box / "paul-note.txt").write_text("Rappel : appeler Paul Martin lundi.", encoding="utf-8")
    (box / "staff-note.txt").write_text(f"À faire : rappeler {FIRST} {LAST} pour sa box.\nEt Paul Martin lundi.",
                                        encoding="utf-8")


# ---------------------------------------------------------------------------
# the test
# ---------------------------------------------------------------------------
async def test_erasure_leaves_no_trace_anywhere_and_a_second_run_changes_nothing(services, settings, tracker_url):
    box = Path(settings.mailbox_dir)
    await seed_tracker(tracker_url)
    with services.sessions() as s, s.begin():
        ids = seed_numi(s)
    sent = outbox.flush(services.sessions, services.mailer, now=NOW)  # the mails reach the local mailbox
    assert sent["sent"] >= 6
    seed_mailbox(box)

    numi_engine, tracker_engine = services.engine, sa.create_engine(tracker_url)
    try:
        # everything is seeded where it should be
        assert len(scan(numi_engine, "numi")) > 20 and len(scan(tracker_engine, "tracker")) > 5
        assert len(scan_files(box)) >= 6
        with tracker_engine.connect() as c:
            before_events = {row.sender_id: row for row in c.execute(sa.text(
                "SELECT sender_id, count(*) AS n FROM events GROUP BY sender_id"))}
            paul_events = c.execute(sa.text("SELECT id, data FROM events WHERE sender_id = :s ORDER BY id"),
                                    {"s": UNRELATED_CONV}).all()
            paul_voisin = c.execute(sa.text("SELECT id, type_name FROM events WHERE sender_id = :s ORDER BY id"),
                                    {"s": PAUL_MENTIONS_CONV}).all()
        assert set(before_events) == set(CONVERSATIONS.values()) | {UNRELATED_CONV, PAUL_MENTIONS_CONV}
        paul_file = next(p for p in box.glob("*.json") if "paul.martin@example.fr" in p.read_text(encoding="utf-8"))
        paul_file_bytes = paul_file.read_bytes()
        with services.sessions() as s:
            paul_before = _customer_row(s, OTHER)
            paul_ticket_before = _ticket_dump(s, ids["paul_ticket"])

        with services.sessions() as s, s.begin():
            counts = gdpr.erase(s, CID, NOW, tracker_engine=tracker_engine, mailbox_dir=box)

        # nothing of the customer is left, anywhere
        leftovers = scan(numi_engine, "numi") + scan(tracker_engine, "tracker") + scan_files(box)
        assert not leftovers, "left after the erasure:\n" + "\n".join(leftovers)
        assert counts["already_erased"] is False
        assert counts["conversation_events_deleted"] == sum(before_events[c].n for c in CONVERSATIONS.values())
        assert counts["invoices_archived"] == 2 and counts["tickets"] == 3

        # the customer's conversations are gone from the tracker store; the others are all there
        with tracker_engine.connect() as c:
            after_events = {row.sender_id: row.n for row in c.execute(sa.text(
                "SELECT sender_id, count(*) AS n FROM events GROUP BY sender_id"))}
            assert c.execute(sa.text("SELECT id, data FROM events WHERE sender_id = :s ORDER BY id"),
                             {"s": UNRELATED_CONV}).all() == paul_events
            voisin = c.execute(sa.text("SELECT id, type_name, data FROM events WHERE sender_id = :s ORDER BY id"),
                               {"s": PAUL_MENTIONS_CONV}).all()
        assert after_events == {UNRELATED_CONV: len(paul_events), PAUL_MENTIONS_CONV: len(paul_voisin)}
        assert [(r.id, r.type_name) for r in voisin] == [tuple(r) for r in paul_voisin]
        assert any("mon voisin n'a plus internet" in json.loads(r.data).get("text", "") for r in voisin)
        assert all(json.loads(r.data)["event"] for r in voisin)  # still Rasa's JSON

        with services.sessions() as s:
            # invoices stay, whole, in the restricted archive
            invoices = list(s.scalars(select(m.Invoice).where(m.Invoice.customer_id == CID)))
            assert len(invoices) == 2 and all(i.archived for i in invoices)
            assert {i.amount_eur for i in invoices} == {Decimal("29.90")}
            customer = s.get(m.Customer, CID)
            assert customer.erased_at == NOW and customer.email is None and customer.crm_notes == []
            # one tombstone per ticket, the skeleton kept
            for number in ids["tickets"]:
                query = select(m.TicketEvent).where(m.TicketEvent.ticket_number == number)
                events = [e.event for e in s.scalars(query)]
                assert events.count("gdpr_erased") == 1
            assert s.get(m.Ticket, ids["tickets"][0]).status == "waiting_customer"
            # nothing will be sent to the customer any more
            assert not list(s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.status == "pending",
                                                                    m.OutboxMessage.recipient.is_(None))))
            assert all(c.status == "cancelled" for c in s.scalars(select(m.Callback)
                                                                  .where(m.Callback.customer_id == CID)))
            # unrelated data intact
            paul_after = _customer_row(s, OTHER)
            notes_before, notes_after = paul_before.pop("crm_notes"), paul_after.pop("crm_notes")
            assert paul_after == paul_before
            assert notes_after[:-1] == notes_before[:-1] and "voisin" in notes_after[-1]["quote"]
            assert _ticket_dump(s, ids["paul_ticket"]) == paul_ticket_before
            assert s.get(m.OutboxMessage, ids["paul_mail"]).body.startswith("Bonjour Paul Martin")
            assert s.get(m.MessageSignal, ids["paul_signal"]).text == "une question sur ma facture"
            digest = s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.key.like("digest:%"))).one()
            assert "Paul Martin : question facture" in digest.body
        assert paul_file.read_bytes() == paul_file_bytes
        assert (box / "paul-note.txt").read_text(encoding="utf-8") == "Rappel : appeler Paul Martin lundi."
        assert (box / "staff-note.txt").read_text(encoding="utf-8").endswith("\nEt Paul Martin lundi.")
        assert not (box / "attestation-99.eml").exists()

        # a second run changes nothing, and writes no second tombstone
        before = (dump(numi_engine), dump(tracker_engine), dump_files(box))
        with services.sessions() as s, s.begin():
            again = gdpr.erase(s, CID, NOW + timedelta(days=1), tracker_engine=tracker_engine, mailbox_dir=box)
        assert again["already_erased"] is True
        assert {k: v for k, v in again.items() if k not in ("already_erased", "conversations") and v} == {}
        assert (dump(numi_engine), dump(tracker_engine), dump_files(box)) == before
    finally:
        tracker_engine.dispose()


def _customer_row(s, customer_id: str) -> Dict[str, Any]:
    c = s.get(m.Customer, customer_id)
    return {col.name: getattr(c, col.name) for col in m.Customer.__table__.columns}


def _ticket_dump(s, number: int) -> Dict[str, Any]:
    t = s.get(m.Ticket, number)
    return {"ticket": {col.name: getattr(t, col.name) for col in m.Ticket.__table__.columns},
            "events": [(e.event, e.reason, e.details) for e in
                       s.scalars(select(m.TicketEvent).where(m.TicketEvent.ticket_number == number))]}


def test_erasing_an_unknown_customer_is_refused(db):
    with pytest.raises(ValueError):
        gdpr.erase(db, "CLT-99999", NOW)
