"""ATTRITION 2 (seed 002): a churn-risk score learned from the customers who left.

Each customer becomes a vector over segment × subjects × emotions × themes ×
satisfaction × recommendation, read from their record and their message signals
(the last 365 days). A logistic regression learns from customers whose outcome is
known (left: `churned`; stayed: active for a year). `evaluate` reports how well
it separates leavers from stayers on customers held out of training.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Sequence, Tuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from numi.clock import utcnow
from numi.db import demo, demo_history, make_engine, make_sessionmaker
from numi.db import models as m
from numi.db.migrate import upgrade
from numi.settings import Settings

SEGMENTS = ("vip", "standard", "starter")
PERIMETERS = ("particuliers", "professionnels", "seniors")
EMOTIONS = ("anger", "anxiety", "dissatisfaction", "positive")
SUBJECT_GROUPS = {
    "billing": {"refund_request", "invoice_request", "request_refund", "request_invoice"},
    "complaint": {"negative_feedback", "frustrated_customer", "supervisor_request", "complain", "threaten_churn",
                  "request_supervisor"},
    "suspension": {"early_suspension", "request_suspension"},
    "tech": {"tech_support", "bug_report", "request_tech_support", "report_bug", "still_broken"},
    "security": {"security_incident", "report_security_incident"},
    "learning": {"workshop_opportunity", "ask_workshop", "workshop_certificate"},
}
THEMES = ("price", "team_rotation", "attrition_threat", "praise")
WINDOW = timedelta(days=365)
MIN_TRAINING = 40


def feature_names() -> List[str]:
    return ([f"segment={s}" for s in SEGMENTS] + [f"perimeter={p}" for p in PERIMETERS]
            + [f"subject={g}" for g in SUBJECT_GROUPS] + [f"emotion={e}" for e in EMOTIONS]
            + [f"theme={t}" for t in THEMES]
            + ["messages", "satisfaction", "satisfaction_missing", "recommendation", "recommendation_missing"])


def features(customer: m.Customer, rows: Sequence[m.MessageSignal]) -> List[float]:
    n = len(rows)
    vec: List[float] = [float(customer.segment == s) for s in SEGMENTS]
    vec += [float(customer.perimeter == p) for p in PERIMETERS]
    for group in SUBJECT_GROUPS.values():
        vec.append(math.log1p(sum((r.scenario in group) or (r.intent in group) for r in rows)))
    for e in EMOTIONS:  # share of messages with this emotion, weighted by intensity
        vec.append(sum(r.intensity for r in rows if r.emotion == e) / (3 * n) if n else 0.0)
    for t in THEMES:
        vec.append(math.log1p(sum(t in (r.themes or []) for r in rows)))
    vec.append(math.log1p(n))
    sat, nps = customer.satisfaction, customer.recommendation
    vec += [((sat if sat is not None else 3) - 3) / 2, float(sat is None),
            ((nps if nps is not None else 6) - 6) / 4, float(nps is None)]
    return vec


def _signals(session: Session, customer_ids: Sequence[str], since: datetime) -> Dict[str, List[m.MessageSignal]]:
    out: Dict[str, List[m.MessageSignal]] = {c: [] for c in customer_ids}
    for chunk in range(0, len(customer_ids), 500):
        ids = list(customer_ids[chunk:chunk + 500])
        for r in session.scalars(select(m.MessageSignal).where(m.MessageSignal.customer_id.in_(ids),
                                                               m.MessageSignal.at >= since)):
            out[r.customer_id].append(r)
    return out


def dataset(session: Session, now: Optional[datetime] = None) -> Tuple[List[str], List[List[float]], List[int]]:
    """Customers whose outcome is known: left (churned) or stayed a year."""
    now = now or utcnow()
    customers = list(session.scalars(select(m.Customer).where(m.Customer.erased_at.is_(None))
                                     .order_by(m.Customer.id)))
    known = [c for c in customers if c.churned or (c.created_at and c.created_at <= now - WINDOW)]
    sig = _signals(session, [c.id for c in known], now - WINDOW - timedelta(days=365))
    return [c.id for c in known], [features(c, sig[c.id]) for c in known], [int(bool(c.churned)) for c in known]


@dataclass
class ChurnModel:
    clf: Any
    threshold: float
    trained_on: int

    def risk(self, vec: List[float]) -> float:
        return float(self.clf.predict_proba([vec])[0][1])


def fit(x: Sequence[List[float]], y: Sequence[int]) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(list(x), list(y))


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Probability that a random leaver scores above a random stayer (ROC AUC)."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def with_demo_history(session: Session, now: datetime) -> None:
    """With the demo data, its history of past customers (loaded once, when first needed)."""
    if session.get(m.Meta, demo.MARKER) is not None:
        demo_history.load_history(session, now.replace(second=0, microsecond=0))
        session.flush()


def evaluate(session: Session, seed: int = 7, test_share: float = 0.3, threshold: float = 0.6) -> Dict[str, Any]:
    """Train on 70 % of the known customers, measure on the 30 % held out (stratified)."""
    with_demo_history(session, utcnow())
    ids, x, y = dataset(session)
    rng = random.Random(seed)
    test: set = set()
    for label in (0, 1):
        members = [i for i, v in enumerate(y) if v == label]
        rng.shuffle(members)
        test |= set(members[:max(1, int(len(members) * test_share))])
    train = [i for i in range(len(y)) if i not in test]
    clf = fit([x[i] for i in train], [y[i] for i in train])
    held = sorted(test)
    scores = [float(p[1]) for p in clf.predict_proba([x[i] for i in held])]
    labels = [y[i] for i in held]
    flagged = [s >= threshold for s in scores]
    tp = sum(f and left for f, left in zip(flagged, labels))
    fp = sum(f and not left for f, left in zip(flagged, labels))
    fn = sum((not f) and left for f, left in zip(flagged, labels))
    leavers = [s for s, left in zip(scores, labels) if left]
    stayers = [s for s, left in zip(scores, labels) if not left]
    coefs = sorted(zip(feature_names(), clf.coef_[0]), key=lambda kv: -abs(kv[1]))[:8]
    return {
        "customers": len(y), "leavers": sum(y), "train": len(train), "held_out": len(held),
        "held_out_leavers": sum(labels), "auc": round(auc(scores, labels), 3), "threshold": threshold,
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "mean_risk_leavers": round(sum(leavers) / len(leavers), 3) if leavers else None,
        "mean_risk_stayers": round(sum(stayers) / len(stayers), 3) if stayers else None,
        "strongest_features": [{"feature": f, "weight": round(float(w), 2)} for f, w in coefs],
    }


_cache: Dict[str, Tuple[datetime, Optional[ChurnModel]]] = {}


def model(session: Session, threshold: float = 0.6, refresh: timedelta = timedelta(hours=6)) -> Optional[ChurnModel]:
    """The model trained on every known customer, retrained every few hours (per database)."""
    key = str(session.get_bind().url)
    now = utcnow()
    cached = _cache.get(key)
    if cached and now - cached[0] < refresh:
        return cached[1]
    with_demo_history(session, now)
    _, x, y = dataset(session, now)
    trained = ChurnModel(fit(x, y), threshold, len(y)) if len(y) >= MIN_TRAINING and 0 < sum(y) < len(y) else None
    _cache[key] = (now, trained)
    return trained


def forget() -> None:
    _cache.clear()


def score(session: Session, customer: m.Customer) -> Optional[float]:
    """The customer's churn risk now (0–1), or None without a trained model."""
    trained = model(session)
    if trained is None:
        return None
    rows = _signals(session, [customer.id], utcnow() - WINDOW)[customer.id]
    return round(trained.risk(features(customer, rows)), 3)


def main() -> None:
    """`python -m numi.churn`: the separation of leavers and stayers on held-out customers."""
    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    upgrade(engine, settings)
    with make_sessionmaker(engine)() as s:
        print(json.dumps(evaluate(s), ensure_ascii=False, indent=1))
    engine.dispose()


if __name__ == "__main__":
    main()
