"""A stand-in for Rasa's HTTP API, for tests that run the numi service without a model: it answers
`tracker/events` and `execute` as Rasa does (no messages) and keeps what it was sent."""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List

from numi.devstack import free_port


class RasaStandIn(BaseHTTPRequestHandler):
    received: List[Dict[str, Any]] = []
    url = ""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).received.append({"path": self.path, "body": json.loads(body or b"null")})
        answer = b'{"messages": []}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serving(port: int = 0) -> Iterator[type]:
    """The stand-in on 127.0.0.1:`port` (a free one by default): its handler class, with `url`
    and what it `received`."""
    port = port or free_port()
    handler = type("Handler", (RasaStandIn,), {"received": [], "url": f"http://127.0.0.1:{port}"})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()
