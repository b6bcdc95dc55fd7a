"""Load and failure runs against a running cluster (`make bench-cluster`, tests/test_cluster.py).

Conversations go through the load balancer as a website visitor's do: a conversation id from
numi (`POST /chat/conversations`), then each message on Rasa's REST channel. A message whose
answer does not come (a replica killed under it: HAProxy's 502, a cut connection) is sent
again, up to `RETRIES` times: what matters is that every customer gets an answer.

`audit` then reads what the engines hold: every message in Rasa's tracker once and in order,
one signal per message in numi's alert engine, no ticket, e-mail or alert twice.
"""
from __future__ import annotations

import os
import signal
import statistics
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import yaml
from sqlalchemy import create_engine, text

from numi import cluster
from numi.devstack import http

RETRIES = 8
SAYS = Path(__file__).resolve().parent.parent / "deploy" / "load.yml"


@lru_cache(maxsize=1)
def says() -> Dict[str, Any]:
    loaded: Dict[str, Any] = yaml.safe_load(SAYS.read_text(encoding="utf-8"))
    return loaded


def script(index: int) -> List[Optional[str]]:
    """One conversation (deploy/load.yml); None: follow the bot (its first button, or free text)."""
    w = says()
    last = w["angry"] if index % int(w["angry_every"]) == 0 else w["thanks"]
    return [w["greeting"], w["problem"], None, None, last]


@dataclass
class Conversation:
    id: str
    sent: List[str] = field(default_factory=list)  # answered messages, in order
    unanswered: List[str] = field(default_factory=list)
    retries: int = 0
    latencies_ms: List[float] = field(default_factory=list)


@dataclass
class Run:
    conversations: List[Conversation]
    seconds: float

    @property
    def messages(self) -> int:
        return sum(len(c.sent) + len(c.unanswered) for c in self.conversations)

    @property
    def answered(self) -> int:
        return sum(len(c.sent) for c in self.conversations)

    def figures(self) -> Dict[str, Any]:
        lat = sorted(x for c in self.conversations for x in c.latencies_ms)
        pct = (lambda q: round(lat[min(len(lat) - 1, int(round(q * (len(lat) - 1))))], 1)) if lat else (lambda q: None)
        return {"conversations": len(self.conversations), "messages": self.messages, "answered": self.answered,
                "answered_after_retry": sum(1 for c in self.conversations if c.retries),
                "retries": sum(c.retries for c in self.conversations),
                "unanswered": self.messages - self.answered, "seconds": round(self.seconds, 1),
                "messages_per_s": round(self.answered / self.seconds, 1) if self.seconds else None,
                "p50_ms": pct(0.5), "p95_ms": pct(0.95),
                "mean_ms": round(statistics.fmean(lat), 1) if lat else None}


def _post(url: str, body: Dict[str, Any], timeout: float = 60.0) -> Tuple[int, Any]:
    try:
        return http("POST", url, body, timeout=timeout)
    except Exception as exc:  # a connection cut by a killed process: answered by a retry
        return 0, type(exc).__name__


def new_conversation(lb: str) -> str:
    for attempt in range(RETRIES):
        status, body = _post(f"{lb}/chat/conversations", {"channel": "rest"})
        if status == 201:
            return str(body["conversation_id"])
        time.sleep(0.5 * (attempt + 1))
    raise RuntimeError(f"no conversation id from {lb}: {status} {body}")


def converse(lb: str, conv: Conversation, turns: Sequence[Optional[str]]) -> None:
    reply: List[Dict[str, Any]] = []
    for turn, planned in enumerate(turns):
        if planned is None:
            buttons = [b for m in reply for b in (m.get("buttons") or [])]
            planned = str(buttons[0]["payload"]) if buttons else str(says()["free_text"])
        began = time.perf_counter()
        client_id = f"{conv.id[-24:]}-{turn}"  # the same on every retry of this message
        for attempt in range(RETRIES):
            status, body = _post(f"{lb}/webhooks/rest/webhook", {"sender": conv.id, "message": planned,
                                                                 "metadata": {"client_message_id": client_id}})
            if status == 200 and isinstance(body, list) and body:
                conv.latencies_ms.append((time.perf_counter() - began) * 1000)
                conv.sent.append(planned)
                reply = body
                break
            conv.retries += 1
            time.sleep(0.5 * (attempt + 1))
        else:
            conv.unanswered.append(planned)
            return  # the customer gives up: the rest of their conversation is not sent


def load(lb: str, conversations: int, concurrency: int, during: Optional[Any] = None) -> Run:
    """`conversations` conversations, `concurrency` at a time. `during(run_started)` runs in its
    own thread meanwhile (the failure run kills processes there)."""
    ids = [new_conversation(lb) for _ in range(conversations)]
    convs = [Conversation(i) for i in ids]
    queue = list(enumerate(convs))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                index, conv = queue.pop(0)
            converse(lb, conv, script(index))

    began = time.perf_counter()
    side = threading.Thread(target=during, args=(began,), daemon=True) if during else None
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in ([side] if side else []) + threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - began
    if side:
        side.join(120)
    return Run(convs, seconds)


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of these processes (Linux /proc), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return total / tick


