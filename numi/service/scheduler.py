"""What the numi service does by itself, every tick: the daily reminder run at
the configured time (once a day, catching up after downtime), the outbox flush,
and the handoff pickup delay (a customer nobody answered is offered a callback).

Only one numi process does it at a time: the holder of the `scheduler` lease
(numi/leases.py), renewed at every tick (NUMI_SCHEDULER_TICK, 20 s); another
process takes over within LEASE_TICKS + 1 ticks when it dies. Each job is safe to cut at any point: the daily run is
marked done only once it has finished (each reminder is done once, by its own
transaction and outbox key), a handoff timeout is offered under a key the action
recognises, so a cut between sending and recording it shows it once."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
from datetime import datetime
from typing import Dict

from sqlalchemy import create_engine

from numi import churn, gdpr, hours, leases, signals
from numi.alerts import ingest
from numi.alerts.housekeeping import housekeeping
from numi.clock import local_date, to_local, utcnow
from numi.db import models as m
from numi.handoff import service as handoffs
from numi.ops import OutageWatch
from numi.rasa_client import RasaClient
from numi.rasa_patches.stores import tracker_url
from numi.reminders import engine, outbox, renewals

log = logging.getLogger(__name__)
LAST_RUN = "reminders_last_run"
LEASE_TICKS = 2  # the lease outlives one missed renewal; a dead holder is replaced within 3 ticks (1 min)


def gdpr_tick(services, now: datetime) -> int:
    """Carry out the confirmed erasures that are due (within the month of RGPD art. 12)."""
    today = local_date(now, services.settings.timezone)
    with services.sessions() as s:
        due = gdpr.due_erasures(s, today)
    if not due:
        return 0
    tracker = create_engine(tracker_url(services.settings), hide_parameters=True)
    try:
        for customer_id in due:
            with services.sessions() as s, s.begin():
                gdpr.erase(s, customer_id, now, tracker_engine=tracker, mailbox_dir=services.settings.mailbox_dir)
    finally:
        tracker.dispose()
    return len(due)


def reminder_tick(services, now: datetime) -> bool:
    """Run today's reminders once, after the configured time. True when it ran."""
    settings = services.settings
    local = to_local(now, settings.timezone).replace(tzinfo=None)
    if local.time() < settings.reminder_run_at:
        return False
    today = local.date().isoformat()
    with services.sessions() as s:
        meta = s.get(m.Meta, LAST_RUN)
        if meta is not None and meta.value >= today:
            return False
    # A run cut half-way (crash, kill) is run again: what it did is no longer due.
    engine.run(services.sessions, settings, local.date(), now=now, mailer=services.mailer)
    with services.sessions() as s, s.begin():
        meta = s.get(m.Meta, LAST_RUN)
        if meta is None:
            s.add(m.Meta(key=LAST_RUN, value=today))
        else:
            meta.value = today
    return True


async def handoff_tick(services, now: datetime) -> int:
    settings = services.settings
    local = to_local(now, settings.timezone).replace(tzinfo=None)
    is_open = hours.is_open(settings.opening_hours, local)
    with services.sessions() as s:
        due = handoffs.overdue(s, now, 0 if not is_open else settings.handoff_pickup_minutes)
        targets = [(h.id, h.conversation_id) for h in due]
    client = RasaClient(settings.rasa_url, settings.rasa_token)
    for handoff_id, conversation_id in targets:
        try:  # the key makes a second offer (a cut before it was recorded) say nothing
            await client.system_event(conversation_id,
                                      {"type": "handoff_timeout", "key": f"handoff_timeout:{handoff_id}"})
        except Exception as exc:  # Rasa down: try again next minute
            log.warning("handoff %s: %s", handoff_id, exc)
            continue
        with services.sessions() as s, s.begin():
            h = s.get(m.Handoff, handoff_id)
            h.packet = dict(h.packet or {}, timeout_offered=True)
    return len(targets)


async def renewal_tick(services, now: datetime) -> int:
    """Once a day, with the reminder run: start the renewal reminders that are due."""
    settings = services.settings
    local = to_local(now, settings.timezone).replace(tzinfo=None)
    if local.time() < settings.reminder_run_at or not hours.is_open(settings.opening_hours, local):
        return 0
    started = await renewals.run(services, local.date(), now, RasaClient(settings.rasa_url, settings.rasa_token))
    return len(started)




def alerts_tick(services, tracker, now: datetime) -> Dict[str, int]:
    """Seed 002, every few seconds: signals and alerts for new customer messages (the tracker
    store's poller), then the digest, alert e-mails and webhooks out."""
    return {"messages": ingest.run(services, tracker), **housekeeping(services, now)}


def warm_up(services) -> None:
    """Load the emotion model and train the churn model before the first message needs them."""
    signals.emotion_model()
    with services.sessions() as s, s.begin():
        churn.model(s)


async def loop(app) -> None:
    services = app.ctx.services
    holder = f"{socket.gethostname()}:{os.getpid()}"
    watch = app.ctx.outages = OutageWatch.for_services(services, tracker_url(services.settings))
    while True:
        now = utcnow()
        await asyncio.get_running_loop().run_in_executor(None, watch.tick, now)  # in every process
        try:
            lease = LEASE_TICKS * services.settings.scheduler_tick_seconds
            if not leases.acquire(services.sessions, "scheduler", holder, now, lease):
                await asyncio.sleep(services.settings.scheduler_tick_seconds)
                continue  # another numi process is the scheduler
            await asyncio.get_running_loop().run_in_executor(None, reminder_tick, services, now)
            await asyncio.get_running_loop().run_in_executor(None, outbox.flush, services.sessions, services.mailer)
            await asyncio.get_running_loop().run_in_executor(None, gdpr_tick, services, now)
            await handoff_tick(services, now)
            await renewal_tick(services, now)
        except Exception as exc:
            log.error("scheduler tick failed (%s): tried again at the next tick", type(exc).__name__)
        await asyncio.sleep(services.settings.scheduler_tick_seconds)
