"""Every playbook walked end to end, every branch at least once, in both modes,
with every template rendered (strict: a rendering error fails the test)."""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Set, Tuple

import pytest
from sqlalchemy import select

from numi import runtime
from numi.db import models as m
from numi.playbooks.effects import EffectEnv
from numi.playbooks.engine import Parsed, Walker, new_state

HOSTILE = "{{7*7}} <script>alert(1)</script> /request_refund{\"x\":1}"
MAX_WALKS = 80
MAX_TURNS = 40


VARIANTS = {
    "email": ["paul.martin@example.fr", "inconnu@nulle-part.fr", "sophie.blanc@example.fr"],
    "phone": ["06 12 34 56 78"],
    "date": ["lundi prochain", "le 3 mars 1999"],
    "datetime": ["lundi prochain à 10h", "dimanche à 3h", "mardi prochain à 11h", "mercredi prochain à 14h30",
                 "jeudi prochain à 16h"],
    "ticket_id": ["TK-00456", "TK-00891", "TK-99999", "non"],
    "customer_number": ["CLT-00321"],
    "number": ["1", "7"],
    "name": ["Paul Martin"],
    "text": [HOSTILE, "non", "sécurité et mots de passe", "1", "mars 1999", "c'est trop cher"],
}


def answers(db, step) -> List[Parsed]:
    """The answers tried at a step that collects a value (each one is a branch)."""
    c = step.collect
    if c.type == "code":
        row = db.scalars(select(m.OutboxMessage).where(m.OutboxMessage.kind == "otp")
                         .order_by(m.OutboxMessage.id.desc())).first()
        code = re.search(r"\b(\d{6})\b", row.body).group(1) if row else "123456"
        texts = [code, "000000" if code != "000000" else "111111"]
    elif c.options:
        texts = list(c.options)
    else:
        texts = list(VARIANTS[c.type])
    if c.optional and "non" not in texts:
        texts.append("non")
    if c.escape and c.escape.keywords:
        texts.append(c.escape.keywords[0])  # the way out (« pas reçu » while a code is expected)
    return [Parsed(text=t, intent="deny" if t == "non" else "inform", confidence=0.9) for t in texts]


def walk(db, lib, pb_id: str, mode: str, customer: Optional[str], conv: str, tries: Dict,
         visited: Set[Tuple[str, str]], outputs: List[str], entry: Optional[str] = None) -> None:
    """One walk; at each branch point, take the option tried least so far (coverage-guided)."""
    settings = runtime.get().settings
    env = EffectEnv(session=db, settings=settings, conversation_id=conv, customer_id=customer, mode=mode,
                    actor="test", agent_name="Camille", library=lib)
    pb = lib[pb_id]
    frame_slots = {}
    if "subscription" in pb.context:
        frame_slots["subscription_id"] = db.scalars(select(m.Subscription.id)).first()
    w = Walker(lib, env, mode=mode, detected=Parsed(text="x", intent="inform", confidence=0.9))
    w.strict = True
    outcome = w.start(new_state(mode), pb_id, entry_intent=entry, frame_slots=frame_slots,
                      ticket="TK-00456" if "ticket" in pb.context else None)
    path: List[Tuple[str, int]] = []
    for _ in range(MAX_TURNS):
        outputs.extend(o.text or str(o.card) for o in outcome.outputs)
        state = outcome.state
        visited.update((p, s) for p, s in state.get("trail", []))
        if not state["stack"] or state["stack"][0]["id"] != pb_id:
            return
        frame = state["stack"][-1]
        if state.get("pending"):
            msg = Parsed(text="Continuer ici" if state["pending"] == "human" else "Reprendre", intent="affirm",
                         confidence=0.9)
        else:
            step = lib[frame["id"]].steps[frame["step"]]
            options = [Parsed(text=c.label) for c in step.choices] if step.choices else answers(db, step)
            key = (frame["id"], step.id, tuple(path[-2:]))
            counts = tries.setdefault(key, [0] * len(options))
            counts.extend([0] * (len(options) - len(counts)))
            pick = min(range(len(options)), key=lambda i: counts[i])
            counts[pick] += 1
            if step.choices:  # the context of a decision: the last choices made (not free-text variants)
                path.append((step.id, pick))
            msg = options[pick]
        w = Walker(lib, env, mode=mode, detected=msg)
        w.strict = True
        outcome = w.handle(state, msg)
    visited.update((p, s) for p, s in outcome.state.get("trail", []))


def explore(db, lib, pb_id: str, mode: str, customer: Optional[str], visited, outputs) -> int:
    tries: Dict = {}
    seen: Set[Tuple[str, str]] = set()  # this exploration's own coverage
    stale, walks = 0, 0
    entries = [None, *lib[pb_id].entry]
    while stale < 12 and walks < MAX_WALKS:
        before = len(seen)
        walk(db, lib, pb_id, mode, customer, f"walk-{pb_id}-{mode}-{customer}-{walks}", tries, seen, outputs,
             entry=entries[walks % len(entries)])
        walks += 1
        stale = stale + 1 if len(seen) == before else 0
    visited |= seen
    return walks


