"""`make bench-cluster`: the scale-out topology under load, then under failure (issue 17).

1. With 1 and then 2 Rasa replicas (2 numi processes), behind HAProxy on PostgreSQL, Redis
   and RabbitMQ (`make cluster`'s topology): 10, 50 and 100 concurrent conversations of five
   messages; throughput, p50, p95, and CPU time per message (the cluster's processes alone,
   and the whole machine, the engines included).
2. With 2 × 2: the same load, and `kill -9` of one Rasa replica and of the numi process that
   holds the scheduler's lease while it runs; every count of numi.loadgen.audit (messages
   sent, answered, lost, duplicated, out of order; tickets, e-mails, alerts twice; messages
   the alert engine missed) and the scheduler's takeover time.

`--short`: the failure part only, smaller (what CI runs in tests/test_cluster.py).
Writes results/bench-cluster.json. No assertion: figures are reported.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from numi import cluster, loadgen  # noqa: E402

TOKEN = os.environ.get("NUMI_RASA_TOKEN", "bench-rasa-token")


def _env(rasa: int) -> Dict[str, str]:
    env = dict(os.environ, NUMI_RASA_REPLICAS=str(rasa), NUMI_REPLICAS="2", NUMI_RASA_TOKEN=TOKEN,
               NUMI_CLUSTER_SCHEDULER="all", NUMI_CLUSTER_ALERTS="all",
               NUMI_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/numi_bench",
               NUMI_TRACKER_URL="postgresql://postgres@127.0.0.1:5432/rasa_bench",
               NUMI_REDIS_URL="redis://127.0.0.1:6379/7", NUMI_CLUSTER_DIR=str(ROOT / "var" / "bench-cluster"),
               NUMI_RATE_CONVERSATION="100000/second", NUMI_RATE_ADDRESS="100000/second",
               NUMI_RATE_PUBLIC="100000/second", PYTHONPATH=str(ROOT))
    env.setdefault("NUMI_SECRET", "bench-secret")
    env.setdefault("NUMI_ACTION_TOKEN", "bench-action-token")
    env.setdefault("NUMI_ADMIN_TOKEN", "bench-admin-token")
    for local in ("NUMI_LOCAL", "NUMI_DEMO", "NUMI_SCHEDULER", "NUMI_ALERTS"):
        env.pop(local, None)
    return env


def _pids(topo: Any) -> List[int]:
    out: List[int] = []
    for pid, _ in cluster.recorded(topo).values():
        out += cluster._group_members(pid) or [pid]
    return out


def load_table(rasa: int, levels: List[int]) -> List[Dict[str, Any]]:
    env = _env(rasa)
    topo = cluster.start(env)
    rows = []
    try:
        loadgen.load(topo.lb_url, 4, 4)  # warm-up: models loaded, connections open
        for concurrency in levels:
            pids = _pids(topo)
            cpu0, machine0 = loadgen.cpu_seconds(pids), loadgen.machine_cpu_seconds()
            run = loadgen.load(topo.lb_url, concurrency * 2, concurrency)
            cpu, machine = loadgen.cpu_seconds(pids) - cpu0, loadgen.machine_cpu_seconds() - machine0
            figures = run.figures()
            answered = max(1, figures["answered"])
            rows.append({"rasa_replicas": rasa, "numi_processes": 2, "concurrency": concurrency, **figures,
                         "cpu_ms_per_message": round(cpu * 1000 / answered, 1),
                         "machine_cpu_ms_per_message": round(machine * 1000 / answered, 1)})
            print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    finally:
        cluster.stop(env)
    return rows


def failure(conversations: int, concurrency: int) -> Dict[str, Any]:
    env = _env(2)
    topo = cluster.start(env)
    try:
        loadgen.load(topo.lb_url, 4, 4)
        result = loadgen.failure_run(topo, conversations, concurrency, TOKEN)
    finally:
        cluster.stop(env)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--short", action="store_true")
    args = parser.parse_args()
    began = time.monotonic()
    results: Dict[str, Any] = {}
    if not args.short:
        results["load"] = load_table(1, [10, 50, 100]) + load_table(2, [10, 50, 100])
    results["failure"] = failure(30 if args.short else 120, 10 if args.short else 40)
    results["seconds"] = round(time.monotonic() - began)
    out = ROOT / "results" / "bench-cluster.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
