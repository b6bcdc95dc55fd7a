"""Print one ticket's full life as the e-mails a real SMTP server received:
waiting → gentle → firm → closed → reopened (seed 001, high priority, no phone).

    .venv/bin/python scripts/demo_ticket_life.py
"""
import sys
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from numi import runtime  # noqa: E402
from numi.clock import to_utc_naive  # noqa: E402
from numi.db import models as m  # noqa: E402
from numi.reminders import engine  # noqa: E402
from numi.settings import Settings, SmtpSettings  # noqa: E402
from numi.tickets import service  # noqa: E402
from numi.tickets.lifecycle import Transition  # noqa: E402
from tests.smtp import SmtpServer  # noqa: E402

START = date(2025, 12, 14)


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    with SmtpServer() as smtp:
        settings = Settings.from_env(env={}, database_url=f"sqlite:///{tmp / 'numi.db'}", scheduler_enabled=False,
                                     smtp=SmtpSettings(host="127.0.0.1", port=smtp.port))
        services = runtime.init(settings)
        with services.sessions() as s, s.begin():
            customer = s.get(m.Customer, "CLT-00321")
            customer.phone = None  # « Appel (pas de téléphone fourni) » as in 001 §4
            t = service.open_ticket(s, scenario="tech_support", actor="hotliner:Camille", customer_id="CLT-00321",
                                    priority="high", subject="Synchronisation e-mail en double",
                                    now=to_utc_naive(datetime.combine(START - timedelta(days=2), time(10)),
                                                     settings.timezone))
            t.assignee = "hotliner:Camille"
            service.transition(s, t, Transition("waiting_customer", waiting_reason="feedback"),
                               actor="hotliner:Camille",
                               now=to_utc_naive(datetime.combine(START, time(15)), settings.timezone),
                               waiting_for="Vous alliez tester les paramètres IMAP qu'on avait modifiés et nous dire "
                                           "si les e-mails en doublon ont disparu.")
            number = t.number
        for offset in range(1, 10):
            engine.run(services.sessions, settings, START + timedelta(days=offset), mailer=services.mailer)
        with services.sessions() as s, s.begin():
            service.customer_replied(s, s.get(m.Ticket, number), actor="client",
                                     now=to_utc_naive(datetime.combine(START + timedelta(days=10), time(11)),
                                                      settings.timezone))
            ticket = s.get(m.Ticket, number)
            life = [(e.at, e.event, e.to_status or "", (e.details or {}).get("kind", "")) for e in ticket.history]
        for msg in smtp.messages:
            print("=" * 78)
            print(f"À : {msg['To']}\nSujet : {msg['Subject']}\nDate : {msg['Date']}\n")
            print(msg.get_content().strip())
        print("=" * 78)
        print("Historique du ticket :")
        for at, event, status, kind in life:
            print(f"  {at:%d/%m %H:%M}  {event:16} {status:17} {kind}")
    runtime.close()


if __name__ == "__main__":
    main()
