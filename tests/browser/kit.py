"""What the browser tests share: Debian's Chromium and its flags, screenshots, signing in to the
console, and, for the console pages that need no model, the numi service alone with a stand-in
answering on Rasa's port and chat transcripts written in a tracker store of Rasa's shape."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from numi.db import models as m
from numi.devstack import ROOT, Stack
from tests.helpers import rasa_stand_in

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - conftest.py skips the directory, saying why
    expect = sync_playwright = None  # type: ignore[assignment]

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "artifacts" / "screenshots"
FLAGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=alert(1)> {{7*7}}"


def missing() -> Optional[str]:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (make setup installs it with apt)"
    if sync_playwright is None:
        return "playwright is not installed (requirements-dev.txt)"
    for package in ("socket.io-client", "chart.js"):
        if not (ROOT / "web" / "node_modules" / package).exists():
            return "web/node_modules is missing: run make setup (npm ci)"
    return None


def shot(pg: Any, name: str, full_page: bool = False) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(pg: Any, url: str, token: str) -> None:
    pg.goto(url)
    pg.locator("#token").fill(token)
    pg.keyboard.press("Enter")
    expect(pg.locator("#app")).to_be_visible(timeout=10_000)


def service_with_stand_in(tmp: Path, seed: Callable[[Stack], Dict[str, Any]]) -> Iterator[Stack]:
    """The numi service alone with the demo data and `seed`'s (as `stack.seeded`); a stand-in on Rasa's port."""
    s = Stack(tmp, extra_env={"NUMI_ALERTS": "0"})
    with rasa_stand_in.serving(s.rasa_port):
        try:
            s.start(rasa=False)
            s.seeded = seed(s)  # type: ignore[attr-defined]
            yield s
        finally:
            s.stop()


def write_transcript(url: str, conversation: str, lines: List[Tuple[str, str]], at: datetime,
                     customer_id: Optional[str] = None) -> None:
    """A chat, as Rasa's SQL tracker store keeps it: ("user" | "bot" | "agent", text), 20 s apart."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                             "sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL, timestamp FLOAT, "
                             "intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"))
        customer = {"customer_id": customer_id} if customer_id else {}
        for k, (kind, text) in enumerate(lines):
            moment = (at - datetime(1970, 1, 1)).total_seconds() + 20 * k
            event: Dict[str, Any] = {"event": "user" if kind == "user" else "bot", "timestamp": moment, "text": text}
            event["metadata"] = ({"numi": {"mode": "customer", **customer}} if kind == "user" else
                                 {"numi": {"from": "agent", "author": "Karim"}} if kind == "agent" else {})
            conn.execute(sa.text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, :t, :ts, :d)"),
                         {"s": conversation, "t": event["event"], "ts": moment, "d": json.dumps(event)})
    engine.dispose()


def add_ticket(s: Session, customer_id: Any, subject: str, created: datetime, status: str = "in_progress",
               queue: Any = None, priority: Any = "normal", conversation_id: Any = None,
               scenario: str = "tech_support") -> m.Ticket:
    t = m.Ticket(customer_id=customer_id, scenario=scenario, subject=subject, status=status, queue=queue,
                 priority=priority, conversation_id=conversation_id, created_at=created, updated_at=created, data={})
    s.add(t)
    s.flush()
    s.add(m.TicketEvent(ticket_number=t.number, at=created, actor="hotliner:Camille", event="created", to_status="new"))
    return t
