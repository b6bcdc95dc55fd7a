#!/usr/bin/env bash
# `make nlu-compare`: train each NLU pipeline (NLU only, from scratch) and score it on the
# held-out set. Default: config.yml and every config/pipelines/*.yml. Results in results/pipelines/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=results/pipelines
mkdir -p "$out"
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(config.yml config/pipelines/*.yml)
printf '%-28s %9s %9s %9s %12s\n' pipeline accuracy macro-F1 train-s parse-ms
for config in "${configs[@]}"; do
  name=$(basename "$config" .yml)
  start=$(date +%s)
  .venv/bin/rasa train nlu --config "$config" --nlu data --out "$out" --fixed-model-name "$name" \
    --quiet >"$out/$name.train.log" 2>&1
  seconds=$(( $(date +%s) - start ))
  PYTHONPATH=. .venv/bin/python -m numi.nlu.evaluate --model "$out/$name.tar.gz" --min-macro-f1 0 \
    --json "$out/$name.json" >/dev/null 2>&1
  .venv/bin/python - "$out/$name.json" "$name" "$seconds" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:28} {r['accuracy']:9.3f} {r['macro_f1']:9.3f} {sys.argv[3]:>9} {1000 * r['seconds'] / r['examples']:12.1f}")
PY
done
