"""numi's shared vocabulary: the names several packages agree on, defined once and imported
everywhere else (never retyped).

Staff roles and the role sets that the staff API checks (numi/access.py says what each
role may see within a set; admin passes every role check on its own):
"""
from __future__ import annotations

from typing import Tuple

# Every staff role a token can carry (numi/cli.py `staff create --role`).
ROLES: Tuple[str, ...] = ("hotliner", "level2", "supervisor", "cs", "trainer", "admin", "website")
# The roles that work tickets and handoffs.
DESK: Tuple[str, ...] = ("hotliner", "level2", "supervisor", "cs")
# The roles on the phone: the call list, the call-backs, the prompter console.
PHONE: Tuple[str, ...] = ("hotliner", "level2", "supervisor")
# The roles that read the reminder KPIs (their own work's figures, no personal data).
KPI_READERS: Tuple[str, ...] = DESK + ("trainer",)
# The roles of the training pages (anonymised stories, quizzes).
TRAINING: Tuple[str, ...] = ("trainer", "supervisor")
# The roles that read the emotional alerts.
ALERT_READERS: Tuple[str, ...] = ("level2", "supervisor", "cs")
# The roles that see every queue and every ticket.
SEES_ALL: Tuple[str, ...] = ("supervisor", "admin")
ADMIN: Tuple[str, ...] = ("admin",)
# The website's back end: it may only mint customer tokens.
WEBSITE: Tuple[str, ...] = ("website",)

# The queues a ticket or a handoff is in (who works it); their names for customers are the
# system texts `queue_<id>` of playbooks/_system.yml.
QUEUES: Tuple[str, ...] = ("level1", "level2", "supervisor", "cs")
# Ticket priorities, the most pressing first (the order in which queues are served).
PRIORITIES: Tuple[str, ...] = ("urgent", "high", "normal")
# The reminder steps of 001, in order (config/reminder_policy.yml uses these kinds; their
# mail is templates/mail/reminder_<kind>.txt.j2, their label `reminder_<kind>` in
# templates/web/texts.yml). Every step but the last contacts the customer.
REMINDER_KINDS: Tuple[str, ...] = ("gentle", "followup", "firm", "call", "close")
REMINDER_CONTACTS: Tuple[str, ...] = REMINDER_KINDS[:-1]
# What a hotliner records once a call of the call list is made (POST /api/calls/<id>/outcome);
# their labels are `queues.call_outcomes` of templates/web/texts.yml. An unanswered reminder
# call sends 001's « ou SMS » (numi/reminders/calls.py).
CALL_OUTCOMES: Tuple[str, ...] = ("reached", "no_answer", "wrong_number")
