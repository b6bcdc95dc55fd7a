"""Outages seen and said: every scheduler tick, each numi process checks that its databases
answer (numi's own, and Rasa's tracker store). The first failed check of an outage is logged,
counted, and e-mailed at once to the on-call recipient of config/alerts/rules.yml
(`astreinte_technique`), directly through the mailer, since the outbox lives in the database
that may be down; the recovery is e-mailed too. One e-mail per outage and process."""
from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Dict, Optional, Protocol, cast

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from numi import wording
from numi.mail import Mail, new_message_id
from numi.reminders.outbox import render_mail
from numi.alerts.engine import ruleset
from numi.alerts.rules import Recipient

if TYPE_CHECKING:
    from numi.runtime import Services

log = logging.getLogger(__name__)
ON_CALL = "astreinte_technique"


class MailSender(Protocol):
    """numi.mail.Mailer, or a test's stand-in."""

    def deliver(self, mail: Mail, on_commit: Callable[[], None]) -> None: ...


@dataclass
class OutageWatch:
    engines: Dict[str, Engine]
    mailer: MailSender
    on_call: Optional[Recipient]
    since: Dict[str, datetime] = field(default_factory=dict)
    counts: Dict[str, int] = field(default_factory=dict)
    holder: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    @classmethod
    def for_services(cls, services: "Services", tracker_url: str) -> "OutageWatch":
        remote = tracker_url.startswith("postgresql")
        tracker = create_engine(tracker_url, hide_parameters=True, pool_pre_ping=True,
                                **({"connect_args": {"connect_timeout": 5}} if remote else {}))
        # Services.mailer is typed `object` (numi/runtime.py)
        return cls(engines={"numi": services.engine, "tracker": tracker}, mailer=cast(MailSender, services.mailer),
                   on_call=ruleset(services.settings).recipients.get(ON_CALL))

    def tick(self, now: datetime) -> Dict[str, bool]:
        """{name: answers}; says the start and the end of each outage."""
        state: Dict[str, bool] = {}
        for name, engine in self.engines.items():
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                ok = True
            except Exception as exc:
                ok = False
                if name not in self.since:
                    self.since[name] = now
                    self.counts[name] = self.counts.get(name, 0) + 1
                    log.error("outage: %s unreachable (%s); on-call told", name, type(exc).__name__)
                    self._tell(name, restored=False, now=now)
            if ok and name in self.since:
                started = self.since.pop(name)
                log.error("outage over: %s answers again after %.0f s", name, (now - started).total_seconds())
                self._tell(name, restored=True, now=now, started=started)
            state[name] = ok
        return state

    def _tell(self, name: str, restored: bool, now: datetime, started: Optional[datetime] = None) -> None:
        on_call = self.on_call
        if on_call is None or not on_call.email:
            return
        subject, body = render_mail("outage", {
            "recipient_name": on_call.name, "what": wording.text(f"outage.{name}"), "restored": restored,
            "holder": self.holder,
            "since": (started or self.since.get(name) or now).strftime("%d/%m/%Y %H:%M:%S"),
            "until": now.strftime("%d/%m/%Y %H:%M:%S"),
            "minutes": round(((now - started).total_seconds() if started else 0) / 60, 1)})
        try:
            self.mailer.deliver(Mail(to=on_call.email, subject=subject, body=body, message_id=new_message_id()),
                                lambda: None)
        except Exception as exc:  # nothing more to do than log: the outage is in the log already
            log.error("outage mail to the on-call recipient failed (%s)", type(exc).__name__)