def machine_cpu_seconds() -> float:
    """All the machine's busy CPU time (/proc/stat), the engines included."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return (sum(parts[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def audit(run: Run, lb: str, rasa_token: str, numi_db: str, settle: float = 90.0) -> Dict[str, Any]:
    """What the engines hold after `run`: counts of lost, duplicated and out-of-order messages,
    duplicated tickets, e-mails and alerts, and customer messages the alert engine missed."""
    lost = duplicated = out_of_order = 0
    said: Dict[str, List[str]] = {}
    for conv in run.conversations:
        status, tracker = http("GET", f"{lb}/conversations/{conv.id}/tracker?token={rasa_token}", timeout=60)
        texts = [e.get("text") for e in (tracker or {}).get("events", []) if e.get("event") == "user"] \
            if status == 200 else []
        said[conv.id] = [t for t in texts if isinstance(t, str)]
        kept = list(said[conv.id])
        for message in conv.sent:  # each answered message, found once, in the order sent
            if message in kept:
                position = kept.index(message)
                out_of_order += position != 0
                kept = kept[position + 1:]
            else:
                lost += 1
        # more messages in the tracker than the customer sent: a retried message processed twice
        duplicated += max(0, len(said[conv.id]) - len(conv.sent) - len(conv.unanswered))
    engine = create_engine(numi_db, future=True)
    ids = [c.id for c in run.conversations]
    expected = sum(len(v) for v in said.values())
    deadline = time.monotonic() + settle
    with engine.connect() as db:
        while True:  # the alert engine analyses every message, a little behind
            signals = db.execute(text("SELECT count(*) FROM message_signals WHERE conversation_id = ANY(:ids)"),
                                 {"ids": ids}).scalar_one()
            if signals >= expected or time.monotonic() > deadline:
                break
            time.sleep(2)
        q = {
            "tickets_duplicated": "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM tickets "
                                  "WHERE conversation_id = ANY(:ids) GROUP BY conversation_id, scenario) t",
            "alerts_duplicated": "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM alerts "
                                 "WHERE conversation_id = ANY(:ids) GROUP BY conversation_id, rule, message) t",
            "emails_duplicated": "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM outbox o "
                                 "JOIN tickets k ON k.number = o.ticket_number WHERE k.conversation_id = ANY(:ids) "
                                 "GROUP BY o.kind, o.recipient, o.subject, o.ticket_number) t",
            "tickets": "SELECT count(*) FROM tickets WHERE conversation_id = ANY(:ids)",
            "alerts": "SELECT count(*) FROM alerts WHERE conversation_id = ANY(:ids)",
        }
        found = {k: int(db.execute(text(v), {"ids": ids}).scalar_one()) for k, v in q.items()}
        # a message analysed twice: more signals of a text than the tracker holds of it (a
        # customer may well say the same thing twice in one conversation)
        counted = db.execute(text("SELECT conversation_id, text, count(*) FROM message_signals "
                                  "WHERE conversation_id = ANY(:ids) GROUP BY conversation_id, text"),
                             {"ids": ids}).all()
        found["signals_duplicated"] = sum(max(0, int(n) - said[c].count(t)) for c, t, n in counted)
    engine.dispose()
    return {"sent": run.messages, "answered": run.answered, "lost": lost, "duplicated": duplicated,
            "out_of_order": out_of_order, "in_tracker": expected,
            "signals": signals, "signals_missing": max(0, expected - signals), **found}


def lease_holder(numi_db: str, name: str = "scheduler") -> Optional[str]:
    engine = create_engine(numi_db, future=True)
    try:
        with engine.connect() as db:
            row = db.execute(text("SELECT holder, expires_at FROM leases WHERE name = :n"), {"n": name}).first()
            return str(row[0]) if row else None
    finally:
        engine.dispose()


def failure_run(topo: Any, conversations: int, concurrency: int, rasa_token: str,
                kill_after: Tuple[float, float] = (6.0, 10.0), takeover_within: float = 120.0) -> Dict[str, Any]:
    """Load, then `kill -9` one Rasa replica at `kill_after[0]` s and one numi process (the one
    holding the scheduler's lease) at `kill_after[1]` s; every count of `audit`, and how long
    another numi process took to hold the scheduler's lease."""
    numi_db = topo.env["NUMI_DATABASE_URL"]
    records = cluster.recorded(topo)
    killed: Dict[str, Any] = {}

    def kill(began: float) -> None:
        rasa = topo.rasa[0].name
        time.sleep(max(0.0, kill_after[0] - (time.perf_counter() - began)))
        os.kill(records[rasa][0], signal.SIGKILL)
        killed[rasa] = round(time.perf_counter() - began, 1)
        holder = lease_holder(numi_db) or ""
        victim = next((m.name for m in topo.numi if holder.endswith(f":{records[m.name][0]}")), topo.numi[0].name)
        time.sleep(max(0.0, kill_after[1] - (time.perf_counter() - began)))
        os.kill(records[victim][0], signal.SIGKILL)
        killed[victim] = round(time.perf_counter() - began, 1)
        killed["scheduler_holder_before"] = holder
        at = time.monotonic()
        while time.monotonic() - at < takeover_within:
            now_holder = lease_holder(numi_db)
            if now_holder and now_holder != holder:
                killed["scheduler_takeover_s"] = round(time.monotonic() - at, 1)
                killed["scheduler_holder_after"] = now_holder
                return
            time.sleep(1)

    run = load(topo.lb_url, conversations, concurrency, during=kill)
    return {"load": run.figures(), "killed": killed, **audit(run, topo.lb_url, rasa_token, numi_db)}
