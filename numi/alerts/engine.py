"""Alerts from every customer message (seed 002): signals → rules → alerts, delivered
by e-mail (the outbox: exactly once), signed webhook (the outbox, retried with
backoff) and a note on the customer record; ATTRITION 1 adds a call task."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from numi import churn, signals
from numi.alerts import rules as rules_mod
from numi.clock import utcnow
from numi.db import models as m
from numi.playbooks.render import text_env
from numi.reminders import outbox
from numi.signals.emotion import EmotionModel

MAX_QUOTE = 1000


@dataclass
class IncomingMessage:
    text: str
    conversation_id: Optional[str] = None
    customer_id: Optional[str] = None
    at: Optional[datetime] = None
    intent: Optional[str] = None
    intent_confidence: Optional[float] = None
    scenario: Optional[str] = None
    mode: str = "customer"
    event_key: Optional[str] = None
    emotion: Optional[signals.Emotion] = None  # predicted beforehand, with the rest of a batch
    themes: Optional[Dict[str, List[str]]] = None  # the theme classifier's, likewise


def predict(messages: List[IncomingMessage]) -> None:
    """The emotions and themes of a batch of messages, at once (much cheaper than one by one)."""
    texts = [msg.text for msg in messages]
    for msg, emotion, themes in zip(messages, signals.emotion_model().predict_many(texts),
                                    signals.theme_model().predict_many(texts)):
        msg.emotion, msg.themes = emotion, themes


@lru_cache(maxsize=4)
def _ruleset(path: str, mtime: float) -> rules_mod.RuleSet:
    return rules_mod.load(Path(path), list(signals.load_themes()))


def ruleset(settings) -> rules_mod.RuleSet:
    path = Path(settings.alert_rules)
    return _ruleset(str(path), path.stat().st_mtime)


def facts_of(sig: signals.MessageSignals, customer: Optional[m.Customer],
             churn_risk: Optional[float]) -> Dict[str, Any]:
    return {
        "intent": sig.intent, "scenario": sig.scenario, "mode": sig.mode,
        "emotion": sig.emotion.label, "polarity": sig.emotion.polarity, "intensity": sig.emotion.intensity,
        "themes": sorted(sig.themes), "keywords": sig.keywords, "text_folded": sig.folded,
        "segment": customer.segment if customer else None, "perimeter": customer.perimeter if customer else None,
        "satisfaction": customer.satisfaction if customer else None,
        "recommendation": customer.recommendation if customer else None,
        "churn_risk": churn_risk,
    }


def _prior(session: Session, rule: rules_mod.Rule, msg: IncomingMessage, now: datetime) -> Optional[m.Alert]:
    """The alert this rule already raised within its `once_per` scope, if any."""
    if rule.once_per == "message":
        return None
    q = select(m.Alert).where(m.Alert.rule == rule.id)
    if rule.once_per == "customer_day" and msg.customer_id:
        q = q.where(m.Alert.customer_id == msg.customer_id,
                    m.Alert.created_at >= now.replace(hour=0, minute=0, second=0, microsecond=0))
    elif msg.conversation_id:
        q = q.where(m.Alert.conversation_id == msg.conversation_id)
    else:
        return None
    return session.scalars(q.order_by(m.Alert.id).limit(1)).first()


def _routed(alert: m.Alert) -> bool:
    """Did this alert go through `_fire` (recipients from the rules, deliveries queued)? A row
    recorded without it (playbooks did, before issue 14) has not reached anybody yet."""
    return "deliveries" in (alert.signals or {})


def _render(template: str, context: Dict[str, Any]) -> str:
    return text_env().from_string(template).render(**context)


def _customer(session: Session, customer_id: Optional[str]) -> Optional[m.Customer]:
    customer = session.get(m.Customer, customer_id) if customer_id else None
    return None if customer is not None and customer.erased_at is not None else customer


def _analyse(msg: IncomingMessage, model: Optional[EmotionModel] = None) -> signals.MessageSignals:
    return signals.analyse(msg.text, intent=msg.intent, intent_confidence=msg.intent_confidence,
                           scenario=msg.scenario, mode=msg.mode, model=model, emotion=msg.emotion,
                           found_themes=msg.themes)


def process(session: Session, settings, msg: IncomingMessage, model: Optional[EmotionModel] = None,
            now: Optional[datetime] = None) -> List[m.Alert]:
    """Signals for one message, then every rule that fires. Idempotent on `event_key`."""
    now = now or utcnow()
    at = msg.at or now
    if msg.event_key and session.scalars(select(m.MessageSignal.id)
                                         .where(m.MessageSignal.event_key == msg.event_key)).first():
        return []
    customer = _customer(session, msg.customer_id)
    sig = _analyse(msg, model)
    row = m.MessageSignal(event_key=msg.event_key, conversation_id=msg.conversation_id,
                          customer_id=customer.id if customer else None, at=at, mode=msg.mode,
                          text=msg.text[:MAX_QUOTE], intent=msg.intent, scenario=msg.scenario,
                          emotion=sig.emotion.label, polarity=sig.emotion.polarity, intensity=sig.emotion.intensity,
                          themes=sorted(sig.themes), keywords=sig.keywords)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # another process took this event
        return []
    risk = None
    if customer is not None and not customer.churned:
        risk = churn.score(session, customer)
        if risk is not None:
            customer.churn_risk = risk
    facts = facts_of(sig, customer, risk)
    rs = ruleset(settings)
    fired = []
    for rule in rs.rules:
        if not rules_mod.matches(rule.when, facts):
            continue
        prior = _prior(session, rule, msg, now)
        if prior is not None and _routed(prior):
            continue
        fired.append(_fire(session, settings, rs, rule, msg, sig, customer, facts, now, alert=prior))
    return fired


def raise_rule(session: Session, settings, rule_id: str, msg: IncomingMessage, now: Optional[datetime] = None,
               context: Optional[Dict[str, Any]] = None) -> Optional[m.Alert]:
    """Raise the rule named `rule_id` for `msg` whatever its conditions (a playbook decided it
    holds): routed and delivered exactly as when the rule fires on a message, and within the
    rule's `once_per` like it: when the rule has already fired there, that alert is returned
    (with `context` added to it) instead of a second one. None for a rule the rules file
    does not name. `context` (e.g. the playbook, its step and note) is kept in the alert."""
    now = now or utcnow()
    rs = ruleset(settings)
    rule = next((r for r in rs.rules if r.id == rule_id), None)
    if rule is None:
        return None
    prior = _prior(session, rule, msg, now)
    if prior is not None and _routed(prior):
        if context:
            prior.signals = dict(prior.signals or {}, **context)
        return prior
    customer = _customer(session, msg.customer_id)
    sig = _analyse(msg)
    churn_risk = customer.churn_risk if customer is not None and not customer.churned else None  # as last scored
    facts = facts_of(sig, customer, churn_risk)
    return _fire(session, settings, rs, rule, msg, sig, customer, facts, now, alert=prior, extra=context)


def _fire(session: Session, settings, rs: rules_mod.RuleSet, rule: rules_mod.Rule, msg: IncomingMessage,
          sig: signals.MessageSignals, customer: Optional[m.Customer], facts: Dict[str, Any],
          now: datetime, alert: Optional[m.Alert] = None, extra: Optional[Dict[str, Any]] = None) -> m.Alert:
    """The alert, its recipients (as the rules name them) and its deliveries. `alert`: a row
    of this rule recorded but never routed, which is completed rather than duplicated."""
    recipients = rs.recipients_for(rule, facts["perimeter"])
    context = {
        "rule_id": rule.id, "rule_title": rule.title, "rule_description": rule.description,
        "quote": msg.text[:MAX_QUOTE], "customer_id": customer.id if customer else None,
        "customer_name": customer.display_name if customer else None,
        "segment": facts["segment"], "perimeter": facts["perimeter"],
        "emotion_label": signals.emotion_labels()[sig.emotion.label], "intensity": sig.emotion.intensity,
        "themes_fr": ", ".join(signals.load_themes()[t].label for t in sorted(sig.themes)),
        "scenario": msg.scenario, "intent": msg.intent, "conversation_id": msg.conversation_id,
        "churn_risk": round(facts["churn_risk"], 2) if facts["churn_risk"] is not None else None,
        "satisfaction": facts["satisfaction"], "recommendation": facts["recommendation"], "task": rule.task,
    }
    fields = dict(rule=rule.id, conversation_id=msg.conversation_id, customer_id=context["customer_id"],
                  message=msg.text[:MAX_QUOTE], created_at=now,
                  signals={k: v for k, v in {**sig.as_json(), **facts, **(extra or {})}.items()
                           if k != "text_folded"},
                  recipients=[r.id for r in recipients])
    if alert is None:
        alert = m.Alert(**fields)
        session.add(alert)
    else:  # keeps its id and when it was recorded; what it had noted stays
        fields["signals"] = {**(alert.signals or {}), **fields["signals"]}
        for key, value in fields.items():
            if key != "created_at":
                setattr(alert, key, value)
    session.flush()
    context["alert_id"] = alert.id
    deliveries: List[Dict[str, Any]] = []
    if "email" in rule.deliver:
        for r in recipients:
            if r.email:
                deliveries.append(_email(session, settings, rule, alert, r, context, now))
    if "webhook" in rule.deliver:
        for r in recipients:
            if r.webhook:
                deliveries.append(_webhook(session, settings, rule, alert, r, context, now))
    if "crm" in rule.deliver and customer is not None and rule.crm_note:
        note = {"at": m.as_iso(now), "rule": rule.id, "note": _render(rule.crm_note, context),
                "quote": msg.text[:300], "emotion": sig.emotion.label, "alert_id": alert.id}
        if rule.crm_tag:
            note["tag"] = rule.crm_tag
        customer.crm_notes = list(customer.crm_notes or []) + [note]
        deliveries.append({"channel": "crm", "recipient": customer.id, "status": "noted"})
    if rule.task == "callback":
        session.add(m.CallTask(key=f"alert:{alert.id}", customer_id=context["customer_id"], reason="attrition"
                               if rule.id.startswith("attrition") else "alert", urgent=rule.id.startswith("attrition"),
                               script=_render(rule.crm_note or rule.title, context), due_on=now.date()))
        deliveries.append({"channel": "call_task", "status": "queued"})
    alert.signals = dict(alert.signals, deliveries=deliveries)
    return alert


def _recent_emails(session: Session, recipient: Optional[str], since: datetime) -> int:
    return session.scalar(select(func.count()).select_from(m.OutboxMessage).where(
        m.OutboxMessage.kind == "alert", m.OutboxMessage.channel == "email",
        m.OutboxMessage.recipient == recipient, m.OutboxMessage.created_at >= since)) or 0


def _email(session: Session, settings, rule, alert: m.Alert, r: rules_mod.Recipient, context: Dict[str, Any],
           now: datetime) -> Dict[str, Any]:
    """One e-mail per (alert, recipient) through the outbox; over the hourly limit, or
    for digest rules, the alert waits for the recipient's daily digest instead."""
    limited = _recent_emails(session, r.email, now - timedelta(hours=1)) >= settings.alert_rate_per_hour
    if rule.digest or limited:
        outbox.enqueue(session, key=f"alert:{alert.id}:digest:{r.id}", kind="alert", channel="digest",
                       recipient=r.email, subject=rule.title,
                       body=json.dumps({"recipient_name": r.name, "quote": context["quote"],
                                        "customer": context["customer_name"], "rule_title": rule.title,
                                        "emotion": context["emotion_label"]}, ensure_ascii=False), now=now)
        return {"channel": "email", "recipient": r.id, "status": "digest" if rule.digest else "rate_limited"}
    outbox.enqueue_template(session, key=f"alert:{alert.id}:email:{r.id}", kind="alert", channel="email",
                            recipient=r.email, template="alert", context={**context, "recipient_name": r.name},
                            now=now)
    return {"channel": "email", "recipient": r.id, "status": "queued"}


