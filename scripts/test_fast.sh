#!/usr/bin/env bash
# The unit tests alone (`make test-fast`): every test not marked slow, browser, postgres or
# redis (pytest.ini). Those markers cover every test that starts the Rasa server or the numi
# service, loads the trained model (`stack`, `agent` fixtures), drives Chromium, or needs
# PostgreSQL or Redis; so nothing here trains or needs NUMI_MODEL. SQLite only.
# Extra arguments go to pytest (e.g. `scripts/test_fast.sh tests/test_dates.py -x`).
set -euo pipefail
source "$(dirname "$0")/test_env.sh"
unset NUMI_TEST_POSTGRES_URL
exec .venv/bin/python -m pytest -q --timeout 300 -m "not slow and not browser and not postgres and not redis" "$@"
