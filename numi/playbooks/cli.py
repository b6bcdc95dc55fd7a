"""Playbooks for humans: list them, print one as a French script, lint them all.

    python -m numi.playbooks.cli list
    python -m numi.playbooks.cli show refund_request
    python -m numi.playbooks.cli lint [playbooks/x.yml ...]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from numi.playbooks.library import DEFAULT_DIR, domain_intents, load_library
from numi.playbooks.model import END, Playbook, PlaybookError, load_playbook
from numi.playbooks.render import text_env
from numi.playbooks.validate import validate_playbook
from numi.settings import ROOT

CONTRACT = ROOT.parent / "shared" / "contract"
SCRIPT_TEMPLATE = ROOT / "templates" / "playbook_script.txt.j2"


def _intents():
    return domain_intents()


def script(pb: Playbook) -> str:
    """The playbook as a readable French script (what trainers print)."""
    template = text_env().from_string(SCRIPT_TEMPLATE.read_text(encoding="utf-8"))
    return template.render(pb=pb, END=END)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="numi-playbooks", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="liste des playbooks")
    show = sub.add_parser("show", help="affiche un playbook comme un script")
    show.add_argument("id")
    lint = sub.add_parser("lint", help="valide les playbooks")
    lint.add_argument("files", nargs="*")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "lint" and args.files:
            for f in args.files:
                validate_playbook(load_playbook(Path(f)), _intents())
                print(f"ok  {f}")
            return 0
        lib = load_library(DEFAULT_DIR, intents=_intents(), contract_dir=CONTRACT if CONTRACT.exists() else None)
    except PlaybookError as exc:
        print(f"erreur : {exc}", file=sys.stderr)
        return 1
    if args.cmd == "lint":
        print(f"{len(lib)} playbooks valides")
    elif args.cmd == "list":
        for pb in lib.values():
            print(f"{pb.id:28} {pb.priority or '-':7} {', '.join(pb.triggers):40} {pb.title}")
    else:
        if args.id not in lib:
            print(f"playbook inconnu : {args.id}", file=sys.stderr)
            return 1
        print(script(lib[args.id]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
