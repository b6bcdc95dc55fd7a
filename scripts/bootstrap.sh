#!/usr/bin/env bash
# Create .venv with Python 3.10 and install the pinned requirements (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  if command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
    command -v python3.10; return
  fi
  if command -v pyenv >/dev/null 2>&1; then
    local root; root=$(pyenv root)
    local best; best=$(ls -d "$root"/versions/3.10.* 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$best" ] && [ -x "$best/bin/python3.10" ]; then echo "$best/bin/python3.10"; return; fi
  fi
  return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
  PY=$(find_python) || {
    echo "numi a besoin de Python 3.10 (Rasa 3.6 refuse 3.11)." >&2
    echo "Installez-le, par exemple : pyenv install 3.10.13  (ou apt install python3.10 python3.10-venv)," >&2
    echo "puis relancez la commande. Rien n'a été installé." >&2
    exit 2
  }
  rm -rf .venv.tmp
  "$PY" -m venv .venv.tmp
  .venv.tmp/bin/pip install -q --upgrade pip wheel "setuptools<71"
  .venv.tmp/bin/pip install -q -r requirements-dev.txt
  rm -rf .venv && mv .venv.tmp .venv
  # a venv moved after creation keeps the old path in its scripts: rebuild them
  sed -i "s#/.venv.tmp/#/.venv/#g" .venv/bin/* 2>/dev/null || true
  touch .venv/.installed
elif [ requirements.txt -nt .venv/.installed ] || [ requirements-dev.txt -nt .venv/.installed ]; then
  .venv/bin/pip install -q -r requirements-dev.txt && touch .venv/.installed
fi
