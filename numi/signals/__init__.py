"""Signals on customer messages (seed 002): emotion and themes (models trained here; the
themes named in config/alerts/themes.yml), keywords, the customer's segment and scores.

`mood_of` gives the customer's mood for handoff packets and replays; `analyse`
gives everything the alert rules look at for one message."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import yaml

from numi.signals.emotion import POLARITY, Emotion, EmotionModel, load_or_train
from numi.signals.themes import ThemeModel
from numi.signals.themes import load_or_train as train_themes
from numi.text import fold

THEMES = Path(__file__).resolve().parent.parent.parent / "config" / "alerts" / "themes.yml"
_model: Optional[EmotionModel] = None
_theme_model: Optional[ThemeModel] = None


def emotion_model() -> EmotionModel:
    """The emotion model, loaded (or trained, a few seconds) on first use."""
    global _model
    if _model is None:
        _model = load_or_train()
    return _model


@dataclass(frozen=True)
class Theme:
    id: str
    label: str


@lru_cache(maxsize=4)
def load_themes(path: Path = THEMES) -> Dict[str, Theme]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    themes = {}
    for tid, spec in (raw.get("themes") or {}).items():
        themes[tid] = Theme(id=tid, label=spec["label"])
    return themes


def theme_model() -> ThemeModel:
    """The theme classifier, loaded (or trained, a few seconds) on first use."""
    global _theme_model
    if _theme_model is None:
        _theme_model = train_themes(list(load_themes()))
    return _theme_model


def folded_for_themes(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", fold(text)))


def themes_of(text: str, found: Optional[Dict[str, List[str]]] = None) -> Dict[str, List[str]]:
    """{theme id: [the words that weigh most for it]} for one message. `found`: what the
    theme classifier found, if known (a batch is predicted at once)."""
    found = found if found is not None else theme_model().predict(text or "")
    return {t: found[t] for t in load_themes() if t in found}


@dataclass
class MessageSignals:
    text: str
    emotion: Emotion
    themes: Dict[str, List[str]]
    intent: Optional[str] = None
    intent_confidence: Optional[float] = None
    scenario: Optional[str] = None
    mode: str = "customer"
    # segment, perimeter, satisfaction, recommendation, churn_risk
    customer: Dict[str, Any] = field(default_factory=dict)
    folded: str = ""  # the folded text the themes and keyword rules read

    @property
    def keywords(self) -> List[str]:
        return list(dict.fromkeys(k for hits in self.themes.values() for k in hits))

    def as_json(self) -> Dict[str, Any]:
        return {"intent": self.intent, "intent_confidence": self.intent_confidence, "scenario": self.scenario,
                "mode": self.mode, "emotion": self.emotion.as_json(), "themes": sorted(self.themes),
                "keywords": self.keywords, **self.customer}


def analyse(text: str, *, intent: Optional[str] = None, intent_confidence: Optional[float] = None,
            scenario: Optional[str] = None, mode: str = "customer", customer: Optional[Dict[str, Any]] = None,
            model: Optional[EmotionModel] = None, emotion: Optional[Emotion] = None,
            found_themes: Optional[Dict[str, List[str]]] = None) -> MessageSignals:
    """`emotion`, `found_themes` (the theme classifier's): already predicted (a batch of messages is predicted at once,
    much cheaper)."""
    emotion = emotion or (model or emotion_model()).predict(text or "")
    folded = folded_for_themes(text or "")
    return MessageSignals(text=text or "", emotion=emotion,
                          themes=themes_of(text or "", found_themes),
                          intent=intent, intent_confidence=intent_confidence, scenario=scenario, mode=mode,
                          customer=dict(customer or {}), folded=folded)


@lru_cache(maxsize=1)
def emotion_labels(path: Path = THEMES) -> Dict[str, str]:
    """The French name of each emotion (config/alerts/themes.yml)."""
    return dict((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("emotions") or {})


def mood_of(messages: Iterable[str]) -> Dict[str, object]:
    """The customer's mood over their last messages: the strongest emotion, with the
    count of messages per emotion (for handoff packets and replays)."""
    texts = [t for t in messages if isinstance(t, str) and t.strip()]
    if not texts:
        return {"label": "neutral", "polarity": "neutral", "intensity": 0, "counts": {}}
    emotions = emotion_model().predict_many(texts)
    counts: Dict[str, int] = {}
    for e in emotions:
        counts[e.label] = counts.get(e.label, 0) + 1
    emotional = [e for e in emotions if e.label != "neutral"]
    strongest = max(emotional, key=lambda e: (e.intensity, e.confidence)) if emotional else emotions[-1]
    return {"label": strongest.label, "polarity": POLARITY[strongest.label], "intensity": strongest.intensity,
            "last": emotions[-1].label, "counts": counts}


__all__ = ["analyse", "mood_of", "themes_of", "load_themes", "emotion_model", "theme_model", "MessageSignals",
           "Emotion"]
