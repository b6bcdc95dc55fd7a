"""Start the real numi service and Rasa server as subprocesses (integration tests, benchmark)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from numi import conversations

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def model_path() -> str:
    model = os.environ.get("NUMI_MODEL")
    if model and Path(model).exists():
        return model
    out = subprocess.run([str(ROOT / "scripts" / "train.sh")], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def http(method: str, url: str, body: Any = None, token: Optional[str] = None, raw: Optional[bytes] = None,
         timeout: float = 60, headers: Optional[Dict[str, str]] = None) -> Tuple[int, Any]:
    """(status, the JSON body, or its text when it is not JSON, or None when empty)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode()
            return resp.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


TEST_SECRET = "test-secret"
# Rate limits far above what a test or a benchmark sends from 127.0.0.1; the security
# tests start a stack with the real defaults (numi/settings.py, RateLimits).
UNLIMITED = {"NUMI_RATE_CONVERSATION": "100000/second", "NUMI_RATE_ADDRESS": "100000/second",
             "NUMI_RATE_PUBLIC": "100000/second"}


def signed_conversation(secret: str = TEST_SECRET, owner: Optional[str] = None, channel: str = "rest") -> str:
    """A conversation id as numi issues it (tests that do not exercise POST /chat/conversations)."""
    return conversations.issue(secret, datetime.now(timezone.utc), 3600 * 6, channel=channel, owner=owner).id


class Stack:
    """numi service + Rasa server on free ports, sharing a temporary var/ directory."""

    def __init__(self, tmp: Path, extra_env: Optional[Dict[str, str]] = None) -> None:
        self.tmp = tmp
        self.numi_port, self.rasa_port, self.action_port = free_port(), free_port(), free_port()
        self.numi = f"http://127.0.0.1:{self.numi_port}"
        self.rasa = f"http://127.0.0.1:{self.rasa_port}"
        self.actions = f"http://127.0.0.1:{self.action_port}"
        self.rasa_token = "test-rasa-token"
        self.admin_token = "test-admin-token"
        self.action_token = "test-action-token"
        self.secret = TEST_SECRET
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), NUMI_SECRET=self.secret, NUMI_ADMIN_TOKEN=self.admin_token,
                        NUMI_RASA_TOKEN=self.rasa_token, NUMI_RASA_URL=self.rasa,
                        NUMI_ACTION_TOKEN=self.action_token, NUMI_ACTION_PORT=str(self.action_port),
                        NUMI_DATABASE_URL=f"sqlite:///{tmp / 'numi.db'}",
                        NUMI_TRACKER_URL=f"sqlite:///{tmp / 'tracker.db'}",
                        NUMI_MAILBOX_DIR=str(tmp / "mailbox"), NUMI_PORT=str(self.numi_port),
                        NUMI_ACTION_URL=f"{self.actions}/webhook", NUMI_SCHEDULER="0", **UNLIMITED)
        for local in ("NUMI_LOCAL", "NUMI_DEMO"):
            self.env.pop(local, None)
        self.env.update(extra_env or {})
        self.procs: List["subprocess.Popen[bytes]"] = []
        self.with_rasa = True

    def start(self, rasa: bool = True) -> "Stack":
        """Both servers; with `rasa=False` the numi service alone (endpoints that need no model)."""
        self.with_rasa = rasa
        log_numi = open(self.tmp / "numi.log", "w")
        self.procs.append(subprocess.Popen([sys.executable, "-m", "numi.service"], cwd=ROOT, env=self.env,
                                           stdout=log_numi, stderr=subprocess.STDOUT))
        if rasa:
            self._start_rasa()
        deadline = time.time() + 180
        while time.time() < deadline:
            if all(p.poll() is None for p in self.procs) and self.ready():
                return self
            if any(p.poll() is not None for p in self.procs):
                break
            time.sleep(0.5)
        self.stop()
        logs = [self.tmp / "numi.log"] + ([self.tmp / "rasa.log"] if rasa else [])
        raise RuntimeError("servers did not start:\n" + "".join(f.read_text()[-3000:] for f in logs))

    def _start_rasa(self) -> None:
        model = model_path()
        log_rasa = open(self.tmp / "rasa.log", "w")
        self.procs.append(subprocess.Popen(  # Rasa's command line, numi's patches installed first
            [sys.executable, "-m", "numi.rasa_main", "run", "--model", model, "--endpoints", "endpoints.yml",
             "--credentials", "credentials.yml", "--enable-api", "--auth-token", self.rasa_token,
             "--interface", "127.0.0.1", "--port", str(self.rasa_port)],
            cwd=ROOT, env=self.env, stdout=log_rasa, stderr=subprocess.STDOUT))

    def ready(self) -> bool:
        try:
            return (http("GET", f"{self.numi}/health", timeout=2)[0] == 200
                    and (not self.with_rasa
                         or http("GET", f"{self.rasa}/status?token={self.rasa_token}", timeout=2)[0] == 200))
        except OSError:
            return False

    def pids(self) -> List[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()

    def new_conversation(self, customer_token: Optional[str] = None, channel: str = "rest") -> str:
        """A conversation id from numi's public endpoint, as the website gets one."""
        body: Dict[str, Any] = {"channel": channel}
        if customer_token:
            body["customer_token"] = customer_token
        status, reply = http("POST", f"{self.numi}/chat/conversations", body)
        if status != 201:
            raise RuntimeError(f"POST /chat/conversations: {status} {reply}")
        conversation_id: str = reply["conversation_id"]
        return conversation_id

    def staff_token(self, name: str, role: str) -> str:
        """A staff bearer token, made as an operator makes one (`python -m numi.cli staff create`)."""
        out = subprocess.run([sys.executable, "-m", "numi.cli", "staff", "create", "--name", name, "--role", role],
                             cwd=ROOT, env=self.env, capture_output=True, text=True, check=True)
        return out.stdout.strip().splitlines()[-1]

    def say(self, sender: str, message: Any, metadata: Optional[Dict[str, Any]] = None) -> Tuple[int, Any]:
        body: Dict[str, Any] = {"sender": sender, "message": message}
        if metadata is not None:
            body["metadata"] = metadata
        return http("POST", f"{self.rasa}/webhooks/rest/webhook", body)

    def tracker(self, sender: str) -> Dict[str, Any]:
        tracker: Dict[str, Any] = http("GET", f"{self.rasa}/conversations/{sender}/tracker?token={self.rasa_token}")[1]
        return tracker
