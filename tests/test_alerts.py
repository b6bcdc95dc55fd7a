"""Seed 002: every default rule fires on a message written for it and stays silent on
a close one that should not fire; delivery by e-mail (a real SMTP server), signed
webhook (a real local HTTP server, failing then recovering), CRM note, call task;
rate limits and the daily digest; ingestion from Rasa's real tracker store."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import replace
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from numi import churn, signals
from numi.alerts import delivery, ingest
from numi.alerts import engine as alerts
from numi.alerts import rules as rules_mod
from numi.db import models as m
from numi.devstack import free_port
from numi.reminders import outbox
from numi.signals.emotion import HELDOUT, evaluate, load_examples

NOW = datetime(2026, 11, 23, 10, 0)
RULES = Path(__file__).resolve().parent.parent / "config" / "alerts" / "rules.yml"


@pytest.fixture
def hooks():
    return {"crm": "http://127.0.0.1:9/crm"}


@pytest.fixture
def alert_settings(services, hooks):
    services.settings = replace(services.settings, alert_webhooks=hooks)
    return services.settings


def send(db, settings, text, customer=None, conv="conv-1", intent=None, scenario=None, now=NOW):
    msg = alerts.IncomingMessage(text=text, conversation_id=conv, customer_id=customer, intent=intent,
                                 scenario=scenario, at=now)
    fired = alerts.process(db, settings, msg, now=now)
    db.flush()
    return {a.rule: a for a in fired}


def leaver_like(db, cid="CLT-77001"):
    """A customer whose profile looks like the ones who left (starter, low scores, angry history)."""
    db.add(m.Customer(id=cid, first_name="Régis", last_name="Morel", email="regis.morel@example.fr",
                      segment="starter", perimeter="particuliers", satisfaction=1, recommendation=1, churned=False,
                      crm_notes=[], created_at=NOW - timedelta(days=500)))
    for k in range(10):
        db.add(m.MessageSignal(event_key=f"hist-{cid}-{k}", conversation_id=f"old-{k}", customer_id=cid,
                               at=NOW - timedelta(days=10 + k), text="…", intent="complain",
                               scenario="negative_feedback", emotion="anger" if k % 2 else "dissatisfaction",
                               polarity="negative", intensity=3, themes=["price"], keywords=[]))
    db.flush()
    churn.forget()
    return cid


# --- each default rule: one message that fires it, one close one that must not -------------
CASES = [
    # rule, customer, text, intent, fires
    ("verbatim_distribution", "CLT-00321",
     "C'est vraiment inadmissible, trois semaines que mon imprimante ne marche pas et personne ne me rappelle !",
     "still_broken", True),
    ("verbatim_distribution", "CLT-00321", "Bonjour, pouvez-vous m'envoyer la facture de mars s'il vous plaît ?",
     "request_invoice", False),
    ("attrition_explicit", "CLT-00321",
     "J'en ai marre, je vais résilier mon abonnement et aller chez un concurrent", "threaten_churn", True),
    ("attrition_explicit", "CLT-00321", "Mon abonnement se termine bientôt, comment le renouveler ?", "inform", False),
    ("vip_unhappy", "CLT-00322", "Je suis déçue, l'intervention d'hier n'a rien réglé et je perds du temps.",
     "still_broken", True),
    ("vip_unhappy", "CLT-00321", "Je suis déçu, l'intervention d'hier n'a rien réglé et je perds du temps.",
     "still_broken", False),
    ("high_satisfaction_disappointed", "CLT-00322",
     "Franchement je suis déçue, d'habitude c'est impeccable mais là ça traîne depuis dix jours.", "complain", True),
    ("high_satisfaction_disappointed", "CLT-00323",
     "Franchement je suis déçu, d'habitude c'est impeccable mais là ça traîne depuis dix jours.", "complain", False),
    ("best_verbatims", "CLT-00326",
     "Un immense merci à Karim, il a été d'une patience incroyable, je suis ravie !", "praise", True),
    ("best_verbatims", "CLT-00326", "Bien reçu, merci.", "thank", False),
    ("emotional_crm", "CLT-00321", "Je suis très inquiet, j'ai peur que mon compte bancaire ait été piraté",
     "report_security_incident", True),
    ("emotional_crm", "CLT-00321", "Mon numéro client est CLT-00321.", "inform", False),
    ("price_sensitivity", "CLT-00328", "Votre abonnement est devenu trop cher, je compare les offres en ce moment.",
     "complain", True),
    ("price_sensitivity", "CLT-00328", "Quel est le prix de l'atelier photo du mois prochain ?", "ask_workshop", False),
    ("team_rotation_sensitivity", "CLT-00321",
     "Encore un nouveau conseiller, je dois tout réexpliquer depuis le début, c'est usant.", "complain", True),
    ("team_rotation_sensitivity", "CLT-00321", "Mon conseiller m'a bien expliqué la procédure, merci.", "thank", False),
    ("life_moment_sales", "CLT-00326",
     "Nous déménageons le mois prochain et je voudrais acheter un nouvel ordinateur pour mon petit-fils.",
     "ask_workshop", True),
    ("life_moment_sales", "CLT-00326", "Mon ordinateur est lent depuis la dernière mise à jour.",
     "request_tech_support", False),
]


@pytest.mark.parametrize("rule,customer,text,intent,fires", CASES,
                         ids=[f"{c[0]}-{'fires' if c[4] else 'silent'}" for c in CASES])
def test_each_default_rule(db, alert_settings, rule, customer, text, intent, fires):
    fired = send(db, alert_settings, text, customer=customer, intent=intent)
    assert (rule in fired) == fires, {k: v.signals.get("emotion") for k, v in fired.items()}
    if fires:
        alert = fired[rule]
        assert alert.message == text and alert.customer_id == customer  # which message, quoted
        assert alert.recipients


def test_attrition_implicit_fires_for_a_leaver_profile_only(db, alert_settings):
    cid = leaver_like(db)
    fired = send(db, alert_settings, "Toujours pas de nouvelles de mon dossier.", customer=cid, intent="still_broken")
    assert "attrition_implicit" in fired
    customer = db.get(m.Customer, cid)
    assert customer.churn_risk >= 0.6
    assert any(n["rule"] == "attrition_implicit" for n in customer.crm_notes)
    # a loyal customer writing the same thing is not flagged
    fired = send(db, alert_settings, "Toujours pas de nouvelles de mon dossier.", customer="CLT-00326",
                 conv="conv-2", intent="still_broken")
    assert "attrition_implicit" not in fired
    assert db.get(m.Customer, "CLT-00326").churn_risk < 0.6


def test_attrition_explicit_delivers_everywhere_once_per_conversation(db, alert_settings):
    fired = send(db, alert_settings, "Je vais résilier mon contrat, vous êtes nuls", customer="CLT-00321",
                 intent="threaten_churn")
    alert = fired["attrition_explicit"]
    rows = list(db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.key.like(f"alert:{alert.id}:%"))))
    emails = {r.recipient for r in rows if r.channel == "email"}
    assert emails == {"helene.vidal@numi.support", "marc.olivier@numi.support", "thomas.garnier@numi.support"}
    hook = next(r for r in rows if r.channel == "webhook")
    assert json.loads(hook.body)["rule"] == "attrition_explicit" and hook.recipient.endswith("/crm")
    task = db.scalars(select(m.CallTask).where(m.CallTask.key == f"alert:{alert.id}")).one()
    assert task.urgent and task.customer_id == "CLT-00321"
    assert any(n["rule"] == "attrition_explicit" for n in db.get(m.Customer, "CLT-00321").crm_notes)
    again = send(db, alert_settings, "Je répète : je vais résilier mon abonnement !", customer="CLT-00321",
                 intent="threaten_churn")
    assert "attrition_explicit" not in again  # one angry conversation, one alert


def test_rate_limit_sends_the_rest_to_the_digest(db, alert_settings):
    for k in range(6):  # six angry conversations in the same hour, same perimeter
        send(db, alert_settings, f"C'est scandaleux, encore une panne, la {k + 1}e cette semaine !",
             customer="CLT-00321", conv=f"conv-{k}", intent="still_broken", now=NOW + timedelta(minutes=k))
    to_paris = list(db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.recipient == "helene.vidal@numi.support")))
    assert sum(r.channel == "email" for r in to_paris) == alert_settings.alert_rate_per_hour
    assert sum(r.channel == "digest" for r in to_paris) == 6 - alert_settings.alert_rate_per_hour
    assert alerts.digest(db, NOW.date(), NOW) >= 1
    digest = db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.key.like("digest:helene.vidal%"))).one()
    assert digest.channel == "email" and "la 6e cette semaine" in digest.body
    assert alerts.digest(db, NOW.date(), NOW) == 0  # gathered once


def test_best_verbatims_wait_for_the_daily_digest(db, alert_settings):
    send(db, alert_settings, "Bravo à toute l'équipe, service génial et super pédagogue !", customer="CLT-00326",
         intent="praise")
    rows = list(db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.recipient == "qualite@numi.support")))
    assert [r.channel for r in rows] == ["digest"]
    alerts.digest(db, NOW.date(), NOW)
    mail = db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.key.like("digest:qualite%"))).one()
    assert "super pédagogue" in mail.body and "Meilleurs verbatims" in mail.body


def test_attrition_alert_email_as_received_by_smtp(db, alert_settings, tmp_path):
    from numi.mail import Mailer
    from numi.settings import SmtpSettings
    from tests.smtp import SmtpServer

    fired = send(db, alert_settings, "Ras le bol de vos bugs, je vais résilier mon contrat chez vous !",
                 customer="CLT-00321", intent="threaten_churn")
    assert "attrition_explicit" in fired
    db.commit()
    with SmtpServer() as smtp:
        settings = replace(alert_settings, smtp=SmtpSettings(host="127.0.0.1", port=smtp.port))
        from numi import runtime

        stats = outbox.flush(runtime.get().sessions, Mailer(settings))
        again = outbox.flush(runtime.get().sessions, Mailer(settings))
        received = [msg for msg in smtp.messages if "ATTRITION 1" in msg["Subject"]]
    assert stats["sent"] >= 3 and again["sent"] == 0
    assert len(received) == 3  # three recipients, each exactly once
    body = received[0].get_content()
    assert "je vais résilier mon contrat chez vous" in body and "rappeler le client" in body
    assert "colère (intensité 3/3)" in body
    Path(tmp_path / "attrition_mail.txt").write_text(received[0].as_string())
    print("\n" + received[0].as_string() + "\n--- decoded body ---\n" + body)


class Hook(BaseHTTPRequestHandler):
    failures = 0
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.seen.append((dict(self.headers), body))
        code = 503 if int(self.headers["X-Numi-Attempt"]) <= Hook.failures else 200
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"ok" if code == 200 else b"boom")

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_server():
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Hook)
    Hook.failures, Hook.seen = 0, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/crm", server
    server.shutdown()
    server.server_close()


def test_webhook_is_signed_retried_with_backoff_then_delivered(db, services, hook_server):
    url, server = hook_server
    settings = replace(services.settings, alert_webhooks={"crm": url})
    send(db, settings, "Trop cher pour ce que c'est, je regarde la concurrence", customer="CLT-00328",
         intent="complain")
    db.commit()
    Hook.failures = 2  # every delivery fails twice, then the server recovers
    secret = "hook-secret"
    t = NOW
    first = delivery.flush(services.sessions, secret, now=t)
    assert first["retry"] >= 1 and first["sent"] == 0 and first["failed"] == 0
    assert delivery.flush(services.sessions, secret, now=t + timedelta(seconds=10))["retry"] == 0  # backing off
    with services.sessions() as s:
        row = s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.channel == "webhook")).first()
        first_wait = row.not_before - t
    assert first_wait == timedelta(seconds=30)
    delivery.flush(services.sessions, secret, now=t + timedelta(seconds=31))  # second failure → wait 1 min
    with services.sessions() as s:
        row = s.get(m.OutboxMessage, row.id)
        assert row.status == "pending" and row.not_before - (t + timedelta(seconds=31)) == timedelta(minutes=1)
    done = delivery.flush(services.sessions, secret, now=t + timedelta(minutes=5))
    assert done["sent"] == first["retry"]
    with services.sessions() as s:
        assert s.get(m.OutboxMessage, row.id).status == "sent"
    attempts = [h for h, _ in Hook.seen if h["X-Numi-Delivery"] == row.key]
    assert [h["X-Numi-Attempt"] for h in attempts] == ["1", "2", "3"]
    headers, body = Hook.seen[-1]
    expected = "sha256=" + hmac.new(secret.encode(), headers["X-Numi-Timestamp"].encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
    assert headers["X-Numi-Signature"] == expected
    payload = json.loads(body)
    assert payload["message"].startswith("Trop cher") and payload["rule"] in ("price_sensitivity", "attrition_explicit")
    assert delivery.flush(services.sessions, secret, now=t + timedelta(hours=1)) == {"sent": 0, "retry": 0, "failed": 0}


def test_webhook_to_a_dead_server_gives_up_after_max_attempts(db, services):
    settings = replace(services.settings, alert_webhooks={"crm": f"http://127.0.0.1:{free_port()}/nobody"})
    send(db, settings, "Beaucoup trop cher, franchement.", customer="CLT-00328", intent="complain")
    db.commit()
    t = NOW
    for _ in range(delivery.MAX_ATTEMPTS):
        delivery.flush(services.sessions, "s", now=t)
        t += timedelta(hours=3)
    with services.sessions() as s:
        row = s.scalars(select(m.OutboxMessage).where(m.OutboxMessage.channel == "webhook")).first()
        assert row.status == "failed" and row.attempts == delivery.MAX_ATTEMPTS and "Error" in row.last_error


def test_ingest_reads_rasa_tracker_store_once(services, tmp_path):
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from sqlalchemy import create_engine

    import asyncio

    db_path = tmp_path / "tracker.db"
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db_path))
    tracker = DialogueStateTracker("web-42", slots=[])
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("J'en ai marre, je vais résilier mon abonnement !",
                               {"name": "threaten_churn", "confidence": 0.97},
                               metadata={"numi": {"mode": "customer", "customer_id": "CLT-00321"}}))
    tracker.update(BotUttered("Je comprends votre colère."))
    tracker.update(UserUttered("{{7*7}} <script>alert(1)</script>", {"name": "nlu_fallback", "confidence": 0.3},
                               metadata={"numi": {"mode": "customer"}}))
    asyncio.run(store.save(tracker))
    engine = create_engine(f"sqlite:///{db_path}", future=True)
    assert ingest.run(services, engine) == 2
    assert ingest.run(services, engine) == 0  # the cursor moved on
    with services.sessions() as s:
        rows = list(s.scalars(select(m.MessageSignal).where(m.MessageSignal.conversation_id == "web-42")
                              .order_by(m.MessageSignal.id)))
        assert [r.customer_id for r in rows] == ["CLT-00321", "CLT-00321"]  # known for the rest of the conversation
        assert rows[0].scenario == "frustrated_customer" and "attrition_threat" in rows[0].themes
        assert rows[1].text == "{{7*7}} <script>alert(1)</script>"  # stored as text, never rendered
        fired = [a.rule for a in s.scalars(select(m.Alert).where(m.Alert.conversation_id == "web-42"))]
    assert "attrition_explicit" in fired
    engine.dispose()


def test_rules_file_is_validated(tmp_path):
    themes = list(signals.load_themes())
    good = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert len(rules_mod.parse(good, themes).rules) == 11
    for breakage, message in [
        (lambda r: r["rules"][0].update(colour="red"), "clés inconnues"),
        (lambda r: r["rules"][0]["when"].update(themes=["astrologie"]), "thème inconnu"),
        (lambda r: r["rules"][0].update(notify=["personne"]), "destinataire inconnu"),
        (lambda r: r["rules"][1]["when"].update(mood=["x"]), "condition inconnue"),
        (lambda r: r["rules"][1].update(deliver=["pigeon"]), "deliver"),
        (lambda r: r["rules"].append(dict(r["rules"][0])), "en double"),
    ]:
        raw = yaml.safe_load(RULES.read_text(encoding="utf-8"))
        breakage(raw)
        with pytest.raises(rules_mod.RuleError, match=message):
            rules_mod.parse(raw, themes)


def test_emotion_model_on_the_held_out_set():
    report = evaluate(signals.emotion_model(), load_examples(HELDOUT))
    assert report["n"] >= 250
    assert report["macro_f1"] >= 0.80, report
    assert report["polarity_accuracy"] >= 0.88, report


@pytest.mark.parametrize("text", ["", "   ", "{{7*7}}", "<script>alert(1)</script>", "/threaten_churn{\"a\":1}",
                                  "🙂" * 500, "x" * 100_000, "\x00\x01"])
def test_emotion_of_hostile_input(text):
    emotion = signals.emotion_model().predict(text)
    assert emotion.label in ("anger", "anxiety", "dissatisfaction", "neutral", "positive")
    assert 0 <= emotion.intensity <= 3


def test_churn_score_separates_leavers_on_held_out_customers(db):
    report = churn.evaluate(db)
    assert report["held_out_leavers"] >= 20
    assert report["auc"] >= 0.72, report
    assert report["mean_risk_leavers"] > report["mean_risk_stayers"]


def test_day_boundary_once_per_customer_day(db, alert_settings):
    fired = send(db, alert_settings, "C'est trop cher pour moi.", customer="CLT-00328", conv="a")
    assert "price_sensitivity" in fired
    assert "price_sensitivity" not in send(db, alert_settings, "Vraiment trop cher.", customer="CLT-00328", conv="b")
    tomorrow = NOW + timedelta(days=1)
    assert "price_sensitivity" in send(db, alert_settings, "Toujours trop cher.", customer="CLT-00328", conv="c",
                                       now=tomorrow)
    assert date(2026, 11, 24) == tomorrow.date()


# --- issue 14: ATTRITION 1 from the frustrated_customer playbook reaches its recipients -----
CHURN = "J'en ai marre, je vais résilier"
LEAVER = "CLT-00321"  # perimeter particuliers
ATTRITION_RECIPIENTS = {"directrice_agence_paris", "directeur_agence_lyon", "responsable_relation_client", "crm"}
ATTRITION_EMAILS = ["helene.vidal@numi.support", "marc.olivier@numi.support", "thomas.garnier@numi.support"]


async def playbook_hears(db, conv, text=CHURN):
    """action_start_playbook on the customer's message, as the Rasa server runs it."""
    from actions.playbooks import ActionStartPlaybook
    from tests.conftest import make_tracker, run_action

    tracker = make_tracker(conv, {}, text=text, intent="threaten_churn", confidence=0.97,
                           metadata={"numi": {"mode": "customer", "customer_id": LEAVER}})
    messages, events = await run_action(ActionStartPlaybook(), tracker)
    assert any("agacement" in (msg.get("text") or "") for msg in messages)  # frustrated_customer, step apaiser
    db.commit()  # the request's transaction ends


