"""Extraction and validation of the values a playbook step collects."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Optional, Sequence

from numi.nlu import dates

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?:\+33\s?|0033\s?|0)[1-9](?:[\s.\-]?\d{2}){4}")
TICKET = re.compile(r"\b[Tt][Kk][\s\-]?(\d{1,6})\b")
CUSTOMER = re.compile(r"\b[Cc][Ll][Tt][\s\-]?(\d{1,6})\b")
CODE = re.compile(r"\b(\d{6})\b")
NUMBER = re.compile(r"\b(\d+)\b")
MAX_TEXT = 2000
# the kinds whose value is recognisable on its own: while a step collects one of them, a
# message holding a valid value is the answer, whatever the intent classifier read in it
STRUCTURED = frozenset({"email", "phone", "ticket_id", "customer_number", "code", "number", "date", "datetime"})
# the kinds an earlier message may answer (`prefill: true`): a code or a bare number must be fresh
PREFILLABLE = STRUCTURED - {"code", "number"}


def normalize_phone(raw: str) -> str:
    digits = re.sub(r"\D", "", raw)
    if digits.startswith("0033"):
        digits = "0" + digits[4:]
    elif digits.startswith("33") and len(digits) == 11:
        digits = "0" + digits[2:]
    return " ".join(digits[i:i + 2] for i in range(0, len(digits), 2))


def extract(collect, msg, now: datetime) -> Optional[Any]:
    """The value of `collect.type` in the message, or None when absent/invalid."""
    text = (msg.text or "").strip()
    kind = collect.type
    entity = msg.entity(collect.entity) if collect.entity else None
    if kind == "email":
        m = EMAIL.search(str(entity or text))
        return m.group(0).lower() if m else None
    if kind == "phone":
        m = PHONE.search(str(entity or text))
        return normalize_phone(m.group(0)) if m else None
    if kind == "ticket_id":
        m = TICKET.search(str(entity or msg.entity("ticket_id") or text))
        return f"TK-{int(m.group(1)):05d}" if m else None
    if kind == "customer_number":
        m = CUSTOMER.search(str(entity or msg.entity("customer_number") or text))
        return f"CLT-{int(m.group(1)):05d}" if m else None
    if kind == "code":
        m = CODE.search(text)
        return m.group(1) if m else None
    if kind == "number":
        m = NUMBER.search(text)
        return int(m.group(1)) if m else None
    if kind in ("date", "datetime"):
        found = dates.find(text, now)
        if found is None or (kind == "datetime" and not found.has_time):
            return None
        return found.value.isoformat(timespec="minutes")
    if kind == "name":
        cleaned = re.sub(r"(?i)^(je m'?appelle|je suis|c'est|moi c'est|mon nom est)\s+", "", text).strip(" .!")
        return cleaned[:120] if 2 <= len(cleaned) <= 120 and not EMAIL.search(cleaned) else None
    # free text
    if collect.options:
        folded = text.lower()
        for option in collect.options:
            if option.lower() in folded:
                return option
        return None
    return text[:MAX_TEXT] if len(text) >= collect.min_length else None


REFUSALS = {"non", "non merci", "rien", "aucun", "aucune", "pas maintenant", "je ne sais pas", "jsp", "nan", "non."}


def is_refusal(text: str) -> bool:
    return (text or "").strip().lower().rstrip(" .!") in REFUSALS


# ---------------------------------------------------------------------------
# answers already given: a waiting step with `prefill` takes them instead of asking
# ---------------------------------------------------------------------------
CLAUSE = re.compile(r"[.!?;:\n]+|,\s+")
# words of a clause that asks for the request itself or only greets (language data)
NOT_A_SUBJECT = re.compile(r"(?i)\b(rappel\w*|appel\w*|joindre|contact\w*|t[ée]l[ée]phon\w*|bonjour|bonsoir|salut|"
                           r"merci|svp|s'il vous pla[iî]t|stp)\b")
ABOUT = re.compile(r"(?i)\b(?:pour|au sujet d[eu']|concernant|[àa] propos d[eu']|car|parce qu'?e?)\s*(?P<rest>.+)$")


def remainder(text: str) -> Optional[str]:
    """What a message says besides the request and its values: « Rappelez-moi jeudi à 14h au
    06 12 34 56 78, mon imprimante ne marche plus » → « mon imprimante ne marche plus »."""
    kept = []
    for clause in CLAUSE.split(text or ""):
        clause = clause.strip(" -–—")
        about = ABOUT.search(clause) if NOT_A_SUBJECT.search(clause) else None
        if about:  # « rappelez-moi demain pour mon ordinateur qui rame » → what follows « pour »
            clause = about.group("rest")
        if (len(clause.split()) < 3 or NOT_A_SUBJECT.search(clause) or EMAIL.search(clause)
                or PHONE.search(clause) or dates.find(clause, datetime(2000, 1, 1)) is not None):
            continue
        kept.append(clause)
    joined = ". ".join(kept)
    return joined[:MAX_TEXT] if len(joined.split()) >= 3 else None


QUOTED = re.compile(r"[«\"“]\s*([^»\"”]{3,120}?)\s*[»\"”]")
TOPIC = re.compile(r"(?i)\b(?:pour|sur|au sujet d[eu']|concernant|[àa] propos d[eu']|apprendre [àa]|m'initier [àa]|"
                   r"ma[iî]triser)\s*(?P<rest>[^.!?;,]+)")


def about(text: str) -> Optional[str]:
    """The topic a request names: a title in quotes, else what follows « pour », « sur »…"""
    quoted = QUOTED.search(text or "")
    if quoted:
        return quoted.group(1)
    topic = TOPIC.search(text or "")
    rest = topic.group("rest").strip(" ,") if topic else ""
    return rest[:MAX_TEXT] if len(rest.split()) >= 2 and not (EMAIL.search(rest) or PHONE.search(rest)) else None


# where, since when, on what (language data for the steps of a bug report)
NAMED = {
    "place": re.compile(r"(?i)\b(espace client|appli(?:cation)?(?: numi)?|site(?: numi| web| internet)?|chat(?: numi)?|"
                        r"(?:page|rubrique|onglet|menu|bouton) (?:«[^»]{1,60}»|[\w'’-]+(?: [\w'’-]+)?)|"
                        r"tableau de bord|formulaire(?: [\w'’-]+)?)"),
    "since": re.compile(r"(?i)\b(depuis (?:[\w'’]+ ){0,2}?(?:matin|soir|midi|nuit|hier|semaine|mois|jours?|heures?|"
                        r"minutes?|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|"
                        r"\d{1,2}(?:/\d{1,2})?(?: (?:jours?|heures?|semaines?|mois|minutes?))?)"
                        r"(?: (?:vers )?\d{1,2} ?h\d{0,2})?|ce matin(?: vers \d{1,2} ?h)?|"
                        r"cet apr[eè]s-midi|ce soir|cette nuit|"
                        r"hier(?: soir| matin)?|aujourd'hui|avant-hier|la semaine derni[eè]re|tout à l'heure)"),
    "device": re.compile(r"(?i)\b(chrome|firefox|safari|edge|opera|iphone(?: \d+)?|ipad|android|samsung(?: galaxy)?|"
                         r"windows(?: \d+)?|mac(?:book)?|linux|pc(?: portable| fixe)?|ordinateur(?: portable)?|"
                         r"t[ée]l[ée]phone|tel|smartphone|mobile|tablette)\b"),
}


def named(kind: str, text: str) -> Optional[str]:
    """The phrases of `text` that name a place of numi, a moment or a device (joined)."""
    found = list(dict.fromkeys(m.group(1).strip() for m in NAMED[kind].finditer(text or "")))
    return ", ".join(found)[:MAX_TEXT] if found else None


def prefilled(collect, kind: str, said: Sequence[Any], now: datetime) -> Optional[Any]:
    """The answer to a collect step found in what the customer already said (latest first)."""
    for msg in reversed(list(said)):
        if kind == "value" and collect.type in PREFILLABLE:
            value = extract(collect, msg, now)
        elif kind == "period":
            value = msg.text[:MAX_TEXT] if dates.month_range(msg.text, now) else None
        elif kind == "remainder":
            value = remainder(msg.text)
        elif kind == "about":
            value = about(msg.text)
        elif kind in NAMED:
            value = named(kind, msg.text)
        else:
            value = None
        if value is not None:
            return value
    return None
