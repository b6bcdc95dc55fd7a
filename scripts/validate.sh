#!/usr/bin/env bash
# The data checks (`make validate`; `make test` runs them first): Rasa's own validation
# of domain/, data/ and config.yml, any warning failing, then the playbook lint.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
printf '\n=== %s\n' "rasa data validate (warnings fail)"
.venv/bin/rasa data validate --domain domain --data data --config config.yml --fail-on-warnings --quiet
printf '\n=== %s\n' "playbooks lint"
.venv/bin/python -m numi.playbooks.cli lint
