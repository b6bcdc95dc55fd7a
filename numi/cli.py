"""numi's command line.

    python -m numi.cli staff create --name Camille --role hotliner   # prints the token once
    python -m numi.cli staff list
    python -m numi.cli staff revoke --name Camille
    python -m numi.cli db upgrade
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from sqlalchemy import select

from numi import auth, vocab, wording
from numi.clock import local_date, utcnow
from numi.db import make_engine, make_sessionmaker, session_scope
from numi.db import models as m
from numi.db.migrate import upgrade
from numi.importer import ImportError_, import_csv
from numi.mail import Mailer
from numi.reminders import engine as reminder_run
from numi.reminders import outbox
from numi.settings import Settings


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="numi")
    sub = parser.add_subparsers(dest="area", required=True)
    staff = sub.add_parser("staff").add_subparsers(dest="cmd", required=True)
    create = staff.add_parser("create")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=vocab.ROLES)
    staff.add_parser("list")
    revoke = staff.add_parser("revoke")
    revoke.add_argument("--name", required=True)
    db = sub.add_parser("db").add_subparsers(dest="cmd", required=True)
    db.add_parser("upgrade")
    rem = sub.add_parser("reminders").add_subparsers(dest="cmd", required=True)
    run = rem.add_parser("run", help="the daily reminder run (001)")
    run.add_argument("--today", help="YYYY-MM-DD (default: today)")
    run.add_argument("--dry-run", action="store_true")
    rem.add_parser("flush", help="deliver what waits in the outbox")
    imp = sub.add_parser("import", help="import real data from CSV (see numi/importer.py)")
    imp.add_argument("kind", choices=("customers", "subscriptions", "invoices", "workshops"))
    imp.add_argument("file")
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    upgrade(engine, settings)
    sessions = make_sessionmaker(engine)
    if args.area == "db":
        print(wording.text("cli.schema_up_to_date"))
        return 0
    if args.area == "reminders":
        return _reminders(args, settings, sessions)
    if args.area == "import":
        try:
            with session_scope(sessions) as s:
                count = import_csv(s, args.kind, Path(args.file))
        except ImportError_ as exc:
            print(wording.text("cli.nothing_imported") + "\n" + str(exc), file=sys.stderr)
            return 1
        print(wording.text("cli.imported", count=count))
        return 0
    with session_scope(sessions) as s:
        if args.cmd == "create":
            token = auth.new_staff_token()
            s.add(m.StaffToken(name=args.name, role=args.role, token_hash=auth.hash_token(token)))
            print(token)
        elif args.cmd == "list":
            for t in s.scalars(select(m.StaffToken).order_by(m.StaffToken.id)):
                state = wording.text("cli.token_state." + ("revoked" if t.revoked_at else "active"))
                print(f"{t.name:20} {t.role:11} {state}")
        else:
            rows = list(s.scalars(select(m.StaffToken).where(m.StaffToken.name == args.name,
                                                              m.StaffToken.revoked_at.is_(None))))
            for t in rows:
                t.revoked_at = utcnow()
            print(wording.text("cli.revoked", count=len(rows)))
    return 0


def _reminders(args, settings, sessions) -> int:
    import json
    from datetime import date


    mailer = Mailer(settings)
    if args.cmd == "flush":
        print(json.dumps(outbox.flush(sessions, mailer)))
        return 0
    today = date.fromisoformat(args.today) if args.today else local_date(utcnow(), settings.timezone)
    actions = reminder_run.run(sessions, settings, today, dry_run=args.dry_run, mailer=mailer)
    print(json.dumps({"actions": [a.as_json() for a in actions]}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
