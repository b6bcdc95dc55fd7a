#!/usr/bin/env bash
# The whole test suite (the README's `make test`; .ci/run calls it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
export NUMI_SECRET=${NUMI_SECRET:-test-secret}
export NUMI_ACTION_URL=${NUMI_ACTION_URL:-http://127.0.0.1:5055/webhook}
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

step "rasa test: test stories"
.venv/bin/rasa test core --model "$model" --stories tests/stories --endpoints endpoints.yml \
  --fail-on-prediction-errors --out results/core --quiet

step "pytest"
.venv/bin/python -m pytest -q tests
