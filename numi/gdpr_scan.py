"""Finding a customer's identifiers in free text, for the GDPR erasure (numi.gdpr).

An `Identity` is what identifies one customer in text written by anybody: their
e-mail (in any case, and in the dotted form numi's message ids and mailbox file
names give it), their phone number in any of its usual spellings
("06 47 19 83 52", "0647198352", "06.47.19.83.52", "+33 6 47 19 83 52",
"+33 (0)6 47 19 83 52", "0033647198352" …) and their name ("Zéphyrin Quatremain",
"QUATREMAIN Zephyrin", "Mme Quatremain": accents and case do not matter).

Two strengths: `strong` identifiers (e-mail, phone) are specific enough to say
that a conversation is the customer's; the name is not (homonyms), so it is only
ever redacted where it appears, never used to decide whose data something is.

`like_patterns()` gives lower-case substrings for a SQL `LIKE` pre-filter (with
`ESCAPE '!'`, see `like`); every candidate is then checked here, in Python.
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from sqlalchemy import Text, cast, func, or_

ESCAPE = "!"
_SEP = r"[\s.\-/]*"  # what people put between the digits of a phone number
CIVILITIES = r"(?:m|mr|mme|mlle|monsieur|madame|mademoiselle)"


def fold_char(c: str) -> str:
    """Lower-case, without accents ("É" -> "e"); may be "" (a lone combining mark) or longer."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", c) if not unicodedata.combining(ch)).lower()


def fold(text: str) -> Tuple[str, List[int]]:
    """The folded text and, for each of its characters, the index of the original character."""
    out: List[str] = []
    where: List[int] = []
    for i, c in enumerate(text):
        f = fold_char(c)
        out.append(f)
        where.extend([i] * len(f))
    return "".join(out), where


def folded(text: str) -> str:
    return fold(text)[0]


def message_id_form(value: str) -> str:
    """How numi.mail.message_id spells a string inside a message id (and a mailbox file name)."""
    return "".join(c if c.isalnum() or c in ".-_" else "." for c in value)


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone or "")