async def worker_reads(services, tmp_path, conv, texts):
    """The conversation's messages in Rasa's tracker store, then the alerts worker's pass over them."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from sqlalchemy import create_engine

    db_path = tmp_path / f"tracker-{conv}.db"
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db_path))
    tracker = DialogueStateTracker(conv, slots=[])
    for text in texts:
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(UserUttered(text, {"name": "threaten_churn", "confidence": 0.97},
                                   metadata={"numi": {"mode": "customer", "customer_id": LEAVER}}))
    await store.save(tracker)
    engine = create_engine(f"sqlite:///{db_path}", future=True)
    try:
        assert ingest.run(services, engine) == len(texts)
    finally:
        engine.dispose()


def assert_attrition_delivered_once(db, conv):
    found = list(db.scalars(select(m.Alert).where(m.Alert.conversation_id == conv,
                                                   m.Alert.rule == "attrition_explicit")))
    assert len(found) == 1, [(a.id, a.recipients) for a in found]
    alert = found[0]
    assert set(alert.recipients) == ATTRITION_RECIPIENTS  # as config/alerts/rules.yml routes it
    rows = list(db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.kind == "alert",
                                                          m.OutboxMessage.key.like(f"alert:{alert.id}:%"))))
    assert sorted(r.recipient for r in rows if r.channel == "email") == ATTRITION_EMAILS  # each exactly once
    assert [r.recipient for r in rows if r.channel == "webhook"] == ["http://127.0.0.1:9/crm"]
    assert len(list(db.scalars(select(m.CallTask).where(m.CallTask.customer_id == LEAVER,
                                                        m.CallTask.reason == "attrition")))) == 1
    notes = [n for n in db.get(m.Customer, LEAVER).crm_notes or [] if n["rule"] == "attrition_explicit"]
    assert len(notes) == 1
    return alert


async def test_frustrated_customer_playbook_then_worker_delivers_attrition_once(db, services, alert_settings,
                                                                                 tmp_path):
    await playbook_hears(db, "web-churn-1")
    alert = assert_attrition_delivered_once(db, "web-churn-1")  # routed by the playbook's own record
    assert alert.signals["playbook"]["scenario"] == "frustrated_customer"
    db.commit()
    await worker_reads(services, tmp_path, "web-churn-1", [CHURN])  # then the worker reads the same message
    db.expire_all()
    assert assert_attrition_delivered_once(db, "web-churn-1").id == alert.id


async def test_worker_then_frustrated_customer_playbook_delivers_attrition_once(db, services, alert_settings,
                                                                                 tmp_path):
    await worker_reads(services, tmp_path, "web-churn-2", [CHURN])  # the worker reads the threat first
    db.expire_all()
    alert = assert_attrition_delivered_once(db, "web-churn-2")
    await playbook_hears(db, "web-churn-2")  # then the playbook records ATTRITION 1 too
    db.expire_all()
    again = assert_attrition_delivered_once(db, "web-churn-2")
    assert again.id == alert.id and again.signals["playbook"]["step"] == "apaiser"


def test_an_alert_recorded_without_delivery_does_not_silence_the_rule(db, alert_settings):
    """An alert row never routed (as playbooks recorded them before issue 14) is delivered by
    the rule when its message comes, instead of counting as « already fired »."""
    db.add(m.Alert(rule="attrition_explicit", conversation_id="web-churn-3", customer_id=LEAVER, message=CHURN,
                   created_at=NOW, signals={"scenario": "frustrated_customer", "step": "apaiser"}, recipients=[]))
    db.flush()
    fired = send(db, alert_settings, CHURN, customer=LEAVER, conv="web-churn-3", intent="threaten_churn")
    assert "attrition_explicit" in fired
    assert_attrition_delivered_once(db, "web-churn-3")
