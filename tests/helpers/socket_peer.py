"""A Sanic process with a python-socketio server built as numi's chat channel builds its own
(numi.channels.socket_manager): tests/test_socket_replicas.py starts two and talks across them.

    python -m tests.helpers.socket_peer <port>
A client that emits `join` {room} joins that room; POST /emit {room, text} emits `bot_uttered`
to that room from this process, whichever process holds the room's socket."""
from __future__ import annotations

import sys

from sanic import Sanic, response
from socketio import AsyncServer

from numi.channels import socket_manager
from numi.settings import Settings


def main(port: int) -> None:
    settings = Settings.from_env()
    sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[], client_manager=socket_manager(settings))
    app = Sanic(f"peer{port}")
    sio.attach(app, socketio_path="socket.io")

    @sio.on("join")
    async def join(sid, data):  # type: ignore[no-untyped-def]
        await sio.enter_room(sid, data["room"])
        await sio.emit("joined", {"port": port}, room=sid)

    @app.post("/emit")
    async def emit(request):  # type: ignore[no-untyped-def]
        await sio.emit("bot_uttered", {"text": request.json["text"], "from": port}, room=request.json["room"])
        return response.json({"ok": True})

    @app.get("/up")
    async def up(request):  # type: ignore[no-untyped-def]
        return response.json({"ok": True})

    app.run(host="127.0.0.1", port=port, access_log=False, single_process=True) if hasattr(app, "single_process") \
        else app.run(host="127.0.0.1", port=port, access_log=False, workers=1)


if __name__ == "__main__":
    main(int(sys.argv[1]))