def phone_parts(phone: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    """(country code, national significant number) of a phone number; French by default."""
    raw = (phone or "").strip()
    digits = _digits(raw)
    if len(digits) < 6:
        return None, None
    international = raw.startswith("+") or digits.startswith("00")
    if digits.startswith("00"):
        digits = digits[2:]
    if international:
        if digits.startswith("33"):
            nsn = digits[2:]
            return "33", nsn[1:] if nsn.startswith("0") else nsn  # "+33 (0)6 …"
        return None, digits  # another country: the digits as written
    if digits.startswith("0") and len(digits) == 10:
        return "33", digits[1:]
    return None, digits


def phone_spellings(phone: Optional[str]) -> List[str]:
    """The usual spellings of the number (lower-case substrings for a SQL LIKE pre-filter)."""
    cc, nsn = phone_parts(phone)
    if not nsn:
        return []
    if cc != "33" or len(nsn) != 9:
        return sorted({nsn, _digits(phone or "")})
    national = "0" + nsn
    pairs = [national[i:i + 2] for i in range(0, 10, 2)]
    intl_pairs = [nsn[0]] + [nsn[i:i + 2] for i in range(1, 9, 2)]
    out = {national, "33" + nsn}  # "33…" also finds "+33…" and "0033…"
    for sep in (" ", ".", "-", "/"):
        out.add(sep.join(pairs))
        out.add("33" + " " + sep.join(intl_pairs))  # "+33 6 47 19 83 52", "+33 6.47.19.83.52"
        out.add("33 (0)" + sep.join(intl_pairs))
    out.add("33 (0) " + " ".join(intl_pairs))
    out.add("33" + " ".join(intl_pairs))  # "+336 47 19 83 52"
    return sorted(out)


def phone_regex(phone: Optional[str]) -> Optional[str]:
    """A regex (on folded text) for the number however it is spelt."""
    cc, nsn = phone_parts(phone)
    if not nsn:
        return None
    body = _SEP.join(re.escape(d) for d in nsn)
    if cc == "33":
        prefix = r"(?:(?:\+|00)\s*33" + _SEP + r"(?:\(\s*0\s*\)" + _SEP + r")?|0)"
        return r"(?<!\d)" + prefix + _SEP + body + r"(?!\d)"
    return r"(?<![\d])(?:\+|00)?" + _SEP + body + r"(?!\d)"


def _name_regex(name: str) -> str:
    words = [re.escape(w) for w in re.split(r"[\s\-]+", folded(name).strip()) if w]
    return r"[\s\-]+".join(words)


@dataclass(frozen=True)
class Identity:
    email: Optional[str] = None
    phone: Optional[str] = None
    first_name: Optional[str] = None
    last_name: Optional[str] = None
    _strong: Tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)
    _names: Tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def of(cls, customer: Any) -> "Identity":
        return cls.build(email=customer.email, phone=customer.phone, first_name=customer.first_name,
                         last_name=customer.last_name)

    @classmethod
    def build(cls, email: Optional[str] = None, phone: Optional[str] = None, first_name: Optional[str] = None,
              last_name: Optional[str] = None) -> "Identity":
        email = (email or "").strip() or None
        strong: List[re.Pattern[str]] = []
        if email:
            strong.append(re.compile(re.escape(folded(email))))
            dotted = folded(message_id_form(email))
            if dotted != folded(email):
                strong.append(re.compile(re.escape(dotted)))
        ph = phone_regex(phone)
        if ph:
            strong.append(re.compile(ph))
        names: List[re.Pattern[str]] = []
        last = (last_name or "").strip()
        first = (first_name or "").strip()
        if last and len(folded(last)) >= 2:
            last_re = _name_regex(last)
            if first:
                first_re = _name_regex(first)
                names.append(re.compile(r"(?<!\w)" + first_re + r"[\s\-]+" + last_re + r"(?!\w)"))
                names.append(re.compile(r"(?<!\w)" + last_re + r"[\s,\-]+" + first_re + r"(?!\w)"))
            names.append(re.compile(r"(?<!\w)" + CIVILITIES + r"\.?\s+" + last_re + r"(?!\w)"))
        return cls(email=email, phone=(phone or "").strip() or None, first_name=first or None,
                   last_name=last or None, _strong=tuple(strong), _names=tuple(names))

    # -- what to look for ---------------------------------------------------------------
    @property
    def empty(self) -> bool:
        return not self._strong and not self._names

    @property
    def has_strong(self) -> bool:
        return bool(self._strong)

    def _patterns(self, names: bool) -> Sequence[re.Pattern[str]]:
        return self._strong + (self._names if names else ())

    def spans(self, text: str, names: bool = True) -> List[Tuple[int, int]]:
        """(start, end) in `text` of every identifier found, merged, in order."""
        if not isinstance(text, str) or not text:
            return []
        f, where = fold(text)
        found = []
        for pat in self._patterns(names):
            for mt in pat.finditer(f):
                if mt.end() > mt.start():
                    found.append((where[mt.start()], where[mt.end() - 1] + 1))
        found.sort()
        merged: List[Tuple[int, int]] = []
        for s, e in found:
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
            else:
                merged.append((s, e))
        return merged

    def contains(self, text: Any, names: bool = True) -> bool:
        return bool(self.spans(text, names)) if isinstance(text, str) else False

    def redact(self, text: str, marker: str, names: bool = True) -> str:
        spans = self.spans(text, names)
        if not spans:
            return text
        out, last = [], 0
        for s, e in spans:
            out.append(text[last:s])
            out.append(marker)
            last = e
        out.append(text[last:])
        return "".join(out)

    def contains_value(self, value: Any, names: bool = True) -> bool:
        """In a string, or any string (key or value) of a JSON-like value; strings holding
        JSON are looked into too (Rasa escapes accents: "Z\\u00e9phyrin")."""
        return any(self.contains(s, names) for s in strings_of(value))

    def redact_value(self, value: Any, marker: str, names: bool = True) -> Any:
        """Redacted copy of a string or JSON-like value; a string holding a JSON document
        is redacted inside and stays valid JSON."""
        if isinstance(value, str):
            return self._redact_string(value, marker, names)
        if isinstance(value, list):
            return [self.redact_value(v, marker, names) for v in value]
        if isinstance(value, tuple):
            return tuple(self.redact_value(v, marker, names) for v in value)
        if isinstance(value, dict):
            return {self.redact(k, marker, names) if isinstance(k, str) else k: self.redact_value(v, marker, names)
                    for k, v in value.items()}
        return value

    def _redact_string(self, value: str, marker: str, names: bool) -> str:
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and self.contains_value(value, names):
            try:
                doc = json.loads(stripped)
            except ValueError:
                doc = None
            if isinstance(doc, (dict, list)):
                red = self.redact_value(doc, marker, names)
                if red != doc:
                    value = json.dumps(red, ensure_ascii=False)
        return self.redact(value, marker, names)

    # -- SQL pre-filter -----------------------------------------------------------------
    def like_patterns(self, names: bool = True) -> List[str]:
        """Lower-case substrings: a value holding an identifier contains at least one of
        them (for the usual spellings), raw or JSON-escaped."""
        subs = set()
        if self.email:
            subs.add(self.email.lower())
            subs.add(message_id_form(self.email).lower())
        subs.update(phone_spellings(self.phone))
        if names and self.last_name and self._names:
            for w in re.split(r"[\s\-]+", self.last_name.strip()):
                if len(w) >= 2:
                    subs.add(w.lower())
                    subs.add(folded(w))
        escaped = {json.dumps(s)[1:-1] for s in subs}
        return sorted(s for s in subs | escaped if s)


def strings_of(value: Any) -> Iterable[str]:
    """Every string in a JSON-like value, and in any JSON document a string holds."""
    if isinstance(value, str):
        yield value
        stripped = value.strip()
        if stripped[:1] in ("{", "[", '"'):
            try:
                inner = json.loads(stripped)
            except ValueError:
                return
            if inner != value:
                yield from strings_of(inner)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings_of(k)
            yield from strings_of(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings_of(v)


def like_escape(s: str) -> str:
    return s.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")


def like_any(columns: Iterable[Any], patterns: Iterable[str]) -> Any:
    """SQL: any of the columns (as lower-case text) contains any of the patterns."""
    pats = list(patterns)
    clauses = [func.lower(cast(col, Text)).like(f"%{like_escape(p)}%", escape=ESCAPE)
               for col in columns for p in pats]
    return or_(*clauses) if clauses else None
