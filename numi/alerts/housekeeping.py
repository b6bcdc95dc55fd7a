"""What the alerts workers do every few seconds besides reading the customers' messages
(numi/alerts/ingest.py polls the tracker store, numi/alerts/consumer.py reads RabbitMQ)."""
from __future__ import annotations

from datetime import datetime
from typing import Dict

from numi.alerts import delivery
from numi.alerts import engine as alerts
from numi.clock import to_local
from numi.db import models as m
from numi.reminders import outbox

DIGEST_DAY = "alerts_digest_day"  # numi_meta: the last day whose digest went out


def housekeeping(services, now: datetime) -> Dict[str, int]:
    """Besides reading the messages (the poller or the consumer): the daily digest at its time,
    alert e-mails and webhooks out."""
    settings = services.settings
    stats: Dict[str, int] = {}
    local = to_local(now, settings.timezone).replace(tzinfo=None)
    if local.time() >= settings.alert_digest_at:
        with services.sessions() as s, s.begin():
            meta = s.get(m.Meta, DIGEST_DAY)
            if meta is None or meta.value < local.date().isoformat():
                stats["digests"] = alerts.digest(s, local.date(), now)
                if meta is None:
                    s.add(m.Meta(key=DIGEST_DAY, value=local.date().isoformat()))
                else:
                    meta.value = local.date().isoformat()
    stats.update({f"mail_{k}": v for k, v in outbox.flush(services.sessions, services.mailer).items()})
    stats.update({f"webhook_{k}": v for k, v in delivery.flush(
        services.sessions, settings.alert_webhook_secret or settings.secret).items()})
    return stats
