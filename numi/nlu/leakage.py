"""Held-out sets must stay unseen: no training text may be a copy or a near copy of a
held-out one of MIN_WORDS words or more (same words once folded, or character n-gram
cosine similarity at or above NEAR). `python -m numi.nlu.leakage [--fix]` lists the pairs
(and removes the training side); tests/test_heldout_leakage.py fails on any."""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Iterable, List, Set, Tuple

import yaml

from numi.settings import ROOT
from numi.text import fold

NEAR = 0.9
MIN_WORDS = 4  # shorter texts are formulas (« bonjour », « merci beaucoup ») that both sides may share
TRAINING = ("data/nlu/*.yml", "corpora/emotion/*.yml", "corpora/themes/*.yml")
HELDOUT = ("tests/nlu/heldout*.yml", "tests/emotion/heldout*.yml", "tests/alerts/*heldout*.yml")


def texts_of(path: Path) -> List[str]:
    """The example texts of a Rasa NLU file or of an `examples:` list."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if isinstance(raw.get("examples"), list):
        return [e["text"] for e in raw["examples"] if isinstance(e, dict) and isinstance(e.get("text"), str)]
    out = []
    for block in raw.get("nlu") or []:
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                out.append(texts_of_line(line[2:]))
    return out


def _files(patterns: Iterable[str], root: Path) -> List[Path]:
    return sorted(p for pattern in patterns for p in root.glob(pattern))


def key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", fold(text)))


def near_copies(root: Path = ROOT, near: float = NEAR) -> List[Tuple[float, str, str]]:
    """(similarity, training text, held-out text) for every pair too close."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    train = sorted({t for p in _files(TRAINING, root) for t in texts_of(p)})
    held = sorted({t for p in _files(HELDOUT, root) for t in texts_of(p) if len(key(t).split()) >= MIN_WORDS})
    held_keys = {key(t): t for t in held}
    out = [(1.0, t, held_keys[key(t)]) for t in train if key(t) in held_keys]
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), preprocessor=key).fit(train + held)
    sims = vectorizer.transform(train) @ vectorizer.transform(held).T
    sims = sims.tocoo()
    for i, j, v in zip(sims.row, sims.col, sims.data):
        if v >= near and key(train[i]) != key(held[j]):
            out.append((float(v), train[i], held[j]))
    return sorted(out, reverse=True)


def drop(path: Path, texts: Set[str]) -> int:
    """Remove the examples whose text is in `texts` from a training file, line by line
    (the file's layout and comments stay). Returns how many were removed."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    out, removed, skipping = [], 0, None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if skipping is not None:
            if stripped and indent > skipping and not stripped.startswith("- "):
                continue  # the rest of a dropped entry (emotion, intensity, themes)
            skipping = None
        if stripped.startswith("- text:"):
            value = yaml.safe_load(stripped[len("- text:"):])
            if value in texts:
                removed += 1
                skipping = indent
                continue
        elif stripped.startswith("- ") and texts_of_line(stripped[2:]) in texts:
            removed += 1
            continue
        out.append(line)
    path.write_text("".join(out), encoding="utf-8")
    return removed


def texts_of_line(example: str) -> str:
    return re.sub(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}", r"\1\2", example)


def main(argv: List[str]) -> int:
    pairs = near_copies()
    for sim, train, held in pairs:
        print(f"{sim:.2f}  {train!r}  ~  {held!r}")
    print(f"{len(pairs)} near copies", file=sys.stderr)
    if pairs and "--fix" in argv:
        leaked = {train for _, train, _ in pairs}
        for path in _files(TRAINING, ROOT):
            n = drop(path, leaked)
            if n:
                print(f"{path.relative_to(ROOT)}: {n} removed", file=sys.stderr)
        return 0
    return 1 if pairs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
