"""The playbook walker, run through the real Rasa actions over a real database."""
import re

from sqlalchemy import select

from actions.playbooks import ActionStartPlaybook, ValidatePlaybookForm
from numi.db import models as m
from tests.conftest import make_tracker, run_action


class Conversation:
    """Drives action_start_playbook / validate_playbook_form like the Rasa server does."""

    def __init__(self, db, sender="conv-1", metadata=None):
        self.db, self.sender, self.slots = db, sender, {}
        self.metadata = metadata or {"numi": {"mode": "customer"}}
        self.bot = []

    async def say(self, text, intent, confidence=0.95, entities=None):
        active = bool((self.slots.get("pb_state") or {}).get("stack"))
        tracker = make_tracker(self.sender, dict(self.slots, requested_slot="playbook_reply") if active else self.slots,
                               text=text, intent=intent, confidence=confidence, entities=entities,
                               metadata=self.metadata, active_loop="playbook_form" if active else None,
                               extracted={"playbook_reply": text} if active else None)
        if active:
            action = ValidatePlaybookForm()
            domain = {"forms": {"playbook_form": {"required_slots": ["playbook_reply"]}}}
            messages, events = await run_action(action, tracker, domain)
        else:
            messages, events = await run_action(ActionStartPlaybook(), tracker)
        for e in events:
            if e.get("event") == "slot":
                self.slots[e["name"]] = e["value"]
        self.db.flush()
        self.bot = messages
        return messages

    @property
    def texts(self):
        return "\n".join(m.get("text") or "" for m in self.bot)

    @property
    def frame(self):
        stack = (self.slots.get("pb_state") or {}).get("stack") or []
        return stack[-1] if stack else None


async def test_gdpr_deletion_anonymous_customer_proves_identity_by_code(db):
    conv = Conversation(db)
    await conv.say("je veux supprimer mon compte et mes données", "request_account_deletion")
    assert "vérifier votre identité" in conv.texts
    assert conv.frame["step"] == "demander_email"
    await conv.say("c'est pas une adresse", "inform")
    assert "pas reconnu" in conv.texts  # the re-ask
    await conv.say("paul.martin@example.fr", "inform",
                   entities=[{"entity": "email", "value": "paul.martin@example.fr"}])
    otp = db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.kind == "otp")).one()
    assert otp.recipient == "paul.martin@example.fr"
    code = re.search(r"\b(\d{6})\b", otp.body).group(1)
    wrong = "000000" if code != "000000" else "111111"
    await conv.say(wrong, "inform")
    assert conv.frame["step"] == "identite_echec"
    # a fresh conversation, right code this time
    conv2 = Conversation(db, sender="conv-2")
    await conv2.say("supprimez mes données svp", "request_account_deletion")
    await conv2.say("paul.martin@example.fr", "inform")
    otp2 = db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.kind == "otp")
                      .order_by(m.OutboxMessage.id.desc())).first()
    await conv2.say(re.search(r"\b(\d{6})\b", otp2.body).group(1), "inform")
    assert conv2.slots.get("customer_id") == "CLT-00321"
    assert "Paul" in conv2.texts and "10 ans" in conv2.texts
    await conv2.say("Oui, je confirme la suppression", "affirm")
    assert "au plus tard le" in conv2.texts
    ticket = db.scalars(select(m.Ticket).where(m.Ticket.conversation_id == "conv-2")).one()
    assert ticket.scenario == "account_deletion_gdpr" and ticket.priority == "high"
    assert ticket.customer_id is None or ticket.customer_id == "CLT-00321"
    assert "erasure_due" in ticket.data
    assert [e.event for e in ticket.history][:1] == ["created"]
    assert conv2.frame is None  # the playbook ended


async def test_unknown_email_gets_the_same_answer(db):
    conv = Conversation(db)
    await conv.say("droit à l'oubli", "request_account_deletion")
    await conv.say("personne@nulle-part.fr", "inform")
    assert "Si cette adresse correspond" in conv.texts
    assert db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.kind == "otp")).first() is None


