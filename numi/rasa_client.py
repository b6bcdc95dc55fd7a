"""The numi service talking to the Rasa server's HTTP API (token-protected)."""
from __future__ import annotations

from typing import Any, Dict, List
from urllib.parse import quote

import aiohttp


class RasaError(RuntimeError):
    pass


class RasaClient:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self.token = token or ""

    def _u(self, conversation_id: str, path: str, **query: str) -> str:
        params = "&".join(f"{k}={quote(v)}" for k, v in {"token": self.token, **query}.items())
        return f"{self.url}/conversations/{quote(conversation_id, safe='')}/{path}?{params}"

    async def say(self, sender: str, text: str, metadata: Dict[str, Any]) -> List[Dict[str, Any]]:
        """A message on the `rest` channel (as the prompter console sends what a caller says)."""
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.post(f"{self.url}/webhooks/rest/webhook",
                                 json={"sender": sender, "message": text, "metadata": metadata}) as r:
                if r.status != 200:
                    raise RasaError(f"webhook: {r.status} {await r.text()}")
                return await r.json()

    async def system_event(self, conversation_id: str, event: Dict[str, Any],
                           output_channel: str = "latest") -> Dict[str, Any]:
        """Put `event` in the slot `system_event`, then run `action_system_event`.

        The bot's messages go to the conversation's latest channel: live on the
        customer's socket.io connection, recorded in the tracker either way."""
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            async with http.post(self._u(conversation_id, "tracker/events"),
                                 json=[{"event": "slot", "name": "system_event", "value": event}]) as r:
                if r.status != 200:
                    raise RasaError(f"tracker/events: {r.status} {await r.text()}")
            async with http.post(self._u(conversation_id, "execute", output_channel=output_channel),
                                 json={"name": "action_system_event"}) as r:
                if r.status != 200:
                    raise RasaError(f"execute: {r.status} {await r.text()}")
                return await r.json()
