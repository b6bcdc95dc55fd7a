"""Where mail comes from: an SMTP listener an MTA delivers to, and an IMAP mailbox numi polls.

Both hand the raw bytes to ``process.receive`` (in a worker thread: it is blocking work).

* SMTP (``NUMI_INBOUND_SMTP=<host>:<port>``, 127.0.0.1 unless a host is given): aiosmtpd in its
  own thread. A mail over the size limit is refused in the SMTP dialogue (552, in French); a
  mail numi could not store is answered 451, so the MTA retries and nothing is lost.
* IMAP (``NUMI_IMAP_URL=imap[s]://user:password@host:port/mailbox``): imapclient, TLS for imaps
  (or STARTTLS when the server offers it), login, the unseen mails fetched with BODY.PEEK[],
  handed over, then flagged \\Seen once stored. Mail stays on the server. A failed poll is retried
  at the next tick; the unique digest makes a mail fetched twice harmless.
"""
from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import quote, unquote, urlsplit

from aiosmtpd.controller import Controller
from imapclient import IMAPClient

from numi import wording
from numi.inbox.process import Deps, Result, receive
from numi.playbooks.engine import Parsed
from numi.settings import Settings

log = logging.getLogger(__name__)


def rasa_understand(settings: Settings, timeout: float = 10.0) -> Callable[[str], Parsed]:
    """The NLU of the running Rasa server (``POST /model/parse?token=``): the same model as the chat."""
    url = f"{settings.rasa_url.rstrip('/')}/model/parse?token={quote(settings.rasa_token or '')}"

    def understand(text: str) -> Parsed:
        request = urllib.request.Request(url, data=json.dumps({"text": text}).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (configured URL)
            return parsed_of(json.loads(answer.read()), text)

    return understand


def parsed_of(body: Dict[str, Any], text: str) -> Parsed:
    """Rasa's parse result (``/model/parse``, ``Agent.parse_message``) as the walker reads it."""
    intent = body.get("intent") or {}
    ranking = [(str(r.get("name")), float(r.get("confidence") or 0)) for r in body.get("intent_ranking") or []]
    return Parsed(text=text, intent=intent.get("name"), confidence=float(intent.get("confidence") or 0),
                  ranking=ranking, entities=body.get("entities") or [])


# -- SMTP ----------------------------------------------------------------------------------------

class SmtpHandler:
    """aiosmtpd's handler: DATA → process.receive."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.results: List[Result] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="replace")
        if len(raw) > self.deps.settings.inbound.max_bytes:
            limit = self.deps.settings.inbound.max_bytes // 2**20
            return "552 5.3.4 " + wording.text("inbound.too_large_smtp", limit_mb=limit)
        try:
            result = await _in_thread(lambda: receive(self.deps, raw, "smtp"))
        except Exception:
            log.exception("inbound mail (smtp): not stored; the MTA will retry")
            return "451 4.3.0 " + wording.text("inbound.try_again")
        self.results.append(result)
        return "250 2.0.0 OK"


async def _in_thread(fn: Callable[[], Result]) -> Result:
    return await asyncio.get_running_loop().run_in_executor(None, fn)


def start_smtp(deps: Deps) -> Any:
    """Start the SMTP listener (aiosmtpd Controller, own thread); returns it (``.stop()``)."""
    assert deps.settings.inbound.smtp is not None
    host, port = deps.settings.inbound.smtp
    handler = SmtpHandler(deps)
    # aiosmtpd stops reading past its own limit: leave room so the handler answers in French
    controller = Controller(handler, hostname=host, port=port, data_size_limit=deps.settings.inbound.max_bytes * 2,
                            decode_data=False, server_hostname=deps.settings.mail_domain)
    controller.start()
    log.info("inbound SMTP listening on %s:%s", host, port)
    return controller


# -- IMAP ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImapTarget:
    host: str
    port: int
    tls: bool
    user: str
    password: str
    mailbox: str

    @classmethod
    def parse(cls, url: str) -> "ImapTarget":
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname:
            raise ValueError("NUMI_IMAP_URL: imap[s]://user:password@host:port/mailbox")
        tls = parts.scheme == "imaps"
        return cls(host=parts.hostname, port=parts.port or (993 if tls else 143), tls=tls,
                   user=unquote(parts.username or ""), password=unquote(parts.password or ""),
                   mailbox=unquote(parts.path.lstrip("/")) or "INBOX")

    def __repr__(self) -> str:  # the password never reaches a log
        return f"ImapTarget({self.user}@{self.host}:{self.port}/{self.mailbox}, tls={self.tls})"


def fetch_once(deps: Deps, target: ImapTarget, ssl_context: Optional[ssl.SSLContext] = None,
               batch: int = 50) -> List[Result]:
    """One poll: the unseen mails, each handed over then flagged \\Seen (kept on the server)."""
    results: List[Result] = []
    with IMAPClient(target.host, port=target.port, ssl=target.tls, ssl_context=ssl_context, timeout=30) as imap:
        if not target.tls and b"STARTTLS" in imap.capabilities():
            imap.starttls(ssl_context or ssl.create_default_context())
        imap.login(target.user, target.password)
        imap.select_folder(target.mailbox)
        uids = imap.search(["UNSEEN"])[:batch]
        for uid in uids:
            fetched = imap.fetch([uid], ["BODY.PEEK[]", "RFC822.SIZE"]).get(uid, {})
            raw = fetched.get(b"BODY[]") or b""
            results.append(receive(deps, raw, "imap"))
            imap.add_flags([uid], [b"\\Seen"])
        imap.logout()
    return results


class ImapPoller:
    """Polls the mailbox every `imap_poll_seconds` in a daemon thread until stopped."""

    def __init__(self, deps: Deps, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        assert deps.settings.inbound.imap_url is not None
        self.deps = deps
        self.target = ImapTarget.parse(deps.settings.inbound.imap_url)
        self.ssl_context = ssl_context
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="numi-imap", daemon=True)
        self.polls = 0

    def start(self) -> "ImapPoller":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                fetch_once(self.deps, self.target, self.ssl_context)
            except Exception as exc:  # the server is down, a login fails: next tick
                log.warning("inbound mail (imap %r): poll failed (%s)", self.target, type(exc).__name__)
            self.polls += 1
            self._stop.wait(self.deps.settings.inbound.imap_poll_seconds)
