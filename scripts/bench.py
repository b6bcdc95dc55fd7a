"""numi benchmark (`make bench`): latency and throughput of the real servers.

Measures, on one running stack (Rasa server + numi service):
  * POST /model/parse alone (sequential);
  * POST /webhooks/rest/webhook at 1 and at 10 concurrent conversations of 10 turns;
  * latency at the 1st vs the 50th message of a conversation;
  * a playbook step (walker + template) vs a plain response; the ticket-creating message;
  * start-up time, resident memory, model size, training time (from the train log).
Writes results/bench.json and prints a table. No assertions: figures are reported.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from numi.devstack import Stack, http, model_path, signed_conversation  # noqa: E402

CONVERSATION = [
    "bonjour",
    "mon imprimante ne veut plus imprimer depuis hier, elle clignote",
    None, None, None, None, None, None,  # follow the bot: first button, or a free-text answer
    "merci beaucoup",
    "au revoir",
]
FREE_TEXT = "Elle affiche un voyant orange et rien ne sort, j'ai déjà éteint et rallumé"


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1000, out


def run_conversation(stack, lat, sender=None, conversation=CONVERSATION):
    sender = sender or signed_conversation()
    reply = []
    for text in conversation:
        if text is None:
            buttons = [b for m in reply for b in (m.get("buttons") or [])]
            text = buttons[0]["payload"] if buttons else FREE_TEXT
        ms, (status, reply) = timed(partial(stack.say, sender, text))
        reply = reply if isinstance(reply, list) else []
        lat.append(ms)


def summary(latencies, elapsed):
    """p50, p95 (ms) and messages per second of a run that took `elapsed` seconds."""
    return {"messages": len(latencies), "p50_ms": round(pct(latencies, 50), 1),
            "p95_ms": round(pct(latencies, 95), 1), "msg_per_s": round(len(latencies) / elapsed, 1)}


def server_env():
    """NUMI_BENCH_ENV="K=V,K2=V2": extra environment for the servers under test."""
    pairs = [kv.split("=", 1) for kv in os.environ.get("NUMI_BENCH_ENV", "").split(",") if "=" in kv]
    return dict(pairs)


def parse_alone(stack, texts, n=200):
    """POST /model/parse, sequentially, on the same server."""
    parse = []
    start = time.perf_counter()
    for i in range(n):
        ms, _ = timed(partial(http, "POST", f"{stack.rasa}/model/parse?token={stack.rasa_token}",
                              {"text": texts[i % len(texts)]}))
        parse.append(ms)
    return summary(parse, time.perf_counter() - start)


def growth(stack, odd, even):
    """Latency of the 1st and the 50th message of ten 50-message conversations."""
    first, fiftieth = [], []
    for _ in range(10):
        sender = signed_conversation()
        for turn in range(50):
            ms, _ = timed(partial(stack.say, sender, odd if turn % 2 else even))
            if turn == 0:
                first.append(ms)
            if turn == 49:
                fiftieth.append(ms)
    return {"turn_1_p50_ms": round(statistics.median(first), 1),
            "turn_50_p50_ms": round(statistics.median(fiftieth), 1)}


def load(stack, conversations, concurrency, conversation=CONVERSATION):
    lat = []
    lock = threading.Lock()
    todo = list(range(conversations))

    def worker():
        local = []
        while True:
            with lock:
                if not todo:
                    break
                todo.pop()
            run_conversation(stack, local, conversation=conversation)
        with lock:
            lat.extend(local)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return summary(lat, time.perf_counter() - start)


def report(results, name):
    """Write results/<name> and print it."""
    out = ROOT / "results" / name
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


def rss_mb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None


def main():
    model = model_path()
    tmp = Path(tempfile.mkdtemp(prefix="numi-bench-"))
    t0 = time.perf_counter()
    stack = Stack(tmp, extra_env=server_env()).start()
    startup = time.perf_counter() - t0
    results = {"model": model, "model_mb": round(Path(model).stat().st_size / 1e6, 1),
               "startup_s": round(startup, 1)}
    try:
        # warm-up
        for _ in range(3):
            run_conversation(stack, [])
        results["model_parse"] = parse_alone(stack, ["bonjour", "mon imprimante ne marche plus",
                                                     "je veux un remboursement", "où en est mon ticket TK-00456"])
        results["webhook_1_conversation"] = load(stack, 10, 1)
        results["webhook_10_conversations"] = load(stack, 30, 10)
        results.update(growth(stack, "bonjour", "merci"))
        # a playbook step vs a plain response; the ticket-creating message
        plain, step, ticket = [], [], []
        for _ in range(20):
            sender = signed_conversation()
            plain.append(timed(partial(stack.say, sender, "bonjour"))[0])
            ticket.append(timed(partial(stack.say, sender, "je veux supprimer mon compte et mes données"))[0])
            step.append(timed(partial(stack.say, sender, "paul.martin@example.fr"))[0])
        results["plain_response_p50_ms"] = round(pct(plain, 50), 1)
        results["playbook_step_p50_ms"] = round(pct(step, 50), 1)
        results["ticket_opening_message_p50_ms"] = round(pct(ticket, 50), 1)
        results["ticket_opening_message_p95_ms"] = round(pct(ticket, 95), 1)
        results["rss_mb"] = {"numi_service": rss_mb(stack.pids()[0]), "rasa_server": rss_mb(stack.pids()[1])}
    finally:
        stack.stop()
    report(results, "bench.json")


if __name__ == "__main__":
    main()
