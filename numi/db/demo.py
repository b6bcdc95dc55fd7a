"""Demo data: the people of the seeds (Paul Martin CLT-00321, Sophie Blanc,
Jean Dupont…), their subscriptions, invoices, workshops and the three waiting
tickets of 001 (TK-00456, TK-00891, TK-00712). Loaded once, on first run.
Dates are relative to the day of loading so the demo always makes sense."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from numi.clock import utcnow
from numi.db import models as m
from numi.reminders.policy import load_default

MARKER = "demo_loaded"

CUSTOMERS = [
    # id, first, last, email, phone, segment, perimeter, satisfaction, nps, churned
    ("CLT-00321", "Paul", "Martin", "paul.martin@example.fr",
     "06 12 34 56 78", "standard", "particuliers", 4, 8, False),
    ("CLT-00322", "Sophie", "Blanc", "sophie.blanc@example.fr",
     "06 22 33 44 55", "vip", "professionnels", 5, 10, False),
    ("CLT-00323", "Jean", "Dupont", "jean.dupont@example.fr",
     None, "standard", "particuliers", 3, 6, False),
    ("CLT-00324", "Marie", "Lefèvre", "marie.lefevre@example.fr",
     "07 81 22 33 44", "vip", "professionnels", 2, 3, False),
    ("CLT-00325", "Ahmed", "Benali", "ahmed.benali@example.fr",
     "06 45 67 89 01", "starter", "particuliers", 2, 2, True),
    ("CLT-00326", "Claire", "Moreau", "claire.moreau@example.fr",
     "06 98 76 54 32", "standard", "seniors", 5, 9, False),
    ("CLT-00327", "Luc", "Girard", "luc.girard@example.fr",
     "06 11 22 33 44", "starter", "particuliers", 1, 1, True),
    ("CLT-00328", "Nadia", "Rousseau", "nadia.rousseau@example.fr",
     "07 55 44 33 22", "standard", "professionnels", 4, 7, False),
    ("CLT-00329", "Odette", "Lambert", None,
     "01 45 67 89 10", "standard", "seniors", 4, 8, False),
]

WORKSHOPS = [
    # id suffix, title, topic, level, days from now, keywords
    ("messagerie", "Maîtriser sa messagerie : tri, dossiers et anti-spam", "messagerie", "débutant", 9,
     ["email", "mail", "outlook", "gmail", "spam", "boite"]),
    ("securite", "Sécuriser ses comptes : mots de passe et double authentification", "sécurité", "débutant", 16,
     ["securite", "mot", "passe", "piratage", "arnaque", "phishing"]),
    ("smartphone", "Bien utiliser son smartphone", "smartphone", "débutant", 12,
     ["telephone", "smartphone", "android", "iphone", "applications"]),
    ("demarches", "Faire ses démarches administratives en ligne", "démarches", "débutant", 20,
     ["impots", "ameli", "caf", "administratif", "demarches"]),
    ("photos", "Classer et sauvegarder ses photos", "photos", "intermédiaire", 26,
     ["photos", "sauvegarde", "cloud", "classer"]),
    ("visio", "Les appels vidéo en famille", "visio", "débutant", 29,
     ["visio", "video", "whatsapp", "zoom", "famille"]),
]


def load_demo(engine: Engine, tz: str) -> bool:
    """Load the demo data unless already loaded. Returns True when it loaded."""
    with Session(engine, future=True) as s:
        if s.get(m.Meta, MARKER) is not None:
            return False
        now = utcnow().replace(second=0, microsecond=0)
        today = now.date()
        for cid, first, last, email, phone, segment, perimeter, sat, nps, churned in CUSTOMERS:
            s.add(m.Customer(id=cid, first_name=first, last_name=last, email=email, phone=phone,
                             segment=segment, perimeter=perimeter, satisfaction=sat, recommendation=nps,
                             churned=churned, crm_notes=[], created_at=now - timedelta(days=400)))
        s.flush()
        plans = {"CLT-00322": ("premium", 20), "CLT-00324": ("entreprise", 45), "CLT-00325": ("essentiel", -30)}
        for cid, *_ in CUSTOMERS:
            plan, expires_in = plans.get(cid, ("essentiel", 200))
            s.add(m.Subscription(customer_id=cid, plan=plan, started_on=today - timedelta(days=365 - expires_in),
                                 expires_on=today + timedelta(days=expires_in),
                                 quote_signed_on=today - timedelta(days=40) if cid == "CLT-00324" else None,
                                 status="cancelled" if cid in ("CLT-00325", "CLT-00327") else "active"))
            for k in range(1, 7):
                month = (today.replace(day=1) - timedelta(days=28 * k)).replace(day=1)
                s.add(m.Invoice(id=f"FAC-{month:%Y-%m}-{cid[-3:]}", customer_id=cid, issued_on=month,
                                period=f"{month:%Y-%m}",
                                amount_eur=Decimal("29.90" if plan == "essentiel" else "49.90"),
                                label=f"Abonnement numi {plan} – {month:%m/%Y}"))
        for suffix, title, topic, level, days, keywords in WORKSHOPS:
            s.add(m.Workshop(id=f"AT-{suffix}", title=title, topic=topic, level=level,
                             starts_at=(now + timedelta(days=days)).replace(hour=13, minute=0), seats=12,
                             keywords=keywords))
        s.add(m.Workshop(id="AT-passe-securite", title="Sécuriser ses comptes (session passée)", topic="sécurité",
                         level="débutant", starts_at=(now - timedelta(days=30)).replace(hour=13, minute=0),
                         keywords=["securite", "mot", "passe"]))
        s.flush()
        s.add(m.Attendance(workshop_id="AT-passe-securite", customer_id="CLT-00321", status="attended"))
        s.add(m.Attendance(workshop_id="AT-passe-securite", customer_id="CLT-00326", status="absent"))
        s.add(m.Attendance(workshop_id="AT-passe-securite", customer_id="CLT-00329", status="attended"))
        _demo_tickets(s, now, tz)
        s.add(m.Meta(key=MARKER, value=now.isoformat()))
        s.commit()
    _reset_sequence(engine)
    return True


def _demo_tickets(s: Session, now: datetime, tz: str) -> None:
    policy = load_default()
    rows = [
        (456, "CLT-00321", "tech_support", "Synchronisation e-mail en double (IMAP)", "high", "feedback",
         "Vous alliez tester les paramètres IMAP qu'on avait modifiés et nous dire si les e-mails en double "
         "ont disparu.", 7),
        (891, "CLT-00322", "workshop_opportunity", "Configuration atelier du 22 décembre (mode asynchrone)", "normal",
         "confirmation",
         "Une confirmation de votre côté pour suivre l'atelier en mode asynchrone (enregistrement vidéo).", 10),
        (712, "CLT-00323", "security_incident", "Appareil infecté par un malware (test antivirus)", "urgent",
         "feedback",
         "Votre retour sur l'analyse antivirus de votre ordinateur.", 3),
    ]
    for number, cid, scenario, subject, priority, reason, waiting_for, days in rows:
        created = now - timedelta(days=days + 2)
        waiting_since = now - timedelta(days=days)
        t = m.Ticket(number=number, customer_id=cid, scenario=scenario, subject=subject, priority=priority,
                     status="waiting_customer", waiting_reason=reason, waiting_for=waiting_for,
                     waiting_since=waiting_since, created_at=created, updated_at=waiting_since, data={})
        s.add(t)
        s.flush()
        s.add(m.TicketEvent(ticket_number=number, at=created, actor="hotliner:Camille", event="created",
                            to_status="new"))
        s.add(m.TicketEvent(ticket_number=number, at=waiting_since, actor="hotliner:Camille", event="status_changed",
                            from_status="new", to_status="waiting_customer", reason="solution proposée, à tester",
                            details={"waiting_reason": reason}))
        t.next_reminder_due = policy.first_due(t, tz)


def _reset_sequence(engine: Engine) -> None:
    """New tickets are numbered after the imported ones (PostgreSQL sequences don't follow)."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('tickets', 'number'), "
                              "GREATEST((SELECT COALESCE(MAX(number), 0) FROM tickets), 999))"))
