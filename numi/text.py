"""French text folding shared by the date parser, the walker, the effects and the mood lexicon."""
from __future__ import annotations

import re
import unicodedata
from typing import List


def fold(text: str) -> str:
    """Lowercase ASCII: « Problème » → « probleme »."""
    return unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()


def words(text: str) -> List[str]:
    """The folded words (letters and digits) of `text`."""
    return re.findall(r"[a-z0-9]+", fold(text))
