#!/usr/bin/env bash
# Start the numi service (5055) and the Rasa server (5005). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
export NUMI_SECRET=${NUMI_SECRET:-dev-secret-change-me}
export NUMI_RASA_TOKEN=${NUMI_RASA_TOKEN:-dev-rasa-token}
export NUMI_ACTION_URL=${NUMI_ACTION_URL:-http://127.0.0.1:5055/webhook}
mkdir -p var
# a local admin token for the console, made once and kept in var/ (set NUMI_ADMIN_TOKEN to choose one)
if [ -z "${NUMI_ADMIN_TOKEN:-}" ]; then
  [ -s var/admin-token ] || .venv/bin/python -c 'import secrets; print("numi_admin_" + secrets.token_urlsafe(18))' > var/admin-token
  NUMI_ADMIN_TOKEN=$(cat var/admin-token)
  export NUMI_ADMIN_TOKEN
fi
model=$(scripts/train.sh)
pids=()
cleanup() { trap - INT TERM EXIT; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup INT TERM EXIT
.venv/bin/python -m numi.service &
pids+=($!)
.venv/bin/rasa run --model "$model" --endpoints endpoints.yml --credentials credentials.yml \
  --enable-api --auth-token "$NUMI_RASA_TOKEN" --port 5005 &
pids+=($!)
for _ in $(seq 1 120); do
  if curl -fsS http://127.0.0.1:5005/ >/dev/null 2>&1 && curl -fsS http://127.0.0.1:5055/health >/dev/null 2>&1; then
    echo
    echo "numi assist est prêt :"
    echo "  • chat REST  : curl -s localhost:5005/webhooks/rest/webhook -d '{\"sender\":\"moi\",\"message\":\"bonjour\"}'"
    echo "  • socket.io  : ws://localhost:5005/socket.io"
    echo "  • service    : http://localhost:5055/health"
    echo "  • site client (chat)      : http://localhost:5055/"
    echo "  • console du personnel    : http://localhost:5055/console   (jeton administrateur : $NUMI_ADMIN_TOKEN)"
    echo "      prompteur http://localhost:5055/console/prompteur · files http://localhost:5055/console/files · formation http://localhost:5055/console/formation"
    echo "Ctrl-C pour arrêter."
    break
  fi
  sleep 1
done
wait -n "${pids[@]}"
