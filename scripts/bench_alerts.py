"""Benchmark of the alerts pipeline (seed 002) on a fresh SQLite database with the demo data:

    make bench-alerts        # writes results/bench-alerts.json

* emotion model: one message, and a batch;
* the whole pipeline per customer message as ingestion runs it (emotions predicted per batch,
  then signals, churn score, rules, outbox, CRM note per message);
* the churn model's training on the demo history.
"""
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from numi import churn, runtime, signals  # noqa: E402
from numi.alerts import engine  # noqa: E402
from numi.settings import Settings  # noqa: E402
from numi.signals.emotion import HELDOUT, load_examples  # noqa: E402


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def main() -> None:
    texts = [e["text"] for e in load_examples(HELDOUT)]
    t0 = time.perf_counter()
    model = signals.emotion_model()
    signals.theme_model()
    load_s = time.perf_counter() - t0
    one = []
    for t in texts:
        s = time.perf_counter()
        model.predict(t)
        one.append((time.perf_counter() - s) * 1000)
    s = time.perf_counter()
    model.predict_many(texts)
    batch_ms = (time.perf_counter() - s) * 1000

    tmp = Path(tempfile.mkdtemp())
    services = runtime.init(Settings.from_env(env={}, database_url=f"sqlite:///{tmp / 'numi.db'}",
                                              secret="bench", mailbox_dir=tmp / "mailbox"))
    customers = ["CLT-00321", "CLT-00322", "CLT-00323", "CLT-00324", "CLT-00326", "CLT-00328", None]
    with services.sessions() as db:
        s = time.perf_counter()
        churn.model(db)
        churn_train_s = time.perf_counter() - s
    per_msg, fired = [], 0
    n = 1000
    start = time.perf_counter()
    # as the ingestion does: the emotions and themes of a batch at once, then one message at a time
    messages = [engine.IncomingMessage(text=texts[i % len(texts)], conversation_id=f"bench-{i // 5}",
                                       customer_id=customers[i % len(customers)], intent="complain")
                for i in range(n)]
    engine.predict(messages)
    for msg in messages:
        with services.sessions() as db, db.begin():
            s = time.perf_counter()
            fired += len(engine.process(db, services.settings, msg))
            per_msg.append((time.perf_counter() - s) * 1000)
    total = time.perf_counter() - start
    runtime.close()
    report = {
        "emotion_and_theme_models_load_s": round(load_s, 2),
        "emotion_predict_ms": {"p50": round(statistics.median(one), 2), "p95": round(pct(one, 95), 2)},
        "emotion_batch": {"messages": len(texts), "ms": round(batch_ms, 1)},
        "churn_train_s": round(churn_train_s, 2),
        "pipeline_per_message_ms": {"p50": round(statistics.median(per_msg), 2), "p95": round(pct(per_msg, 95), 2)},
        "pipeline_messages_per_s": round(n / total, 1),
        "alerts_fired": fired,
        "messages": n,
    }
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "bench-alerts.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
