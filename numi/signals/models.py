"""Models trained here from numi's own corpora, cached in models/ under a fingerprint of
their data and code: loaded when the file is there, else trained (seconds) and saved.
Nothing is downloaded."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Iterable, List


def corpus_files(corpus: Path) -> List[Path]:
    """The training files: one .yml file, or every .yml file of a folder."""
    return [corpus] if corpus.is_file() else sorted(corpus.glob("*.yml"))


def fingerprint(corpus: Path, code: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for path in corpus_files(corpus):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    for path in code:
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def cached(models_dir: Path, name: str, fp: str, train: Callable[[], Any]) -> Any:
    """The model `name` for fingerprint `fp`: loaded from models/, else trained, saved
    atomically, and the older files of that name removed."""
    import joblib

    path = models_dir / f"{name}-{fp}.joblib"
    if path.exists():
        try:
            return joblib.load(path)
        except Exception:  # a damaged or foreign file: train again
            pass
    model = train()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    joblib.dump(model, tmp)
    tmp.replace(path)
    for old in models_dir.glob(f"{name}-*.joblib"):
        if old != path:
            old.unlink(missing_ok=True)
    return model
