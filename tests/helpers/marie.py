"""Marie Durand's ticket, as the inbound e-mail tests find it: opened by a hotliner on
2026-11-20, waiting for her test; her first reminder is due on 2026-11-25."""
from __future__ import annotations

from datetime import date, datetime

from numi.db import models as m
from numi.tickets import service as tickets
from numi.tickets.lifecycle import Transition

OPENED = datetime(2026, 11, 20, 9)
FIRST_REMINDER = date(2026, 11, 25)


def waiting_ticket(sessions, customer_id: str, email: str) -> int:
    """Marie (a customer of her own, with a phone number) and her waiting ticket; its number."""
    with sessions() as s, s.begin():
        s.add(m.Customer(id=customer_id, first_name="Marie", last_name="Durand", email=email,
                         phone="06 12 34 56 78"))
        ticket = tickets.open_ticket(s, scenario="tech_support", actor="hotliner:léa", customer_id=customer_id,
                                     priority="normal", subject="Outlook ne reçoit plus les e-mails", now=OPENED)
        tickets.transition(s, ticket, Transition("waiting_customer", waiting_reason="feedback"),
                           actor="hotliner:léa", now=OPENED, tz="Europe/Paris",
                           waiting_for="Vous alliez tester la nouvelle configuration.")
        return ticket.number
