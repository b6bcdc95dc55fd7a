#!/usr/bin/env bash
# Train into models/ only when the data, domain or config changed (hash of the inputs).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${NUMI_CONFIG:-config.yml}
hash=$(cat "$CONFIG" domain/*.yml data/*.yml data/nlu/*.yml numi/nlu/components.py numi/nlu/dates.py | sha256sum | cut -c1-16)
model="models/numi-$hash.tar.gz"
# the emotion model of the alerts (seconds; retrained only when its data or code changed)
PYTHONPATH=. .venv/bin/python -m numi.signals >&2
if [ -f "$model" ]; then
  echo "$model"
  exit 0
fi
mkdir -p models
start=$(date +%s)
PYTHONPATH=. .venv/bin/rasa train --config "$CONFIG" --domain domain --data data --out models \
  --fixed-model-name "numi-$hash" --quiet >&2
echo "trained $model in $(( $(date +%s) - start ))s" >&2
echo "$model"
