#!/usr/bin/env bash
# `make run`: the numi service (pages and API on 5055, actions on 127.0.0.1:5056) and the
# Rasa server (5005), in local demonstration mode. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
mkdir -p var
umask 077
# Local mode: secrets made once on this machine and kept in var/ (mode 600), the demo
# sign-in on for browsers of this machine. A deployment sets its own secrets instead and
# leaves NUMI_LOCAL and NUMI_DEMO unset (README, « Sécurité »).
export NUMI_LOCAL=${NUMI_LOCAL:-1}
export NUMI_DEMO=${NUMI_DEMO:-1}
secret() {  # secret NAME FILE: $NAME if set, else the one kept in FILE (made once)
  local name=$1 file=$2
  if [ -z "${!name:-}" ]; then
    [ -s "$file" ] || .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' > "$file"
    export "$name=$(cat "$file")"
  fi
}
secret NUMI_SECRET var/secret
secret NUMI_RASA_TOKEN var/rasa-token
secret NUMI_ACTION_TOKEN var/action-token
if [ -z "${NUMI_ADMIN_TOKEN:-}" ]; then
  [ -s var/admin-token ] || .venv/bin/python -c 'import secrets; print("numi_admin_" + secrets.token_urlsafe(18))' > var/admin-token
  NUMI_ADMIN_TOKEN=$(cat var/admin-token)
  export NUMI_ADMIN_TOKEN
fi
export NUMI_ACTION_URL=${NUMI_ACTION_URL:-http://127.0.0.1:${NUMI_ACTION_PORT:-5056}/webhook}
model=$(scripts/train.sh)
pids=()
cleanup() { trap - INT TERM EXIT; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup INT TERM EXIT
.venv/bin/python -m numi.service &
pids+=($!)
# Rasa's own command line, with numi's patches installed first (numi/rasa_main.py)
.venv/bin/python -m numi.rasa_main run --model "$model" --endpoints endpoints.yml --credentials credentials.yml \
  --enable-api --auth-token "$NUMI_RASA_TOKEN" --interface "${NUMI_RASA_HOST:-127.0.0.1}" --port 5005 &
pids+=($!)
for _ in $(seq 1 120); do
  if curl -fsS http://127.0.0.1:5005/ >/dev/null 2>&1 && curl -fsS http://127.0.0.1:5055/health >/dev/null 2>&1; then
    echo
    echo "numi assist est prêt (mode local de démonstration : NUMI_LOCAL=1, NUMI_DEMO=1 ;"
    echo "la connexion « client de démonstration » du site ne répond qu'aux navigateurs de cette machine) :"
    echo "  • chat REST  : c=\$(curl -s -XPOST localhost:5055/chat/conversations -d '{}' | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)[\"conversation_id\"])')"
    echo "                 curl -s localhost:5005/webhooks/rest/webhook -d '{\"sender\":\"'\$c'\",\"message\":\"bonjour\"}'"
    echo "  • socket.io  : ws://localhost:5005/socket.io"
    echo "  • service    : http://localhost:5055/health"
    echo "  • site client (chat)      : http://localhost:5055/"
    echo "  • console du personnel    : http://localhost:5055/console   (jeton administrateur : var/admin-token)"
    echo "      prompteur http://localhost:5055/console/prompteur · files http://localhost:5055/console/files · formation http://localhost:5055/console/formation"
    # The admin token goes to the terminal that asked, never into a log or a pipe.
    if [ -t 1 ] && { : >/dev/tty; } 2>/dev/null; then
      echo "  jeton administrateur : $NUMI_ADMIN_TOKEN" >/dev/tty
    fi
    echo "Ctrl-C pour arrêter."
    break
  fi
  sleep 1
done
wait -n "${pids[@]}"
