"""The alerts worker: reads new customer messages and raises alerts (seed 002), in a
process of its own at a lower CPU priority, so that analysing messages never slows
the conversations down (no shared GIL, and the scheduler favours the servers).

The numi service starts it (`NUMI_ALERTS=1`) and stops it; it also exits by itself
when the service that started it is gone."""
from __future__ import annotations

import logging
import os
import signal
import time

from sqlalchemy import create_engine

from numi import runtime
from numi.alerts import consumer
from numi.clock import utcnow
from numi.rasa_patches.stores import tracker_url
from numi.service.scheduler import alerts_tick, warm_up
from numi.settings import Settings

log = logging.getLogger("numi.alerts.worker")


def main(every: float = 2.0) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s alerts %(levelname)s %(message)s")
    parent = os.getppid()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    services = runtime.init(Settings.from_env())
    tracker = create_engine(tracker_url(), future=True, hide_parameters=True)
    try:
        warm_up(services)
        if services.settings.amqp_url:  # Rasa publishes to RabbitMQ (config/endpoints.cluster.yml)
            consumer.serve(services, tracker, should_stop=lambda: bool(stop) or os.getppid() != parent, every=every)
        else:  # one Rasa writer: the id-cursor poller
            while not stop and os.getppid() == parent:
                try:
                    alerts_tick(services, tracker, utcnow())
                except Exception as exc:  # e.g. Rasa has not created its tracker store yet
                    log.debug("tick: %s", exc)
                time.sleep(every)
    finally:
        tracker.dispose()
        runtime.close()


if __name__ == "__main__":
    main()
