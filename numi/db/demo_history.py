"""Demo history for ATTRITION 2: past customers (ids CLT-Hxxxx), some of whom left,
with the signals of their past messages.

It is synthetic, made by a documented process with a fixed seed: each customer
has a hidden dissatisfaction level that shows through what they wrote about
(subjects, emotions, themes) and their satisfaction and recommendation scores, and
that — with their segment and noise — decides whether they left. The churn model
never sees the hidden level: it must find it in the signals, as it would in a real
deployment trained on real departures. The verbatims are taken from numi's own
emotion corpus, with the emotion they were written for.
"""
from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any, Dict, List

from sqlalchemy import insert
from sqlalchemy.orm import Session

from numi.db import models as m
from numi.signals.emotion import TRAIN, load_examples

MARKER = "demo_history_loaded"
PREFIX = "CLT-H"
SIZE = 480
SEED = 2026
FIRST = ["Alain", "Brigitte", "Cédric", "Danielle", "Éric", "Fatima", "Gilles", "Hélène", "Isabelle", "Jacques",
         "Karima", "Laurent", "Monique", "Nicolas", "Océane", "Patrick", "Quentin", "Rachida", "Sylvie", "Thierry"]
LAST = ["Arnaud", "Bertin", "Chevalier", "Da Silva", "Fabre", "Gauthier", "Hamon", "Jacob", "Klein", "Leroy",
        "Marchand", "Noël", "Olivier", "Perrot", "Renaud", "Schmitt", "Tessier", "Vasseur", "Weber", "Zimmer"]
SUBJECTS = [  # (scenario, intent, weight when content, weight when unhappy)
    ("tech_support", "request_tech_support", 5.0, 3.0), ("bug_report", "report_bug", 1.0, 1.5),
    ("security_incident", "report_security_incident", 0.6, 0.6), ("invoice_request", "request_invoice", 1.0, 1.5),
    ("refund_request", "request_refund", 0.3, 1.5), ("negative_feedback", "complain", 0.3, 2.0),
    ("frustrated_customer", "threaten_churn", 0.05, 1.0), ("supervisor_request", "request_supervisor", 0.1, 0.8),
    ("early_suspension", "request_suspension", 0.05, 0.6), ("workshop_opportunity", "ask_workshop", 1.5, 0.3),
]


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def _pick(rng: random.Random, weights: List[float]) -> int:
    return rng.choices(range(len(weights)), weights=weights)[0]


def load_history(session: Session, now: datetime, size: int = SIZE, seed: int = SEED) -> int:
    """Insert the demo history unless it is there. Returns the number of customers added."""
    if session.get(m.Meta, MARKER) is not None:
        return 0
    rng = random.Random(seed)
    corpus: Dict[str, List[str]] = {}
    for ex in load_examples(TRAIN):
        corpus.setdefault(ex["emotion"], []).append(ex["text"])
    customers: List[Dict[str, Any]] = []
    signals: List[Dict[str, Any]] = []
    for n in range(1, size + 1):
        cid = f"{PREFIX}{n:04d}"
        segment = rng.choices(["vip", "standard", "starter"], weights=[15, 55, 30])[0]
        perimeter = rng.choices(["particuliers", "professionnels", "seniors"], weights=[50, 30, 20])[0]
        unhappy = rng.gauss(0, 1)  # hidden: never stored
        left = rng.random() < _sigmoid(-1.4 + 1.6 * unhappy + 0.6 * (segment == "starter") - 0.8 * (segment == "vip")
                                       + rng.gauss(0, 0.5))
        created = now - timedelta(days=rng.randint(400, 1500))
        customers.append({
            "id": cid, "first_name": rng.choice(FIRST), "last_name": rng.choice(LAST), "email": None, "phone": None,
            "segment": segment, "perimeter": perimeter,
            "satisfaction": max(1, min(5, round(3.8 - 0.9 * unhappy + rng.gauss(0, 0.8))))
            if rng.random() < 0.8 else None,
            "recommendation": max(0, min(10, round(7 - 1.8 * unhappy + rng.gauss(0, 1.5))))
            if rng.random() < 0.7 else None,
            "churned": left, "churn_risk": None, "crm_notes": [], "created_at": created,
        })
        mix = _sigmoid(1.3 * unhappy - 0.3)
        for k in range(rng.randint(2, 18)):
            at = now - timedelta(days=rng.randint(1, 360), minutes=rng.randint(0, 1440))
            scenario, intent, _, _ = SUBJECTS[_pick(rng, [c * (1 - mix) + u * mix for _, _, c, u in SUBJECTS])]
            negative = rng.random() < _sigmoid(-0.6 + 1.4 * unhappy)
            if negative:
                emotion = rng.choices(["dissatisfaction", "anger", "anxiety"],
                                      weights=[5, 2 + 2 * max(0, unhappy), 2])[0]
            else:
                emotion = "positive" if rng.random() < _sigmoid(-0.4 - unhappy) else "neutral"
            intensity = 0 if emotion == "neutral" else max(1, min(3, round(1.6 + 0.6 * unhappy + rng.gauss(0, 0.7))))
            themes = []
            if rng.random() < 0.04 + 0.12 * (unhappy > 0.4):
                themes.append("price")
            if rng.random() < 0.02 + 0.08 * (unhappy > 0.9):
                themes.append("team_rotation")
            if emotion == "anger" and rng.random() < 0.25:
                themes.append("attrition_threat")
            if emotion == "positive" and rng.random() < 0.4:
                themes.append("praise")
            signals.append({
                "event_key": f"demo-history:{cid}:{k}", "conversation_id": f"demo-history-{cid}-{k}",
                "customer_id": cid, "at": at, "mode": "customer", "text": rng.choice(corpus[emotion]),
                "intent": intent, "scenario": scenario, "emotion": emotion,
                "polarity": {"positive": "positive", "neutral": "neutral"}.get(emotion, "negative"),
                "intensity": intensity, "themes": themes, "keywords": [],
            })
    session.execute(insert(m.Customer), customers)
    session.execute(insert(m.MessageSignal), signals)
    session.add(m.Meta(key=MARKER, value=now.isoformat()))
    return len(customers)
