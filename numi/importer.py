"""CSV import of real customer data (UTF-8, comma or semicolon separated, header row).

    python -m numi.cli import customers clients.csv
    columns: id, first_name, last_name, email, phone, segment, perimeter, satisfaction, recommendation
    python -m numi.cli import subscriptions abonnements.csv
    columns: customer_id, plan, started_on, expires_on, quote_signed_on, status
    python -m numi.cli import invoices factures.csv
    columns: id, customer_id, issued_on, period, amount_eur, label
    python -m numi.cli import workshops ateliers.csv
    columns: id, title, topic, level, starts_at, seats, keywords (separated by |)

Rows are validated first; a file with any invalid row imports nothing and the
errors name the line. Existing ids are updated (upsert).
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from sqlalchemy.orm import Session

from numi import wording
from numi.db import models as m

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.I)


Row = Mapping[str, str]  # a csv.DictReader row


class ImportError_(ValueError):
    """Every invalid row of a file, one line each (« ligne 3 : e-mail invalide … »)."""

    def __init__(self, errors: List[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class RowError(ValueError):
    """One row's problem: a key of texts.yml's cli.import_errors, and its values."""

    def __init__(self, code: str, **values: Any) -> None:
        super().__init__(code)
        self.code, self.values = code, values

    def __str__(self) -> str:
        return wording.text(f"cli.import_errors.{self.code}", **self.values)


def _req(row: Row, key: str) -> str:
    value = (row.get(key) or "").strip()
    if not value:
        raise RowError("missing", column=key)
    return value


def _opt(row: Row, key: str) -> Optional[str]:
    return (row.get(key) or "").strip() or None


def _customer(row: Row) -> Dict[str, Any]:
    cid = _req(row, "id")
    if not re.fullmatch(r"CLT-\d{5}", cid):
        raise RowError("invalid_customer_id", value=cid)
    email = _opt(row, "email")
    if email and not EMAIL.match(email):
        raise RowError("invalid_email", value=email)

    def score(k: str, hi: int) -> Optional[int]:
        return int(row[k]) if _opt(row, k) and 0 <= int(row[k]) <= hi else None

    return {"id": cid, "first_name": _opt(row, "first_name"), "last_name": _opt(row, "last_name"),
            "email": email.lower() if email else None, "phone": _opt(row, "phone"),
            "segment": _opt(row, "segment") or "standard", "perimeter": _opt(row, "perimeter") or "particuliers",
            "satisfaction": score("satisfaction", 5), "recommendation": score("recommendation", 10)}


def _subscription(row: Row) -> Dict[str, Any]:
    return {"customer_id": _req(row, "customer_id"), "plan": _req(row, "plan"),
            "started_on": date.fromisoformat(_req(row, "started_on")),
            "expires_on": date.fromisoformat(_req(row, "expires_on")),
            "quote_signed_on": date.fromisoformat(row["quote_signed_on"]) if _opt(row, "quote_signed_on") else None,
            "status": _opt(row, "status") or "active"}


def _invoice(row: Row) -> Dict[str, Any]:
    try:
        amount = Decimal(_req(row, "amount_eur").replace(",", "."))
    except InvalidOperation:
        raise RowError("invalid_amount") from None
    return {"id": _req(row, "id"), "customer_id": _req(row, "customer_id"),
            "issued_on": date.fromisoformat(_req(row, "issued_on")), "period": _req(row, "period"),
            "amount_eur": amount, "label": _req(row, "label")}


def _workshop(row: Row) -> Dict[str, Any]:
    return {"id": _req(row, "id"), "title": _req(row, "title"), "topic": _req(row, "topic"),
            "level": _opt(row, "level") or "débutant", "starts_at": datetime.fromisoformat(_req(row, "starts_at")),
            "seats": int(_opt(row, "seats") or 12),
            "keywords": [k.strip() for k in (_opt(row, "keywords") or "").split("|") if k.strip()]}


KINDS: Dict[str, Tuple[Any, Callable[[Row], Dict[str, Any]]]] = {"customers": (m.Customer, _customer),
                                          "subscriptions": (m.Subscription, _subscription),
                                          "invoices": (m.Invoice, _invoice), "workshops": (m.Workshop, _workshop)}


def import_csv(session: Session, kind: str, source: str | Path) -> int:
    model, parse = KINDS[kind]
    raw = Path(source).read_text(encoding="utf-8-sig") if not isinstance(source, str) or "\n" not in source else source
    dialect = csv.Sniffer().sniff(raw.splitlines()[0], delimiters=",;")
    rows, errors = [], []
    for n, row in enumerate(csv.DictReader(io.StringIO(raw), dialect=dialect), start=2):
        try:
            values = parse(row)
            if kind in ("subscriptions", "invoices") and session.get(m.Customer, values["customer_id"]) is None:
                raise RowError("unknown_customer", value=values["customer_id"])
            rows.append(values)
        except (ValueError, KeyError) as exc:
            errors.append(wording.text("cli.import_line", line=n, problem=str(exc)))
    if errors:
        raise ImportError_(errors)
    for values in rows:
        session.merge(model(**values)) if "id" in values else session.add(model(**values))
        if kind == "customers":
            session.flush()
    return len(rows)
