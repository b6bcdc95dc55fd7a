"""The event broker of the scale-out topology (config/endpoints.cluster.yml), loaded by the Rasa
process: Rasa's PikaEventBroker with its credentials out of its logs. numi/alerts/consumer.py
reads the queue it fills."""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from rasa.core.brokers.pika import PikaEventBroker

log = logging.getLogger(__name__)


def where(url: str) -> str:
    """The broker's address for logs: scheme, host, port and vhost, never the credentials."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))



class NumiPikaEventBroker(PikaEventBroker):  # type: ignore[misc]  # Rasa is untyped
    """Rasa's PikaEventBroker (the same fanout exchange, durable queues, persistent JSON messages
    and kept unpublished messages), configured by one URL that may carry the credentials
    (`url: ${NUMI_AMQP_URL}`, no `username`/`password`), whose logs name the server without its
    password and never an event (Rasa's own log the URL as given, and the event when a publish
    fails)."""

    def __init__(self, host: str, username: Optional[str] = None, password: Optional[str] = None,
                 **kwargs: Any) -> None:
        parts = urlsplit(host)
        if parts.scheme.startswith("amqp"):
            username = username or unquote(parts.username or "guest")
            password = password or unquote(parts.password or "guest")
            host = where(host)
            if parts.port:
                kwargs.setdefault("port", parts.port)
            self._query = parts.query
        super().__init__(host, username or "guest", password or "guest", **kwargs)

    def _configure_url(self) -> Optional[str]:
        parts = urlsplit(self.host)
        if not parts.scheme.startswith("amqp"):
            plain: Optional[str] = super()._configure_url()
            return plain
        netloc = f"{quote(self.username, safe='')}:{quote(self.password, safe='')}@{parts.netloc}"
        return str(urlunsplit((parts.scheme, netloc, parts.path, getattr(self, "_query", ""), "")))

    async def _publish(self, event: Dict[str, Any], headers: Optional[Dict[str, str]] = None) -> None:
        if self._exchange is None:  # not connected yet: dropped, as Rasa does (the reconciliation finds it)
            return
        try:
            await self._exchange.publish(self._message(event, headers), "")
        except Exception as exc:
            log.error("event broker: an event could not be published (%s)%s", type(exc).__name__,
                      ": kept to be published again" if self.should_keep_unpublished_messages else "")
            if self.should_keep_unpublished_messages:
                self._unpublished_events.append(event)
            if self.raise_on_failure:
                await self.close()
                raise
