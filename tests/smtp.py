"""A real SMTP server for tests (aiosmtpd, in a thread), recording what it receives."""
from __future__ import annotations

import email
import threading
from email import policy
from typing import List

from aiosmtpd.controller import Controller

from numi.devstack import free_port


class Recorder:
    def __init__(self) -> None:
        self.messages: List[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(msg)
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self) -> None:
        self.recorder = Recorder()
        self.port = free_port()
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "SmtpServer":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    @property
    def messages(self):
        with self.recorder.lock:
            return list(self.recorder.messages)

    def env(self) -> dict:
        return {"NUMI_SMTP_HOST": "127.0.0.1", "NUMI_SMTP_PORT": str(self.port)}