def _webhook(session: Session, settings, rule, alert: m.Alert, r: rules_mod.Recipient, context: Dict[str, Any],
             now: datetime) -> Dict[str, Any]:
    url = settings.alert_webhooks.get(r.webhook) if settings.alert_webhooks else None
    if not url:
        return {"channel": "webhook", "recipient": r.id, "status": "no_url"}
    payload = {"type": "numi.alert", "alert_id": alert.id, "rule": rule.id, "rule_title": rule.title,
               "created_at": m.as_iso(now), "conversation_id": alert.conversation_id,
               "customer_id": alert.customer_id, "message": context["quote"], "signals": alert.signals,
               "recipient": r.id}
    outbox.enqueue(session, key=f"alert:{alert.id}:webhook:{r.id}", kind="alert", channel="webhook",
                   recipient=url, subject=rule.id, body=json.dumps(payload, ensure_ascii=False, sort_keys=True),
                   now=now)
    return {"channel": "webhook", "recipient": r.id, "status": "queued"}


def digest(session: Session, day: date, now: Optional[datetime] = None) -> int:
    """Gather the waiting digest entries into one e-mail per recipient (once per day)."""
    now = now or utcnow()
    rows = list(session.scalars(select(m.OutboxMessage).where(m.OutboxMessage.channel == "digest",
                                                               m.OutboxMessage.status == "pending")
                                .order_by(m.OutboxMessage.id)))
    by_recipient: Dict[str, List[m.OutboxMessage]] = {}
    for row in rows:
        by_recipient.setdefault(row.recipient or "", []).append(row)
    sent = 0
    for recipient, items in by_recipient.items():
        entries = [json.loads(i.body) for i in items]
        made = outbox.enqueue_template(
            session, key=f"digest:{recipient}:{day.isoformat()}:{items[-1].id}", kind="alert", channel="email",
            recipient=recipient, template="alert_digest", now=now,
            context={"day": day.strftime("%d/%m/%Y"), "recipient_name": entries[0]["recipient_name"],
                     "items": entries, "rules": ", ".join(dict.fromkeys(e["rule_title"] for e in entries))})
        for i in items:
            i.status = "done"
        sent += made is not None
    return sent
