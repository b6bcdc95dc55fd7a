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

if [ -f .venv/.installed ] && .venv/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
  if [ requirements.txt -nt .venv/.installed ] || [ requirements-dev.txt -nt .venv/.installed ]; then
    .venv/bin/pip install -q -r requirements-dev.txt && touch .venv/.installed
  fi
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
