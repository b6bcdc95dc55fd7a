#!/usr/bin/env bash
# The whole test suite (the README's `make test`; .ci/run calls it).
set -euo pipefail
source "$(dirname "$0")/test_env.sh"
export NUMI_ACTION_URL=${NUMI_ACTION_URL:-http://127.0.0.1:5056/webhook}
step() { printf '\n=== %s\n' "$*"; }

# quick checks first (pyproject.toml configures ruff and mypy)
step "lint (ruff)"
.venv/bin/ruff check .

step "types (mypy: numi/, actions/)"
.venv/bin/mypy

# rasa data validate (warnings fail) and the playbook lint, as `make validate`
scripts/validate.sh

step "train (reused when nothing changed)"
model=$(scripts/train.sh)
export NUMI_MODEL="$model"
echo "$model"

# floors a little under today's scores (README, « What numi understands »); issue 14's targets are higher
step "NLU held-out sets: numi's own, and a second author's six registers"
mkdir -p results
.venv/bin/python -m numi.nlu.evaluate --model "$model" --min-macro-f1 0.93 --json results/nlu-heldout.json
.venv/bin/python -m numi.nlu.evaluate --model "$model" --data tests/nlu/heldout_hard.yml --min-macro-f1 0.93 \
  --min-intent-f1 0.78 --min-oos-recall 0.80 --max-false-fallback 0.04 --json results/nlu-heldout-hard.json

step "emotion model (seed 002): both held-out sets"
.venv/bin/python -m numi.signals eval --min-macro-f1 0.87 > results/emotion-heldout.json
.venv/bin/python -m numi.signals eval tests/emotion/heldout_hard.yml --min-macro-f1 0.84 --max-neutral-negative 0.06 \
  > results/emotion-heldout-hard.json
.venv/bin/python -c "import json
for f in ('results/emotion-heldout.json', 'results/emotion-heldout-hard.json'):
    r = json.load(open(f)); print(f, {k: r[k] for k in ('n', 'accuracy', 'macro_f1', 'neutral_read_negative')})"

step "alert rules decided by the text (themes, emotion, intent): held-out set"
.venv/bin/python -m numi.alerts.evaluate --model "$model" --min-precision 0.65 --min-recall 0.85 --json results/alerts-heldout.json

step "rasa test: test stories"
.venv/bin/rasa test core --model "$model" --stories tests/stories --endpoints endpoints.yml \
  --fail-on-prediction-errors --out results/core --quiet

step "pytest"
.venv/bin/python -m pytest -q tests
