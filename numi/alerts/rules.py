"""Alert rules as data (config/alerts/rules.yml): loading, validation, matching.

A rule's `when` is a set of conditions over the signals of one message (all must
hold; a list means « one of »; `any:` holds when one of its sub-conditions does).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Set, Tuple

import yaml

from numi.signals import folded_for_themes
from numi.signals.emotion import LABELS

LIST_KEYS = ("intent", "scenario", "emotion", "polarity", "themes", "keywords", "segment", "perimeter", "mode")
NUMBER_KEYS = ("min_intensity", "min_churn_risk", "min_satisfaction", "max_satisfaction",
               "min_recommendation", "max_recommendation")
RULE_KEYS = {"id", "title", "description", "when", "notify", "deliver", "task", "digest", "once_per",
             "crm_note", "crm_tag"}
CHANNELS = ("email", "webhook", "crm")
ONCE_PER = ("conversation", "customer_day", "message")


class RuleError(ValueError):
    pass


@dataclass(frozen=True)
class Recipient:
    id: str
    name: str
    email: Optional[str] = None
    webhook: Optional[str] = None


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    description: str
    when: Mapping[str, Any]
    notify: Tuple[str, ...]
    deliver: Tuple[str, ...]
    task: Optional[str] = None
    digest: Optional[str] = None
    once_per: str = "conversation"
    crm_note: Optional[str] = None
    crm_tag: Optional[str] = None


@dataclass(frozen=True)
class RuleSet:
    rules: Tuple[Rule, ...]
    recipients: Mapping[str, Recipient]
    perimeters: Mapping[str, Tuple[str, ...]]

    def recipients_for(self, rule: Rule, perimeter: Optional[str]) -> List[Recipient]:
        ids: List[str] = []
        for target in rule.notify:
            if target == "per_perimeter":
                ids += list(self.perimeters.get(perimeter or "", self.perimeters.get("default", ())))
            else:
                ids.append(target)
        return [self.recipients[i] for i in dict.fromkeys(ids)]


def _check_when(when: Any, where: str, themes: Sequence[str]) -> None:
    if not isinstance(when, dict) or not when:
        raise RuleError(f"{where}: « when » est un dictionnaire de conditions non vide")
    for key, value in when.items():
        if key == "any":
            if not isinstance(value, list) or not value:
                raise RuleError(f"{where}: « any » est une liste de conditions")
            for i, sub in enumerate(value):
                _check_when(sub, f"{where}.any[{i}]", themes)
        elif key in LIST_KEYS:
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                raise RuleError(f"{where}: « {key} » est une liste de textes")
            if key == "emotion" and set(value) - set(LABELS):
                raise RuleError(f"{where}: émotion inconnue {sorted(set(value) - set(LABELS))}")
            if key == "themes" and set(value) - set(themes):
                raise RuleError(f"{where}: thème inconnu {sorted(set(value) - set(themes))}")
        elif key in NUMBER_KEYS:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise RuleError(f"{where}: « {key} » est un nombre")
        else:
            raise RuleError(f"{where}: condition inconnue « {key} »")


def _folded(when: Mapping[str, Any]) -> dict:
    """The conditions with their keywords folded as messages are (« café » finds « cafe »),
    once when the rules are read rather than for every message."""
    out = dict(when)
    if "keywords" in out:
        out["keywords"] = [folded_for_themes(w) for w in out["keywords"]]
    if "any" in out:
        out["any"] = [_folded(sub) for sub in out["any"]]
    return out


def parse(raw: Mapping[str, Any], themes: Sequence[str], where: str = "rules.yml") -> RuleSet:
    recipients = {}
    for rid, spec in (raw.get("recipients") or {}).items():
        if not isinstance(spec, dict) or not spec.get("name") or not (spec.get("email") or spec.get("webhook")):
            raise RuleError(f"{where}: destinataire {rid} : « name » et « email » ou « webhook » requis")
        recipients[rid] = Recipient(id=rid, name=spec["name"], email=spec.get("email"), webhook=spec.get("webhook"))
    perimeters = {}
    for pid, ids in (raw.get("perimeters") or {}).items():
        unknown = [i for i in ids or [] if i not in recipients]
        if unknown:
            raise RuleError(f"{where}: périmètre {pid} : destinataires inconnus {unknown}")
        perimeters[pid] = tuple(ids)
    rules: List[Rule] = []
    seen: Set[str] = set()
    for i, spec in enumerate(raw.get("rules") or []):
        at = f"{where}: règle {spec.get('id', i) if isinstance(spec, dict) else i}"
        if not isinstance(spec, dict):
            raise RuleError(f"{at}: une règle est un dictionnaire")
        unknown_keys = set(spec) - RULE_KEYS
        if unknown_keys:
            raise RuleError(f"{at}: clés inconnues {sorted(unknown_keys)}")
        if not spec.get("id") or spec["id"] in seen:
            raise RuleError(f"{at}: « id » manquant ou en double")
        seen.add(spec["id"])
        _check_when(spec.get("when"), at, themes)
        notify = tuple(spec.get("notify") or ())
        for target in notify:
            if target != "per_perimeter" and target not in recipients:
                raise RuleError(f"{at}: destinataire inconnu « {target} »")
        deliver = tuple(spec.get("deliver") or ())
        if not deliver or set(deliver) - set(CHANNELS):
            raise RuleError(f"{at}: « deliver » parmi {CHANNELS}")
        if spec.get("task") not in (None, "callback"):
            raise RuleError(f"{at}: « task » vaut callback")
        if spec.get("digest") not in (None, "daily"):
            raise RuleError(f"{at}: « digest » vaut daily")
        if spec.get("once_per", "conversation") not in ONCE_PER:
            raise RuleError(f"{at}: « once_per » parmi {ONCE_PER}")
        if "crm" in deliver and not spec.get("crm_note"):
            raise RuleError(f"{at}: la livraison crm demande une « crm_note »")
        rules.append(Rule(id=spec["id"], title=spec.get("title") or spec["id"],
                          description=str(spec.get("description") or ""), when=_folded(spec["when"]), notify=notify,
                          deliver=deliver, task=spec.get("task"), digest=spec.get("digest"),
                          once_per=spec.get("once_per", "conversation"), crm_note=spec.get("crm_note"),
                          crm_tag=spec.get("crm_tag")))
    return RuleSet(rules=tuple(rules), recipients=recipients, perimeters=perimeters)


def load(path: Path, themes: Sequence[str]) -> RuleSet:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: YAML invalide : {exc}") from exc
    return parse(raw, themes, where=path.name)


def matches(when: Mapping[str, Any], facts: Mapping[str, Any]) -> bool:
    """`facts`: intent, scenario, emotion, polarity, intensity, themes (list), keywords
    (list), text_folded, segment, perimeter, mode, churn_risk, satisfaction, recommendation."""
    for key, want in when.items():
        if key == "any":
            if not any(matches(sub, facts) for sub in want):
                return False
        elif key == "themes":
            if not set(want) & set(facts.get("themes") or ()):
                return False
        elif key == "keywords":
            text = facts.get("text_folded") or ""
            if not any(f" {w} " in f" {text} " for w in want):  # both folded
                return False
        elif key in LIST_KEYS:
            if facts.get(key) not in want:
                return False
        else:
            bound, field = key.split("_", 1)
            field = {"intensity": "intensity", "churn_risk": "churn_risk"}.get(field, field)
            value = facts.get(field)
            if value is None:
                return False
            if (bound == "min" and value < want) or (bound == "max" and value > want):
                return False
    return True
