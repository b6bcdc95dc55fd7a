#!/usr/bin/env bash
# Create .venv with Python 3.10 and install the pinned requirements (idempotent).
# A failed install removes the half-built .venv: nothing is left half-installed.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
    command -v python3.10; return
  fi
  if command -v pyenv >/dev/null 2>&1; then
    local root best
    root=$(pyenv root)
    best=$(ls -d "$root"/versions/3.10.* 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$best" ] && [ -x "$best/bin/python3.10" ]; then echo "$best/bin/python3.10"; return; fi
  fi
  return 1
}

# The web pages' front-end dependencies (socket.io-client, chart.js), from the npm registry, served locally.
# The files numi's pages load from web/node_modules (numi/service/blueprints/web.py VENDOR).
WEB_VENDOR="web/node_modules/socket.io-client/dist/socket.io.min.js web/node_modules/chart.js/dist/chart.umd.min.js"
web_deps() {
  missing=0
  for f in $WEB_VENDOR; do [ -f "$f" ] || missing=1; done
  if [ "$missing" = 1 ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    if command -v npm >/dev/null 2>&1; then
      npm ci --prefix web --no-audit --no-fund --loglevel=error >&2
    else
      echo "npm est absent : les pages ne pourront pas charger socket.io-client ni chart.js (installez Node.js)." >&2
    fi
  fi
}

# Debian's HAProxy for `make cluster` (the load balancer in front of the replicas).
load_balancer() {
  if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installation de HAProxy (apt) pour make cluster …" >&2
    (apt-get install -y -q haproxy >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q haproxy >/dev/null 2>&1; }) \
      || echo "HAProxy n'a pas pu être installé : make cluster et ses tests seront indisponibles." >&2
  fi
}

# Debian's Dovecot for the inbound e-mail tests (they start a private IMAP server of their own).
imap_server() {
  if [ ! -x /usr/sbin/dovecot ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installation de Dovecot (apt) pour les tests de l'e-mail entrant …" >&2
    (apt-get install -y -q dovecot-imapd >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dovecot-imapd >/dev/null 2>&1; }) \
      || echo "Dovecot n'a pas pu être installé : les tests IMAP seront sautés." >&2
  fi
}

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium).
browser() {
  if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installation de Chromium (apt) pour les tests navigateur …" >&2
    (apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; }) \
      || echo "Chromium n'a pas pu être installé : les tests navigateur seront sautés." >&2
  fi
}

if [ -f .venv/.installed ] && .venv/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
  if [ requirements.txt -nt .venv/.installed ] || [ requirements-dev.txt -nt .venv/.installed ]; then
    .venv/bin/pip install -q -r requirements-dev.txt && touch .venv/.installed
  fi
  web_deps
  [ "${NUMI_SETUP_BROWSER:-1}" = 1 ] && browser
  load_balancer
  imap_server
  exit 0
fi

PY=$(find_python) || {
  echo "numi a besoin de Python 3.10 (Rasa 3.6 refuse 3.11)." >&2
  echo "Installez-le, par exemple « pyenv install 3.10.13 » ou « apt install python3.10 python3.10-venv »," >&2
  echo "puis relancez la commande. Rien n'a été installé." >&2
  exit 2
}
echo "Installation de l'environnement Python ($PY) dans .venv/ …" >&2
rm -rf .venv
trap 'rm -rf .venv; echo "Installation interrompue : .venv supprimé." >&2' ERR INT TERM
"$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip wheel "setuptools<71"
.venv/bin/pip install -q -r requirements-dev.txt
trap - ERR INT TERM
touch .venv/.installed
web_deps
[ "${NUMI_SETUP_BROWSER:-1}" = 1 ] && browser
load_balancer
imap_server
exit 0
