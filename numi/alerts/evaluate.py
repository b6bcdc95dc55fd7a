"""The alert rules decided by the message text, scored on a held-out set written apart
(tests/alerts/themes_heldout.yml, never trained on): precision and recall per rule, with
the intent (the Rasa model), the emotion and the themes (numi's models) as in production.

    python -m numi.alerts.evaluate --model models/numi-xxxx.tar.gz [--min-precision 0.85 --min-recall 0.80]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

from numi import signals
from numi.alerts import engine
from numi.alerts import rules as rules_mod
from numi.settings import ROOT
from numi.nlu.evaluate import predict, quiet

HELDOUT = ROOT / "tests" / "alerts" / "themes_heldout.yml"
RULES = ROOT / "config" / "alerts" / "rules.yml"
# the rules that the text of one message decides (the others need the customer record)
SCOPE = ("attrition_explicit", "price_sensitivity", "team_rotation_sensitivity", "life_moment_sales",
         "best_verbatims", "security_incident")


def load_examples(path: Path = HELDOUT) -> List[Dict[str, Any]]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [{"text": e["text"], "rules": list(e.get("rules") or [])} for e in raw.get("examples") or []]


def fired(texts: Sequence[str], intents: Sequence[Optional[str]], ruleset: rules_mod.RuleSet,
          scope: Sequence[str] = SCOPE) -> List[List[str]]:
    """The rules of `scope` that each message fires on its own (no customer record)."""
    messages = [engine.IncomingMessage(text=t, intent=i) for t, i in zip(texts, intents)]
    engine.predict(messages)
    out = []
    for msg in messages:
        sig = signals.analyse(msg.text, intent=msg.intent, emotion=msg.emotion, found_themes=msg.themes)
        facts = engine.facts_of(sig, None, None)
        out.append([r.id for r in ruleset.rules if r.id in scope and rules_mod.matches(r.when, facts)])
    return out


def score(examples: Sequence[Dict[str, Any]], predicted: Sequence[Sequence[str]],
          scope: Sequence[str] = SCOPE) -> Dict[str, Any]:
    per: Dict[str, Dict[str, float]] = {}
    for rule in scope:
        tp = sum(rule in e["rules"] and rule in p for e, p in zip(examples, predicted))
        fp = sum(rule not in e["rules"] and rule in p for e, p in zip(examples, predicted))
        fn = sum(rule in e["rules"] and rule not in p for e, p in zip(examples, predicted))
        per[rule] = {"precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0,
                     "support": tp + fn, "false_alarms": fp}
    exact = sum(set(e["rules"]) == set(p) for e, p in zip(examples, predicted)) / max(1, len(examples))
    return {"examples": len(examples), "exact_match": exact, "per_rule": per}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default=str(HELDOUT))
    for floor in ("--min-precision", "--min-recall"):
        parser.add_argument(floor, type=float, default=0.0)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    quiet()
    examples = load_examples(Path(args.data))
    texts = [e["text"] for e in examples]
    intents, _ = asyncio.run(predict(args.model, texts))
    start = time.perf_counter()
    ruleset = rules_mod.load(RULES, list(signals.load_themes()))
    predicted = fired(texts, intents, ruleset)
    result = score(examples, predicted)
    result["signals_seconds"] = round(time.perf_counter() - start, 2)
    print(f"alert rules held-out set: {len(examples)} messages ({args.data})")
    print(f"exact match {result['exact_match']:.3f}")
    failed = []
    for rule, v in result["per_rule"].items():
        print(f"  {rule:28} precision {v['precision']:.3f}  recall {v['recall']:.3f}  "
              f"(n {v['support']}, false alarms {v['false_alarms']})")
        if v["precision"] < args.min_precision or v["recall"] < args.min_recall:
            failed.append(rule)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    if failed:
        print(f"FAIL: below precision {args.min_precision} or recall {args.min_recall}: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