async def test_hostile_values_are_shown_literally(db):
    conv = Conversation(db, metadata={"numi": {"mode": "customer", "customer_id": "CLT-00321"}})
    await conv.say("supprimer mon compte", "request_account_deletion")
    # identified customer goes straight to the explanation
    assert conv.frame["step"] == "rappel_cadre"
    conv2 = Conversation(db, sender="conv-x")
    await conv2.say("supprimer mon compte", "request_account_deletion")
    await conv2.say("{{7*7}}<script>alert(1)</script>@x.fr", "inform")
    assert "49" not in conv2.texts


async def test_three_misses_offer_a_human(db):
    conv = Conversation(db, metadata={"numi": {"mode": "customer", "customer_id": "CLT-00321"}})
    await conv.say("supprimer mon compte", "request_account_deletion")
    for _ in range(2):
        await conv.say("la météo demain ?", "out_of_scope", confidence=0.5)
    assert "conseiller" not in conv.texts.lower() or conv.slots["pb_state"]["pending"] != "human"
    await conv.say("une pizza", "nlu_fallback", confidence=0.3)
    assert conv.slots["pb_state"]["pending"] == "human"
    assert "conseiller" in conv.texts


async def test_stop_leaves_cleanly(db):
    conv = Conversation(db)
    await conv.say("supprimer mon compte", "request_account_deletion")
    assert conv.frame["step"] == "demander_email"
    await conv.say("stop, annulez", "stop", confidence=0.9)
    assert conv.frame is None
    assert "j'arrête là" in conv.texts


async def test_agent_assist_mode_shows_prompter_cards(db):
    conv = Conversation(db, sender="call-1", metadata={"numi": {"mode": "agent", "agent_name": "Camille"}})
    await conv.say("le client veut supprimer son compte", "request_account_deletion", confidence=0.91)
    cards = [m["custom"] for m in conv.bot if m.get("custom")]
    assert cards and all(c["type"] == "prompter" for c in cards)
    last = cards[-1]
    assert last["awaiting"] and last["scenario"] == "account_deletion_gdpr"
    assert "vérifier votre identité" in cards[0]["script"]
    assert last["detected"]["intent"] == "request_account_deletion"
    assert any("mot de passe" in w for w in last["warnings"])
    assert not any(m.get("text") for m in conv.bot)  # nothing is said to a customer


async def test_a_step_can_route_stop_itself(db):
    """At the confirmation step, « stop » is the playbook's own « no » branch."""
    conv = Conversation(db, metadata={"numi": {"mode": "customer", "customer_id": "CLT-00321"}})
    await conv.say("supprimer mon compte", "request_account_deletion")
    await conv.say("non stop", "stop", confidence=0.9)
    assert conv.frame is None and "conservé" in conv.texts


async def test_after_a_handoff_the_walker_stops_even_with_a_queued_topic(db):
    conv = Conversation(db)
    await conv.say("je veux parler à un conseiller", "request_human")
    await conv.say("ma facture est fausse", "request_invoice", confidence=0.95)
    assert "c'est votre réponse à ma question" in conv.texts  # an answer, or a second request?
    await conv.say("Les deux", "affirm")
    if conv.frame and conv.frame["step"] == "ferme":  # after hours: a call-back, or the request in writing
        await conv.say("Laisser ma demande par écrit", "inform")
    assert "Je vous mets en relation" in conv.texts or "reprendra votre demande" in conv.texts  # open / closed
    assert conv.frame is None and conv.slots["pb_state"]["queue"] == []
    assert conv.slots["handoff"]["status"] == "waiting"
    assert "Quelle est l'adresse e-mail" not in conv.texts


async def test_another_scenario_mid_way_is_handled_then_resumed(db):
    conv = Conversation(db, metadata={"numi": {"mode": "customer", "customer_id": "CLT-00321"}})
    await conv.say("je veux supprimer mon compte", "request_account_deletion")
    assert conv.frame["step"] == "rappel_cadre"
    await conv.say("au fait je veux parler à un conseiller humain", "request_human", confidence=0.93)
    assert "mets de côté" in conv.texts
    stack = conv.slots["pb_state"]["stack"]
    assert [f["id"] for f in stack] == ["account_deletion_gdpr", "human_handoff"]


