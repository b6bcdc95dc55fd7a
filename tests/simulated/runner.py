"""Simulated customers (issue 18): each persona of customers.yml opens a conversation on the
real servers (Rasa + numi, `numi.devstack.Stack`), answers the bot's questions from its own
replies, and the conversation is scored:

* right scenario: the first playbook walked;
* right ticket and priority, and no ticket of another scenario (no request invented);
* right handoff queue (or none);
* nothing forbidden said, nothing in `never_asked` asked, no question asked twice;
* at most `max_turns` customer messages.

    python -m tests.simulated.runner [--only ID] [--json results/simulated.json]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from numi import auth
from numi.devstack import Stack, http
from numi.playbooks.library import load_library
from numi.settings import ROOT

CUSTOMERS = Path(__file__).resolve().parent / "customers.yml"
SLACK = 3  # messages beyond max_turns before a conversation is cut
AFTER_HOURS = "Laisser ma demande par écrit"


@dataclass
class Result:
    id: str
    turns: int = 0
    failures: List[str] = field(default_factory=list)
    transcript: List[Dict[str, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def load(path: Path = CUSTOMERS) -> List[Dict[str, Any]]:
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("conversations") or []


def _texts(replies: Any) -> List[str]:
    return [m.get("text") or "" for m in replies or [] if isinstance(m, dict)]


def _state(stack: Stack, sender: str) -> Dict[str, Any]:
    slots = (stack.tracker(sender) or {}).get("slots") or {}
    return {"pb": slots.get("pb_state") or {}, "handoff": slots.get("handoff") or {}}


def _answer(persona: Dict[str, Any], lib, pb_state: Dict[str, Any]) -> Optional[str]:
    """What the persona says to the question the bot is asking, or None (nothing more to say)."""
    replies = persona.get("replies") or {}
    stack = pb_state.get("stack") or []
    if pb_state.get("pending") == "also":
        return replies.get("also") or "C'est ma réponse"
    if not stack:
        return None
    frame = stack[-1]
    step = lib[frame["id"]].steps.get(frame["step"])
    keys = ([step.collect.slot] if step is not None and step.collect else []) + [frame["step"]]
    for key in keys:
        if key in replies:
            return str(replies[key])
    if frame["id"] == "human_handoff" and frame["step"] == "ferme":
        return AFTER_HOURS  # after hours, whoever asked for a person leaves the request, unless told otherwise
    return persona.get("default_reply")


def run_one(stack: Stack, lib, persona: Dict[str, Any], staff: str) -> Result:
    result = Result(id=persona["id"])
    expect = persona.get("expect") or {}
    token = auth.customer_token(persona["customer"], stack.secret) if persona.get("customer") else None
    sender = stack.new_conversation(customer_token=token)
    limit = int(expect.get("max_turns") or 8)
    message: Optional[str] = persona["opening"]
    said_to: Dict[str, int] = {}
    bot: List[str] = []
    while message is not None and result.turns < limit + SLACK:
        status, replies = stack.say(sender, message)
        result.turns += 1
        texts = _texts(replies) if status == 200 else [f"HTTP {status}"]
        result.transcript += [{"customer": message}] + [{"bot": t} for t in texts]
        bot += texts
        state = _state(stack, sender)
        if state["handoff"].get("status") in ("waiting", "claimed"):
            break
        message = _answer(persona, lib, state["pb"])
        if message == AFTER_HOURS:
            limit += 1  # the question of the closed hours is one more than the persona planned
        if message is not None:
            said_to[message] = said_to.get(message, 0) + 1
            if said_to[message] > 2:  # the persona has nothing new to say: the bot is stuck
                result.failures.append(f"stuck: the same answer asked for a third time ({message[:40]!r})")
                break
    state = _state(stack, sender)
    pb = state["pb"]
    trail = [tuple(t) for t in pb.get("trail") or []]
    asked = [tuple(a) for a in pb.get("asked") or []]
    scenario = expect.get("scenario")
    if not trail or trail[0][0] != scenario:
        result.failures.append(f"scenario: {trail[0][0] if trail else None} instead of {scenario}")
    tickets = http("GET", f"{stack.numi}/api/tickets?conversation_id={sender}", token=staff)[1].get("tickets") or []
    mine = [t for t in tickets if t.get("scenario") == scenario]
    want = expect.get("ticket")
    if want in (None, "none"):
        if any(t.get("priority") for t in mine):
            result.failures.append(f"ticket: {mine[0]['priority']} instead of none")
    elif not mine or mine[0].get("priority") != want:
        result.failures.append(f"ticket: {[t.get('priority') for t in mine]} instead of {want}")
    allowed = {scenario, *(expect.get("also") or []), "human_handoff", "escalation_l2"}
    invented = sorted({t.get("scenario") for t in tickets} - allowed)
    if invented:
        result.failures.append(f"invented request: tickets of {invented}")
    # a live handoff, or the ticket escalated to a queue (« level 2 when it cannot be reproduced »)
    queue = (state["handoff"].get("queue")
             or next((t.get("queue") for t in mine if t.get("status") == "escalated"), None))
    if queue != expect.get("handoff"):
        result.failures.append(f"handoff: {queue} instead of {expect.get('handoff')}")
    for pattern in expect.get("forbidden") or []:
        hit = next((t for t in bot if re.search(pattern, t, re.IGNORECASE)), None)
        if hit:
            result.failures.append(f"forbidden: {pattern!r} in {hit[:60]!r}")
    never = set(expect.get("never_asked") or [])
    for pid, sid in asked:
        step = lib[pid].steps.get(sid)
        if sid in never or (step is not None and step.collect and step.collect.slot in never):
            result.failures.append(f"asked again what the opening said: {pid}.{sid}")
    repeated = sorted({a for a in asked if asked.count(a) > 1})
    if repeated:
        result.failures.append(f"asked twice: {repeated}")
    if result.turns > limit:
        result.failures.append(f"turns: {result.turns} > {limit}")
    return result


def run(personas: List[Dict[str, Any]], tmp: Path) -> List[Result]:
    stack = Stack(tmp).start()
    try:
        lib = load_library()
        staff = stack.staff_token("Simulation", "supervisor")
        return [run_one(stack, lib, p, staff) for p in personas]
    finally:
        stack.stop()


def report(results: List[Result]) -> Dict[str, Any]:
    passed = sum(r.passed for r in results)
    return {"conversations": len(results), "passed": passed, "rate": passed / max(1, len(results)),
            "mean_turns": sum(r.turns for r in results) / max(1, len(results)),
            "failures": {r.id: r.failures for r in results if not r.passed}}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only")
    parser.add_argument("--json", default=str(ROOT / "results" / "simulated.json"))
    parser.add_argument("--transcripts", action="store_true")
    args = parser.parse_args(argv)
    personas = [p for p in load() if not args.only or p["id"] == args.only]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        results = run(personas, Path(tmp))
    out = report(results)
    out["seconds"] = round(time.perf_counter() - start, 1)
    for r in results:
        print(f"{'ok  ' if r.passed else 'FAIL'} {r.id} ({r.turns} messages)"
              + "".join(f"\n       {f}" for f in r.failures))
        if args.transcripts:
            for line in r.transcript:
                print("       " + "".join(f"{k}: {v}" for k, v in line.items()).replace("\n", " ")[:300])
    print(f"{out['passed']}/{out['conversations']} conversations pass ({out['rate']:.0%}), "
          f"{out['mean_turns']:.1f} customer messages on average, {out['seconds']} s")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({**out, "transcripts": {r.id: r.transcript for r in results}},
                                          ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
