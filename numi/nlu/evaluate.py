"""Held-out NLU evaluation: accuracy, macro-F1, per-intent F1, most confused pairs.

    python -m numi.nlu.evaluate --model models/numi-xxxx.tar.gz [--min-macro-f1 0.90] [--json out.json]

The held-out set (tests/nlu/heldout.yml) is never trained on.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from numi.settings import ROOT

HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"


HARD = ROOT / "tests" / "nlu" / "heldout_hard.yml"  # a second author, six registers (issue 14)


def load_examples(path: Path = HELDOUT) -> List[Tuple[str, str]]:
    """(text, intent) from Rasa's NLU format, or from the hard set's `examples:` list."""
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if isinstance(raw, dict) and isinstance(raw.get("examples"), list):
        return [(e["text"], e["intent"]) for e in raw["examples"]]
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(ex.get("text"), ex.get("intent")) for ex in data.intent_examples]


def registers(path: Path) -> List[str]:
    raw = __import__("yaml").safe_load(path.read_text(encoding="utf-8"))
    return [e.get("register", "plain") for e in raw["examples"]] if isinstance(raw, dict) and "examples" in raw else []


def scores(pairs: List[Tuple[str, str]]) -> Dict[str, Any]:
    """pairs: (gold, predicted)."""
    labels = sorted({g for g, _ in pairs})
    per: Dict[str, Dict[str, float]] = {}
    for label in labels:
        tp = sum(1 for g, p in pairs if g == label and p == label)
        fp = sum(1 for g, p in pairs if g != label and p == label)
        fn = sum(1 for g, p in pairs if g == label and p != label)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[label] = {"precision": prec, "recall": rec, "f1": f1, "support": tp + fn}
    accuracy = sum(1 for g, p in pairs if g == p) / len(pairs)
    macro = sum(v["f1"] for v in per.values()) / len(per)
    confused = Counter((g, p) for g, p in pairs if g != p).most_common(10)
    return {"accuracy": accuracy, "macro_f1": macro, "per_intent": per,
            "confused": [{"gold": g, "predicted": p, "count": c} for (g, p), c in confused]}


def quiet() -> None:
    """Rasa logs every parse at debug level through structlog: keep the report readable."""
    import logging

    import structlog

    logging.getLogger().setLevel(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


async def predict(model: str, texts: List[str]) -> Tuple[List[Optional[str]], float]:
    """The predicted intent of each text (None when Rasa names none), and the parsing time."""
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    out: List[Optional[str]] = []
    start = time.perf_counter()
    for text in texts:
        parsed = await agent.parse_message(text)
        out.append((parsed.get("intent") or {}).get("name"))
    return out, time.perf_counter() - start


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default=str(HELDOUT))
    parser.add_argument("--min-macro-f1", type=float, default=0.90)
    parser.add_argument("--min-intent-f1", type=float, default=0.0, help="floor for every intent's F1")
    parser.add_argument("--min-oos-recall", type=float, default=0.0)
    parser.add_argument("--max-false-fallback", type=float, default=1.0)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    quiet()
    examples = load_examples(Path(args.data))
    predicted, elapsed = asyncio.run(predict(args.model, [t for t, _ in examples]))
    result = scores([(g, p or "none") for (_, g), p in zip(examples, predicted)])
    result["examples"] = len(examples)
    result["seconds"] = round(elapsed, 2)  # parsing only, the model loaded
    result["fallback_share"] = sum(p == "nlu_fallback" for p in predicted) / len(predicted)
    in_scope = [p for (_, g), p in zip(examples, predicted) if g != "out_of_scope"]
    result["false_fallback"] = sum(p == "nlu_fallback" for p in in_scope) / max(1, len(in_scope))
    oos = [p for (_, g), p in zip(examples, predicted) if g == "out_of_scope"]
    result["out_of_scope_recall"] = sum(p == "out_of_scope" for p in oos) / len(oos) if oos else None
    by_register: Dict[str, List[bool]] = {}
    for register, (_, gold), p in zip(registers(Path(args.data)), examples, predicted):
        by_register.setdefault(register, []).append(gold == p)
    result["accuracy_by_register"] = {k: sum(v) / len(v) for k, v in sorted(by_register.items())}
    print(f"held-out set: {len(examples)} messages, {len(result['per_intent'])} intents ({args.data})")
    print(f"accuracy  {result['accuracy']:.3f}")
    print(f"macro-F1  {result['macro_f1']:.3f}")
    print(f"fallback  {result['fallback_share']:.3f} of the messages, {result['false_fallback']:.3f} of the "
          "in-scope ones (false fallback)")
    if oos:
        print(f"out-of-scope recall {result['out_of_scope_recall']:.3f} (predicted out_of_scope)")
    for register, acc in result["accuracy_by_register"].items():
        print(f"  register {register:16} accuracy {acc:.3f}")
    print(f"parse     {1000 * elapsed / len(examples):.1f} ms per message (in process, model loaded)")
    print("per-intent F1:")
    for label, v in sorted(result["per_intent"].items(), key=lambda kv: kv[1]["f1"]):
        print(f"  {label:28} {v['f1']:.3f}  (p {v['precision']:.2f} r {v['recall']:.2f} n {v['support']})")
    print("most confused (gold → predicted):")
    for c in result["confused"]:
        print(f"  {c['gold']:28} → {c['predicted']:28} {c['count']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    failures: List[str] = []
    if result["macro_f1"] < args.min_macro_f1:
        failures.append(f"macro-F1 {result['macro_f1']:.3f} < {args.min_macro_f1}")
    weak = {k: round(v["f1"], 3) for k, v in result["per_intent"].items() if v["f1"] < args.min_intent_f1}
    if weak:
        failures.append(f"intents below F1 {args.min_intent_f1}: {weak}")
    if oos and result["out_of_scope_recall"] < args.min_oos_recall:
        failures.append(f"out-of-scope recall {result['out_of_scope_recall']:.3f} < {args.min_oos_recall}")
    if result["false_fallback"] > args.max_false_fallback:
        failures.append(f"false fallback {result['false_fallback']:.3f} > {args.max_false_fallback}")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