async def test_a_question_mid_way_is_answered_then_the_step_is_asked_again(db):
    conv = Conversation(db, metadata={"numi": {"mode": "customer", "customer_id": "CLT-00321"}})
    await conv.say("je veux supprimer mon compte", "request_account_deletion")
    await conv.say("vous êtes un robot ?", "bot_challenge", confidence=0.97)
    assert "assistant virtuel" in conv.texts and "Confirmez-vous" in conv.texts
    assert conv.frame["step"] == "rappel_cadre"


async def test_a_finished_nested_playbook_offers_to_resume(db, services):
    from numi.playbooks.effects import EffectEnv
    from numi.playbooks.engine import Parsed, Walker, new_state

    env = EffectEnv(session=db, settings=services.settings, conversation_id="nest", customer_id="CLT-00321",
                    library=services.library)
    w = Walker(services.library, env)
    out = w.start(new_state(), "account_deletion_gdpr")
    out = Walker(services.library, env).handle(out.state, Parsed("c'est quoi vos ateliers ?", "ask_workshop", 0.95))
    assert [f["id"] for f in out.state["stack"]] == ["account_deletion_gdpr", "workshop_opportunity"]
    out = Walker(services.library, env).handle(out.state, Parsed("stop", "stop", 0.95))
    assert out.state["pending"] == "resume" and "On reprend" in " ".join(o.text or "" for o in out.outputs)
    out = Walker(services.library, env).handle(out.state, Parsed("Reprendre", "affirm", 0.9))
    assert out.state["stack"][-1]["step"] == "rappel_cadre" and out.state["pending"] is None


async def test_a_new_session_keeps_what_was_said_and_offers_to_resume(db):
    from actions.session import ActionSessionStart

    conv = Conversation(db, metadata={"numi": {"mode": "customer", "customer_id": "CLT-00321"}})
    await conv.say("je veux supprimer mon compte", "request_account_deletion")
    tracker = make_tracker("test-conv", dict(conv.slots, customer_id="CLT-00321"))
    messages, events = await run_action(ActionSessionStart(), tracker)
    names = {e.get("name") for e in events if e.get("event") == "slot"}
    assert "pb_state" in names
    assert "customer_id" not in names  # a proof of identity does not outlive its session
    assert "Bon retour" in messages[0]["text"] and messages[0]["buttons"]
    assert any(e.get("event") == "active_loop" and e.get("name") == "playbook_form" for e in events)


async def test_a_callback_outside_opening_hours_is_refused_with_free_slots(db, services):
    from datetime import timedelta

    from numi.playbooks.effects import EffectEnv
    from numi.reminders import callbacks

    env = EffectEnv(session=db, settings=services.settings, conversation_id="cb", customer_id="CLT-00321",
                    library=services.library)
    lib = services.library
    frame = {"slots": {}, "ticket": None}
    sunday = (env.local_now() + timedelta(days=(6 - env.local_now().weekday()) or 7)).replace(hour=10, minute=0)
    refused = callbacks.book(env, frame, lib["callback_request"], sunday.isoformat(), "facture", None)
    assert refused["callback_ok"] is False and len(refused["callback_alternatives"]) == 3
    past = (env.local_now() - timedelta(days=1)).replace(hour=10, minute=0)
    booked = callbacks.book(env, frame, lib["callback_request"], past.isoformat(), "facture", None)
    assert booked["callback_ok"] is False
    monday = sunday + timedelta(days=1)
    ok = callbacks.book(env, frame, lib["callback_request"], monday.isoformat(), "facture", None)
    assert ok["callback_ok"] is True and "lundi" in ok["callback_when"]
    row = db.scalars(select(m.Callback)).one()
    assert row.phone == "06 12 34 56 78" and row.context["scenario"] == "callback_request"
