"""The emotion of a customer message: anger, anxiety, dissatisfaction, neutral or
positive, with a polarity and an intensity (0–3).

A scikit-learn model trained here on numi's own French data (every file of corpora/emotion/),
evaluated on held-out sets never trained on (tests/emotion/heldout.yml, heldout_hard.yml). Nothing is
downloaded: the model is trained by `make train` (seconds) into models/, and again
on first use if the data or this code changed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import yaml

from numi.signals import models
from numi.text import fold

ROOT = Path(__file__).resolve().parent.parent.parent
CORPUS = ROOT / "corpora" / "emotion"
TRAIN = CORPUS / "train.yml"  # the first corpus file (the demo history draws its texts from it)
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


def _features() -> Any:  # a scikit-learn FeatureUnion (untyped)
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
    def train(cls, examples: Sequence[Dict[str, Any]], fingerprint: str = "", c: float = 30.0) -> "EmotionModel":
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
            label = max(scores, key=scores.__getitem__)
            if not text.strip():
                label, scores = "neutral", {c: float(c == "neutral") for c in classes}
            out.append(Emotion(label=label, confidence=scores[label],
                               intensity=0 if label == "neutral" else int(level), scores=scores))
        return out

    def predict(self, text: str) -> Emotion:
        return self.predict_many([text])[0]


def fingerprint(corpus: Path = CORPUS) -> str:
    return models.fingerprint(corpus, [Path(__file__)])


def load_corpus(corpus: Path = CORPUS) -> List[Dict[str, Any]]:
    return [ex for path in models.corpus_files(corpus) for ex in load_examples(path)]


def load_or_train(models_dir: Path = ROOT / "models", corpus: Path = CORPUS) -> EmotionModel:
    """The model for the current data and code: loaded from models/, else trained and saved."""
    fp = fingerprint(corpus)
    model: EmotionModel = models.cached(models_dir, "emotion", fp, lambda: EmotionModel.train(load_corpus(corpus), fp))
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
        "intensity_mae": round(sum(abs(e["intensity"] - p.intensity) for e, p in both) / len(both), 3)
        if both else None,
        # issue 14's target: neutral, factual messages read as negative (≤ 5 %)
        "neutral_read_negative": round(sum(g == "neutral" and POLARITY[p] == "negative" for g, p in zip(gold, got))
                                       / max(1, gold.count("neutral")), 3),
        "per_label": per_label,
        "confusions": [{"gold": g, "predicted": p, "count": n} for (g, p), n in confusions],
    }


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m numi.signals [eval [held-out file] [--min-macro-f1 X] [--max-neutral-negative Y]]`:
    the JSON report on stdout; exit 1 below a floor."""
    import argparse
    import json
    import sys
    import time

    parser = argparse.ArgumentParser(prog="python -m numi.signals")
    parser.add_argument("command", nargs="?", choices=["train", "eval"], default="train")
    parser.add_argument("data", nargs="?", default=str(HELDOUT))
    parser.add_argument("--min-macro-f1", type=float, default=0.0)
    parser.add_argument("--max-neutral-negative", type=float, default=1.0)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    model = load_or_train()
    took = time.perf_counter() - t0
    if args.command != "eval":
        print(f"emotion model {model.fingerprint} ready in {took:.1f} s")
        return 0
    report = evaluate(model, load_examples(Path(args.data)))
    report["load_or_train_seconds"] = round(took, 2)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    failures: List[str] = []
    if report["macro_f1"] < args.min_macro_f1:
        failures.append(f"macro-F1 {report['macro_f1']} < {args.min_macro_f1}")
    if report["neutral_read_negative"] > args.max_neutral_negative:
        failures.append(f"neutral read negative {report['neutral_read_negative']} > {args.max_neutral_negative}")
    for failure in failures:
        print(f"FAIL ({args.data}): {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
