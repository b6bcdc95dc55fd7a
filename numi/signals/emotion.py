"""The emotion of a customer message: anger, anxiety, dissatisfaction, neutral or
positive, with a polarity and an intensity (0–3).

A scikit-learn model trained here on numi's own French data (corpora/emotion/train.yml),
evaluated on a held-out set never trained on (tests/emotion/heldout.yml). Nothing is
downloaded: the model is trained by `make train` (seconds) into models/, and again
on first use if the data or this code changed.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import yaml

from numi.text import fold

ROOT = Path(__file__).resolve().parent.parent.parent
TRAIN = ROOT / "corpora" / "emotion" / "train.yml"
HELDOUT = ROOT / "tests" / "emotion" / "heldout.yml"
LABELS = ("anger", "anxiety", "dissatisfaction", "neutral", "positive")
POLARITY = {"anger": "negative", "anxiety": "negative", "dissatisfaction": "negative", "neutral": "neutral",
            "positive": "positive"}
EMPHASIS = re.compile(r"[!?]{2,}|[A-ZÀ-Ý]{4,}")


@dataclass(frozen=True)
class Emotion:
    label: str
    confidence: float
    intensity: int
    scores: Dict[str, float] = field(default_factory=dict)

    @property
    def polarity(self) -> str:
        return POLARITY[self.label]

    def as_json(self) -> Dict[str, Any]:
        return {"label": self.label, "polarity": self.polarity, "intensity": self.intensity,
                "confidence": round(self.confidence, 3), "scores": {k: round(v, 3) for k, v in self.scores.items()}}


def load_examples(path: Path) -> List[Dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for ex in data.get("examples") or []:
        if ex.get("emotion") not in LABELS or not isinstance(ex.get("text"), str):
            raise ValueError(f"{path}: exemple invalide : {ex!r}")
        out.append({"text": ex["text"], "emotion": ex["emotion"], "intensity": int(ex.get("intensity", 0))})
    return out


def _normalise(text: str) -> str:
    # keep a trace of shouting and repeated punctuation, which folding would lose
    marks = " ".join("__emph__" for _ in EMPHASIS.findall(text or ""))
    return fold(text) + " " + marks


def _features():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), preprocessor=_normalise,
                                  sublinear_tf=True, min_df=1)),
        ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), preprocessor=_normalise,
                                  token_pattern=r"(?u)\b\w+\b", sublinear_tf=True)),
    ])


class EmotionModel:
    def __init__(self, label_model: Any, intensity_model: Any, fingerprint: str = "") -> None:
        self.label_model = label_model
        self.intensity_model = intensity_model
        self.fingerprint = fingerprint

    @classmethod
    def train(cls, examples: Sequence[Dict[str, Any]], fingerprint: str = "", c: float = 8.0) -> "EmotionModel":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        texts = [e["text"] for e in examples]
        label = Pipeline([("features", _features()),
                          ("clf", LogisticRegression(C=c, max_iter=2000, class_weight="balanced"))])
        label.fit(texts, [e["emotion"] for e in examples])
        emotional = [e for e in examples if e["emotion"] != "neutral"]
        intensity = Pipeline([("features", _features()),
                              ("clf", LogisticRegression(C=c, max_iter=2000, class_weight="balanced"))])
        intensity.fit([e["text"] for e in emotional], [max(1, min(3, e["intensity"])) for e in emotional])
        return cls(label, intensity, fingerprint)

    def predict_many(self, texts: Sequence[str]) -> List[Emotion]:
        texts = [t if isinstance(t, str) else "" for t in texts]
        if not texts:
            return []
        probs = self.label_model.predict_proba(texts)
        classes = list(self.label_model.classes_)
        levels = self.intensity_model.predict(texts)
        out = []
        for text, row, level in zip(texts, probs, levels):
            scores = {c: float(p) for c, p in zip(classes, row)}
            label = max(scores, key=scores.get)
            if not text.strip():
                label, scores = "neutral", {c: float(c == "neutral") for c in classes}
            out.append(Emotion(label=label, confidence=scores[label],
                               intensity=0 if label == "neutral" else int(level), scores=scores))
        return out

    def predict(self, text: str) -> Emotion:
        return self.predict_many([text])[0]

    def save(self, path: Path) -> None:
        import joblib

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        joblib.dump({"label": self.label_model, "intensity": self.intensity_model,
                     "fingerprint": self.fingerprint}, tmp)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "EmotionModel":
        import joblib

        data = joblib.load(path)
        return cls(data["label"], data["intensity"], data.get("fingerprint", ""))


def fingerprint(train_path: Path = TRAIN) -> str:
    h = hashlib.sha256()
    h.update(train_path.read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:12]


def load_or_train(models_dir: Path = ROOT / "models", train_path: Path = TRAIN) -> EmotionModel:
    """The model for the current data and code: loaded from models/, else trained and saved."""
    fp = fingerprint(train_path)
    path = models_dir / f"emotion-{fp}.joblib"
    if path.exists():
        try:
            return EmotionModel.load(path)
        except Exception:  # a damaged or foreign file: train again
            pass
    model = EmotionModel.train(load_examples(train_path), fp)
    model.save(path)
    for old in models_dir.glob("emotion-*.joblib"):
        if old != path:
            old.unlink(missing_ok=True)
    return model


def evaluate(model: EmotionModel, examples: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """Accuracy, macro-F1, per-label F1, polarity accuracy, intensity MAE, confusions."""
    from collections import Counter

    examples = list(examples)
    preds = model.predict_many([e["text"] for e in examples])
    gold = [e["emotion"] for e in examples]
    got = [p.label for p in preds]
    per_label: Dict[str, Dict[str, float]] = {}
    for lab in LABELS:
        tp = sum(g == lab and p == lab for g, p in zip(gold, got))
        fp = sum(g != lab and p == lab for g, p in zip(gold, got))
        fn = sum(g == lab and p != lab for g, p in zip(gold, got))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_label[lab] = {"precision": round(prec, 3), "recall": round(rec, 3), "f1": round(f1, 3),
                          "support": sum(g == lab for g in gold)}
    both = [(e, p) for e, p in zip(examples, preds) if e["emotion"] != "neutral" and p.label == e["emotion"]]
    confusions: List[Tuple[Tuple[str, str], int]] = Counter(
        (g, p) for g, p in zip(gold, got) if g != p).most_common(6)
    return {
        "n": len(examples),
        "accuracy": round(sum(g == p for g, p in zip(gold, got)) / len(gold), 3) if gold else 0.0,
        "macro_f1": round(sum(v["f1"] for v in per_label.values()) / len(LABELS), 3),
        "polarity_accuracy": round(sum(POLARITY[g] == POLARITY[p] for g, p in zip(gold, got)) / len(gold), 3)
        if gold else 0.0,
        "intensity_mae": round(sum(abs(e["intensity"] - p.intensity) for e, p in both) / len(both), 3) if both else None,
        # issue 14's target: neutral, factual messages read as negative (≤ 5 %)
        "neutral_read_negative": round(sum(g == "neutral" and POLARITY[p] == "negative" for g, p in zip(gold, got))
                                       / max(1, gold.count("neutral")), 3),
        "per_label": per_label,
        "confusions": [{"gold": g, "predicted": p, "count": n} for (g, p), n in confusions],
    }


def main(argv: Optional[List[str]] = None) -> None:
    """`python -m numi.signals.emotion [train|eval [held-out file]]`."""
    import json
    import sys
    import time

    args = argv if argv is not None else sys.argv[1:]
    t0 = time.perf_counter()
    model = load_or_train()
    took = time.perf_counter() - t0
    if args and args[0] == "eval":
        report = evaluate(model, load_examples(Path(args[1]) if len(args) > 1 else HELDOUT))
        report["load_or_train_seconds"] = round(took, 2)
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print(f"emotion model {model.fingerprint} ready in {took:.1f} s")


if __name__ == "__main__":
    main()
