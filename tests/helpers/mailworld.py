"""A small real mail world for tests: a private Dovecot (IMAP, STARTTLS with a certificate made
for the test) holding one mailbox per user, and an SMTP relay (aiosmtpd) that delivers what it
receives into the recipient's Dovecot mailbox by IMAP APPEND, as an MTA with local delivery would.

    world = MailWorld(tmp_path, users=["support", "marie"]).start()
    world.smtp_port     # where numi sends (NUMI_SMTP_HOST/PORT) and where customers send
    world.imap_url("support")   # NUMI_IMAP_URL of numi's mailbox
    world.messages("marie")     # what the IMAP server holds for marie, as raw bytes
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from email.utils import getaddresses
from pathlib import Path
from typing import Dict, List, Optional

from aiosmtpd.controller import Controller
from imapclient import IMAPClient

DOVECOT = "/usr/sbin/dovecot"
DOMAIN = "numi.support"
CUSTOMER_DOMAIN = "exemple.fr"
MAIL_UID = pwd.getpwnam("nobody").pw_uid
MAIL_GID = pwd.getpwnam("nobody").pw_gid


def available() -> Optional[str]:
    """None when Dovecot can run here, else why not (for pytest.skip)."""
    if not Path(DOVECOT).exists():
        return "Dovecot is not installed (make setup installs dovecot-imapd with apt)"
    if not shutil.which("openssl"):
        return "openssl is missing (the test's TLS certificate)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Relay:
    """aiosmtpd handler: each recipient's mail APPENDed to their Dovecot mailbox."""

    def __init__(self, world: "MailWorld") -> None:
        self.world = world
        self.received: List[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        raw = envelope.original_content or envelope.content
        self.received.append(raw)
        for rcpt in envelope.rcpt_tos:
            user = self.world.user_of(rcpt)
            if user is None:
                return f"550 5.1.1 <{rcpt}>: no such user"
            self.world.append(user, raw)
        return "250 2.0.0 delivered"


class MailWorld:
    def __init__(self, tmp: Path, users: List[str], password: str = "mot-de-passe-test") -> None:
        self.tmp = tmp
        self.users = users
        self.password = password
        self.imap_port = free_port()
        self.smtp_port = free_port()
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        self.relay: Optional[Controller] = None
        self.cert = tmp / "cert.pem"

    # -- addresses --
    def address(self, user: str) -> str:
        return f"{user}@{DOMAIN}" if user == "support" else f"{user}@{CUSTOMER_DOMAIN}"

    def user_of(self, address: str) -> Optional[str]:
        addr = getaddresses([address])[0][1].lower()
        local = addr.split("@")[0].split("+")[0]
        return local if local in self.users else None

    def imap_url(self, user: str) -> str:
        return f"imap://{user}:{self.password}@127.0.0.1:{self.imap_port}/INBOX"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    # -- life --
    def start(self) -> "MailWorld":
        key = self.tmp / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                        "-out", str(self.cert)], check=True, capture_output=True)
        for sub in ("run", "state"):
            (self.tmp / sub).mkdir(exist_ok=True)
        # the mailboxes belong to `nobody` (Dovecot refuses root), where that user can reach them
        self.maildir = Path(tempfile.mkdtemp(prefix="numi-maildir-"))
        os.chmod(self.maildir, 0o755)
        os.chown(self.maildir, MAIL_UID, MAIL_GID)
        conf = self.tmp / "dovecot.conf"
        conf.write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.tmp}/run
state_dir = {self.tmp}/state
log_path = {self.tmp}/dovecot.log
ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = plain login
first_valid_uid = 100
mail_location = maildir:{self.maildir}/%u
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = static
  args = password={self.password}
}}
userdb {{
  driver = static
  args = uid={MAIL_UID} gid={MAIL_GID} home={self.maildir}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
""")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.imap_port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("dovecot did not start: " + self._log()) from None
                time.sleep(0.1)
        self.relay = Controller(_Relay(self), hostname="127.0.0.1", port=self.smtp_port)
        self.relay.start()
        return self

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "maildir", None) is not None:
            shutil.rmtree(self.maildir, ignore_errors=True)

    def _log(self) -> str:
        path = self.tmp / "dovecot.log"
        return path.read_text()[-3000:] if path.exists() else ""

    # -- mailboxes --
    def _client(self, user: str) -> IMAPClient:
        imap = IMAPClient("127.0.0.1", port=self.imap_port, ssl=False, timeout=10)
        imap.starttls(self.ssl_context())
        imap.login(user, self.password)
        return imap

    def append(self, user: str, raw: bytes) -> None:
        with self._client(user) as imap:
            imap.append("INBOX", raw)
            imap.logout()

    def messages(self, user: str) -> List[bytes]:
        """Every message of the user's INBOX, in arrival order, as the IMAP server holds it."""
        with self._client(user) as imap:
            imap.select_folder("INBOX", readonly=True)
            uids = imap.search(["ALL"])
            fetched: Dict[int, Dict[bytes, bytes]] = imap.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            imap.logout()
        return [fetched[u][b"BODY[]"] for u in sorted(fetched)]

    def flags(self, user: str) -> List[tuple]:
        with self._client(user) as imap:
            imap.select_folder("INBOX", readonly=True)
            uids = imap.search(["ALL"])
            found = imap.get_flags(uids) if uids else {}
            imap.logout()
        return [found[u] for u in sorted(found)]
