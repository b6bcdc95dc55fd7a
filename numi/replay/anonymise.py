"""Masking personal data in recorded conversations before a trainer sees them.

Pure functions: text in, text out. What is masked, and by what:

* e-mail addresses                            → ``[e-mail]``
* IBANs and card-like runs of 13 to 19 digits → ``[numéro]``
* customer numbers CLT-xxxxx                  → ``[client]``
* ticket numbers TK-xxxxx                     → ``[ticket]``
* French phone numbers (06…, +33 6…, 0033…)   → ``[téléphone]``
* six-digit codes (one-time codes)            → ``[code]``
* known customer names (full name, last name
  alone, first name alone; accents, case and
  hyphens ignored)                            → ``[nom]``

The order matters (an e-mail address contains a name, an IBAN contains digit
runs) and is fixed by ``Anonymiser.text``. Masking is idempotent.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable, List, Mapping, Optional, Pattern, Sequence, Tuple

from sqlalchemy import select

from numi.db import models as m

EMAIL = "[e-mail]"
PHONE = "[téléphone]"
CUSTOMER = "[client]"
TICKET = "[ticket]"
NUMBER = "[numéro]"
CODE = "[code]"
NAME = "[nom]"

Name = Tuple[str, str]  # (first name, last name); either may be empty

_EMAIL_RE = re.compile(r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,}")
# FR76 3000 6000 0112 3456 7890 189, DE89370400440532013000 (country code in capitals, or « fr »)
_IBAN_RE = re.compile(r"(?<![\w])(?:[A-Z]{2}|[Ff][Rr])\d{2}(?:[ \-]?[A-Za-z0-9]{4}){2,7}"
                      r"(?:[ \-]?[A-Za-z0-9]{1,3})?(?![\w])")
# 4970 1012 3456 7890, 4970-1012-3456-7890, 4970101234567890 (13 to 19 digits)
_CARD_RE = re.compile(r"(?<![\d])\d(?:[ \-.]?\d){12,18}(?![\d])")
_CUSTOMER_RE = re.compile(r"(?<![\w])CLT[\s\-_]?\d{3,}(?![\d])", re.IGNORECASE)
_TICKET_RE = re.compile(r"(?<![\w])TK[\s\-_]?\d{3,}(?![\d])", re.IGNORECASE)
# +33 6 12 34 56 78, +33 (0)6 12 34 56 78, 0033612345678 (before card runs: 0033… has 13 digits)
_INTL_PHONE_RE = re.compile(r"(?<![\w+])(?:\+|00)\s?33[\s.\-]?(?:\(0\)[\s.\-]?)?[1-9](?:[\s.\-]?\d{2}){4}(?![\d])")
# 06 12 34 56 78, 06.12.34.56.78, 06-12-34-56-78, 0612345678
_PHONE_RE = re.compile(r"(?<![\w])0[1-9](?:[\s.\-]?\d{2}){4}(?![\d])")
_CODE_RE = re.compile(r"(?<![\d])\d{6}(?![\d])")

_SEPARATORS = " -'’"
_MIN_SINGLE = 3  # a first or last name alone is masked from this length on


def _fold_char(ch: str) -> str:
    return unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode().lower()


def _char_class(ch: str) -> str:
    variants = {ch, ch.lower(), ch.upper()}
    base = _fold_char(ch)
    if base:
        variants |= {base, base.upper()}
    return "[" + "".join(re.escape(v) for v in sorted(variants) if len(v) == 1) + "]"


def _name_regex(name: str) -> str:
    """One name as a pattern: accents, case, spaces/hyphens/apostrophes ignored."""
    out: List[str] = []
    previous_sep = False
    for ch in name.strip():
        if ch in _SEPARATORS or ch.isspace():
            if not previous_sep:
                out.append(r"[\s\-'’]+")
            previous_sep = True
            continue
        previous_sep = False
        out.append(_char_class(ch))
    return "".join(out)


def _clean(part: Any) -> str:
    return " ".join(str(part).split()) if isinstance(part, str) else ""


def names_pattern(names: Iterable[Sequence[Any]]) -> Optional[Pattern[str]]:
    """A compiled pattern for known names, longest alternatives first (None if no usable name)."""
    alternatives = set()
    for item in names or ():
        if not isinstance(item, (tuple, list)) or not item:
            continue
        first = _clean(item[0]) if len(item) > 0 else ""
        last = _clean(item[1]) if len(item) > 1 else ""
        if first and last:
            alternatives.add(f"{first} {last}")
            alternatives.add(f"{last} {first}")
        for single in (first, last):
            if len(single) >= _MIN_SINGLE:
                alternatives.add(single)
    if not alternatives:
        return None
    ordered = sorted(alternatives, key=lambda a: (-len(a), a))
    body = "|".join(_name_regex(a) for a in ordered)
    return re.compile(rf"(?<![\w])(?:{body})(?![\w])", re.IGNORECASE)


@dataclass(frozen=True)
class Anonymiser:
    """Masks personal data; build once per conversation list (the name pattern is compiled once)."""

    names: Tuple[Name, ...] = ()
    _names_re: Optional[Pattern[str]] = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_names_re", names_pattern(self.names))

    def text(self, text: Any) -> Any:
        if not isinstance(text, str) or not text:
            return text
        text = _EMAIL_RE.sub(EMAIL, text)
        text = _IBAN_RE.sub(NUMBER, text)
        text = _CUSTOMER_RE.sub(CUSTOMER, text)
        text = _TICKET_RE.sub(TICKET, text)
        text = _INTL_PHONE_RE.sub(PHONE, text)
        text = _CARD_RE.sub(NUMBER, text)
        text = _PHONE_RE.sub(PHONE, text)
        text = _CODE_RE.sub(CODE, text)
        if self._names_re is not None:
            text = self._names_re.sub(NAME, text)
        return text

    def value(self, value: Any) -> Any:
        """Every string inside `value` (dicts, lists, tuples) masked; keys and other types kept."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value


def anonymise_text(text: str, names: Iterable[Sequence[Any]] = ()) -> str:
    """`text` with e-mails, phones, customer/ticket numbers, IBAN/card numbers, codes and names masked."""
    return Anonymiser(tuple(tuple(n) for n in names or ())).text(text)


def anonymise_value(value: Any, names: Iterable[Sequence[Any]] = ()) -> Any:
    """Like `anonymise_text`, for every string of a JSON-like value (a bot message, a prompter card)."""
    return Anonymiser(tuple(tuple(n) for n in names or ())).value(value)


def customer_names(session: Any) -> List[Name]:
    """(first, last) of every customer not yet erased, read from the numi database `customers` table."""
    rows = session.execute(select(m.Customer.first_name, m.Customer.last_name)
                           .where(m.Customer.erased_at.is_(None))).all()
    return [(r[0] or "", r[1] or "") for r in rows if (r[0] or r[1])]