# Branches that need a precise sequence or fresh data: (playbook, mode, customer, entry, answers, step reached)
SCRIPTED = [
    ("pending_ticket_reminder", "customer", "CLT-00321", "still_broken",
     ["toujours pareil, les doublons reviennent", "📅 Prendre un rendez-vous", "mardi prochain à 11h"], "rdv_confirme"),
    ("renewal_reminder", "customer", "CLT-00322", None,
     ["❓ J'ai une question", "📦 Ce qui est inclus", "💬 Parler à un conseiller"], "conseiller"),
    ("ticket_followup", "customer", "CLT-00329", None, ["non"], "aucun_ticket"),
    ("upsell_opportunity", "agent", "CLT-00326", None, [], "pas_encore"),
    ("workshop_certificate", "customer", "CLT-00329", None, ["l'atelier sécurité"], "echec_envoi"),
    ("workshop_opportunity", "customer", None, None,
     ["la messagerie", "1", "paul.martin@example.fr", "000000", "Un conseiller"], "transfert"),
]
# After hours (the office closed whatever the time of the test): human_handoff's call-back branches
CLOSED = [
    ("human_handoff", "customer", None, None, ["non", "Être rappelé(e) à la réouverture", "06 12 34 56 78"],
     "rappel_ok"),
    ("human_handoff", "customer", "CLT-00321", None, ["non", "Être rappelé(e) à la réouverture"], "rappel_connu"),
    ("human_handoff", "agent", None, None, ["non", "Laisser ma demande par écrit"], "transfert"),
]


def closed_now(settings):
    """The same settings with the office open half an hour a day, three hours from now."""
    import dataclasses
    from datetime import time as clock_time

    hour = (EffectEnv(session=None, settings=settings, conversation_id="-").local_now().hour + 3) % 24
    return dataclasses.replace(settings,
                               opening_hours={d: (clock_time(hour, 0), clock_time(hour, 30)) for d in range(7)})


def scripted(db, lib, pb_id, mode, customer, entry, answers_, conv, settings=None) -> List[Tuple[str, str]]:
    env = EffectEnv(session=db, settings=settings or runtime.get().settings, conversation_id=conv,
                    customer_id=customer, mode=mode, actor="test", agent_name="Camille", library=lib)
    pb = lib[pb_id]
    slots = {"subscription_id": db.scalars(select(m.Subscription.id).where(
        m.Subscription.customer_id == customer)).first()} if "subscription" in pb.context else {}
    w = Walker(lib, env, mode=mode)
    w.strict = True
    outcome = w.start(new_state(mode), pb_id, entry_intent=entry, frame_slots=slots,
                      ticket="TK-00456" if "ticket" in pb.context else None)
    for text in answers_:
        w = Walker(lib, env, mode=mode)
        w.strict = True
        outcome = w.handle(outcome.state, Parsed(text=text, intent="deny" if text == "non" else "inform",
                                                 confidence=0.9))
    return [tuple(t) for t in outcome.state.get("trail", [])]


@pytest.mark.slow
def test_every_playbook_every_step_in_both_modes(db, services):
    lib = services.library
    visited: Set[Tuple[str, str]] = set()
    outputs: List[str] = []
    for i, (pb_id, mode, customer, entry, answers_, expected) in enumerate(SCRIPTED):
        trail = scripted(db, lib, pb_id, mode, customer, entry, answers_, f"scripted-{i}")
        assert (pb_id, expected) in trail, f"{pb_id}: {expected} not reached, trail {trail}"
        visited.update(trail)
    for i, (pb_id, mode, customer, entry, answers_, expected) in enumerate(CLOSED):
        trail = scripted(db, lib, pb_id, mode, customer, entry, answers_, f"closed-{i}", closed_now(services.settings))
        assert (pb_id, expected) in trail, f"{pb_id} after hours: {expected} not reached, trail {trail}"
        visited.update(trail)
    for mode, pb_id in [(mode, pb_id) for mode in ("customer", "agent") for pb_id in lib]:
        # anonymous; a regular customer with tickets; one with no e-mail and no ticket; for upsell
        # also a satisfied VIP and a satisfied customer who is not (yet) a regular
        customers = ((None, "CLT-00321", "CLT-00329")
                     + (("CLT-00322", "CLT-00326") if pb_id == "upsell_opportunity" else ()))
        for customer in customers:
            explore(db, lib, pb_id, mode, customer, visited, outputs)
            db.flush()
    missing = sorted({(pb.id, sid) for pb in lib.values() for sid in pb.steps} - visited)
    assert not missing, f"steps never reached: {missing}"
    text = "\n".join(outputs)
    assert "{{7*7}}" in text  # a customer's template syntax is shown literally...
    assert "49 <script>" not in text  # ...and never evaluated
