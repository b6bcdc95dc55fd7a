"""The themes of a customer message (seed 002): what a verbatim is about beyond its intent
(a threat to leave, price, team rotation, a life moment, a sales opportunity).

A learned multi-label classifier, not keyword lists: one class-balanced logistic
regression per theme over TF-IDF character and word n-grams of the folded text, where
the words under a negation are marked (« je ne compte pas résilier » is not « résilier »).
Trained here from corpora/themes/ (near misses included: other senses, negations, third
parties), evaluated through the alert rules on tests/alerts/themes_heldout.yml, never
trained on. config/alerts/themes.yml names the themes; a theme may also be read from the
emotion (praise: positive, intensity 2 or more).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Sequence

import yaml

from numi.signals import models
from numi.text import fold

ROOT = Path(__file__).resolve().parent.parent.parent
CORPUS = ROOT / "corpora" / "themes"
WORD = re.compile(r"[a-z0-9]+")
# a negation marks the words after it up to the end of the clause
NEGATORS = frozenset({"ne", "n", "pas", "jamais", "aucun", "aucune", "sans", "ni", "plus", "rien", "nullement"})
CLAUSE_END = re.compile(r"[.,;:!?()\n]|\b(?:mais|car|parce|sinon|donc|et)\b")
NEGATION_SPAN = 4  # words


def tokens(text: str) -> List[str]:
    """The folded words of `text`, those under a negation prefixed with « non_ »."""
    out: List[str] = []
    for clause in CLAUSE_END.split(fold(text or "").replace("’", "'")):
        if not clause:
            continue
        left = 0
        for word in WORD.findall(clause):
            if word in NEGATORS:
                left = NEGATION_SPAN
                out.append(word)
            elif left:
                out.append("non_" + word)
                left -= 1
            else:
                out.append(word)
    return out


def _analyzer(text: str) -> List[str]:
    words = tokens(text)
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])] + \
        [f"{a} {b} {c}" for a, b, c in zip(words, words[1:], words[2:])]


def _joined(text: str) -> str:
    return " ".join(tokens(text))


def _features() -> Any:  # a scikit-learn FeatureUnion (untyped)
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("words", TfidfVectorizer(analyzer=_analyzer, sublinear_tf=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                                  preprocessor=_joined)),
    ])


def load_examples(path: Path) -> List[Dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for ex in data.get("examples") or []:
        themes = ex.get("themes")
        if not isinstance(ex.get("text"), str) or not isinstance(themes, list):
            raise ValueError(f"{path}: exemple invalide : {ex!r}")
        out.append({"text": ex["text"], "themes": [str(t) for t in themes]})
    return out


def load_corpus(corpus: Path = CORPUS) -> List[Dict[str, Any]]:
    return [ex for path in models.corpus_files(corpus) for ex in load_examples(path)]


@dataclass
class ThemeModel:
    """One binary classifier per theme on shared features; `threshold` per theme."""

    features: Any
    classifiers: Dict[str, Any]
    threshold: Dict[str, float]
    fingerprint: str = ""

    @classmethod
    def train(cls, examples: Sequence[Dict[str, Any]], themes: Sequence[str], fingerprint: str = "",
              c: float = 10.0, threshold: float = 0.5) -> "ThemeModel":
        from sklearn.linear_model import LogisticRegression

        texts = [e["text"] for e in examples]
        features = _features().fit(texts)
        x = features.transform(texts)
        classifiers = {}
        for theme in themes:
            y = [theme in e["themes"] for e in examples]
            if any(y) and not all(y):
                classifiers[theme] = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(x, y)
        return cls(features, classifiers, {t: threshold for t in classifiers}, fingerprint)

    def scores_many(self, texts: Sequence[str]) -> List[Dict[str, float]]:
        texts = [t if isinstance(t, str) else "" for t in texts]
        if not texts:
            return []
        x = self.features.transform(texts)
        columns = {t: clf.predict_proba(x)[:, 1] for t, clf in self.classifiers.items()}
        return [{t: float(columns[t][i]) for t in columns} for i in range(len(texts))]

    def predict_many(self, texts: Sequence[str]) -> List[Dict[str, List[str]]]:
        """{theme: [the words of the message that weigh most for it]} per message."""
        out = []
        for text, scores in zip(texts, self.scores_many(texts)):
            found = {t: self.evidence(text, t) for t, p in scores.items()
                     if p >= self.threshold[t] and (text or "").strip()}
            out.append(found)
        return out

    def predict(self, text: str) -> Dict[str, List[str]]:
        return self.predict_many([text])[0]

    def evidence(self, text: str, theme: str, top: int = 3) -> List[str]:
        """The words and phrases of `text` that push it most towards `theme` (for the keywords
        that alerts and CRM notes show)."""
        words = self.features.transformer_list[0][1]
        weights = self.classifiers[theme].coef_[0][: len(words.vocabulary_)]
        grams = [g for g in dict.fromkeys(_analyzer(text)) if g in words.vocabulary_]
        ranked = sorted(((weights[words.vocabulary_[g]], g) for g in grams), reverse=True)
        best = [g.replace("non_", "") for w, g in ranked if w > 0][:top]
        return list(dict.fromkeys(best))


def load_or_train(themes: Sequence[str], models_dir: Path = ROOT / "models",
                  corpus: Path = CORPUS) -> ThemeModel:
    fp = models.fingerprint(corpus, [Path(__file__)])
    model: ThemeModel = models.cached(models_dir, "themes", fp,
                                      lambda: ThemeModel.train(load_corpus(corpus), themes, fp))
    return model


def unknown_themes(examples: Sequence[Dict[str, Any]], themes: Sequence[str]) -> List[str]:
    return sorted({t for e in examples for t in e["themes"]} - set(themes))


__all__ = ["ThemeModel", "load_or_train", "load_corpus", "tokens"]
