#!/usr/bin/env bash
# The whole test suite (the README's `make test`; .ci/run calls it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
export NUMI_SECRET=${NUMI_SECRET:-test-secret}
export NUMI_RASA_TOKEN=${NUMI_RASA_TOKEN:-test-rasa-token}
export NUMI_ACTION_TOKEN=${NUMI_ACTION_TOKEN:-test-action-token}
export NUMI_ACTION_URL=${NUMI_ACTION_URL:-http://127.0.0.1:5056/webhook}
export PYTHONWARNINGS=ignore
step() { printf '\n=== %s\n' "$*"; }

step "rasa data validate (warnings fail)"
.venv/bin/rasa data validate --domain domain --data data --config config.yml --fail-on-warnings --quiet

step "playbooks lint"
.venv/bin/python -m numi.playbooks.cli lint

step "train (reused when nothing changed)"
model=$(scripts/train.sh)
export NUMI_MODEL="$model"
echo "$model"

step "NLU held-out set (fails below macro-F1 0.90)"
mkdir -p results
.venv/bin/python -m numi.nlu.evaluate --model "$model" --json results/nlu-heldout.json

step "emotion model (seed 002): held-out set, and the churn score on held-out customers"
.venv/bin/python -m numi.signals eval > results/emotion-heldout.json
.venv/bin/python -c "import json; r = json.load(open('results/emotion-heldout.json')); print({k: r[k] for k in ('n', 'accuracy', 'macro_f1', 'polarity_accuracy', 'intensity_mae')})"

step "rasa test: test stories"
.venv/bin/rasa test core --model "$model" --stories tests/stories --endpoints endpoints.yml \
  --fail-on-prediction-errors --out results/core --quiet

step "pytest"
.venv/bin/python -m pytest -q tests
