"""Signals on customer messages. For now a French lexicon for the customer's mood
in the handoff packet; the alerts issue replaces it with a trained model."""
from __future__ import annotations

from typing import Dict, Iterable

from numi.text import words

ANGER = {"marre", "inadmissible", "scandaleux", "honteux", "nul", "nuls", "arnaque", "colere", "furieux",
         "inacceptable", "incompetents", "resilier", "degoute", "ras", "bol", "foutez"}
ANXIETY = {"peur", "inquiet", "inquiete", "panique", "urgent", "pirate", "piratage", "vole", "angoisse", "stress"}
NEGATIVE = {"decu", "decue", "insatisfait", "probleme", "marche", "pas", "toujours", "lent", "plante", "bug", "mal"}
POSITIVE = {"merci", "super", "genial", "geniaux", "parfait", "top", "bravo", "excellent", "ravi", "ravie", "content"}


def mood_of(messages: Iterable[str]) -> Dict[str, object]:
    found = [w for m in messages for w in words(m)]
    scores = {"anger": sum(w in ANGER for w in found), "anxiety": sum(w in ANXIETY for w in found),
              "negative": sum(w in NEGATIVE for w in found), "positive": sum(w in POSITIVE for w in found)}
    label = max(scores, key=scores.get) if any(scores.values()) else "neutral"
    return {"label": label, **scores}
