"""Configuration of numi, read from the environment (12-factor style).

Nothing here performs I/O at import time: `Settings.from_env()` is called by
entry points (the numi service, the CLI, tests) and the result is passed on.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Dict, Mapping, Optional, Tuple

from numi import wording

ROOT = Path(__file__).resolve().parent.parent

# Opening hours, Monday=0 .. Sunday=6: (open, close) or None when closed.
DEFAULT_OPENING_HOURS: Dict[int, Optional[Tuple[time, time]]] = {
    0: (time(9, 0), time(18, 0)),
    1: (time(9, 0), time(18, 0)),
    2: (time(9, 0), time(18, 0)),
    3: (time(9, 0), time(18, 0)),
    4: (time(9, 0), time(18, 0)),
    5: (time(9, 0), time(12, 0)),
    6: None,
}


def _parse_hours(spec: str) -> Dict[int, Optional[Tuple[time, time]]]:
    """Parse "mon-fri 09:00-18:00; sat 09:00-12:00" into a weekday table."""
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    table: Dict[int, Optional[Tuple[time, time]]] = {d: None for d in range(7)}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        day_spec, hours = part.split()
        start, end = (time.fromisoformat(h) for h in hours.split("-"))
        if "-" in day_spec:
            first, last = (days.index(d) for d in day_spec.split("-"))
            selected = list(range(first, last + 1))
        else:
            selected = [days.index(day_spec)]
        for d in selected:
            table[d] = (start, end)
    return table


# The time zone of the hotline's calendar (NUMI_TIMEZONE): written here once, read as Settings.timezone.
DEFAULT_TIMEZONE = "Europe/Paris"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    starttls: bool = False
    username: Optional[str] = None
    password: Optional[str] = None
    sender: str = "numi.support <support@numi.support>"


@dataclass(frozen=True)
class SmsSettings:
    """The SMS gateway (numi/sms.py): set by NUMI_SMS_URL; without it, SMS go to the local mailbox."""
    url: str
    token: Optional[str] = field(default=None, repr=False)  # a secret: kept out of repr() and logs
    sender: str = "numi"
    timeout: float = 10.0  # seconds


@dataclass(frozen=True)
class InboundSettings:
    """Inbound e-mail (numi/inbox): where mail arrives and the limits it is held to.

    `smtp` is NUMI_INBOUND_SMTP=<host>:<port> (an SMTP listener an MTA delivers to);
    `imap_url` is NUMI_IMAP_URL=imap[s]://<user>:<password>@<host>:<port>/<mailbox> (polled)."""
    smtp: Optional[Tuple[str, int]] = None
    imap_url: Optional[str] = field(default=None, repr=False)  # holds a password: kept out of repr()
    imap_poll_seconds: float = 30.0
    max_bytes: int = 10 * 1024 * 1024  # a larger mail is refused politely
    max_attachments: int = 10
    max_attachment_bytes: int = 5 * 1024 * 1024
    auto_replies_per_hour: int = 5  # automatic answers to one address in an hour (loop guard)
    sender_match_days: int = 14  # « Re: » from a customer threads onto their ticket updated this recently

    @property
    def enabled(self) -> bool:
        return self.smtp is not None or self.imap_url is not None


def _host_port(spec: Optional[str]) -> Optional[Tuple[str, int]]:
    """"127.0.0.1:2525" or ":2525" or "2525" → (host, port), loopback unless a host is given."""
    if not spec:
        return None
    host, _, port = spec.strip().rpartition(":")
    return (host.strip("[]") or "127.0.0.1", int(port))


DEV_SECRET = "dev-secret-change-me"
# The secrets a deployment must set (README, « Sécurité »); `make run`'s local mode has defaults.
REQUIRED_SECRETS = ("NUMI_SECRET", "NUMI_RASA_TOKEN", "NUMI_ACTION_TOKEN")


class ConfigurationError(RuntimeError):
    """A process was started without what it needs (message for the operator, in French)."""


def _origins(env: Mapping[str, str]) -> Tuple[str, ...]:
    raw = env.get("NUMI_WEB_ORIGINS")
    if raw:
        return tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    port = env.get("NUMI_PORT", "5055")
    return (f"http://localhost:{port}", f"http://127.0.0.1:{port}")


def _flag(env: Mapping[str, str], name: str, default: str = "0") -> bool:
    return env.get(name, default).strip().lower() not in ("0", "false", "no", "")


def check_secrets(env: Optional[Mapping[str, str]] = None) -> None:
    """Outside local mode (NUMI_LOCAL=1, set by `make run`), refuse to start with a missing or
    default secret: a working default would be a secret everybody knows."""
    env = os.environ if env is None else env
    if _flag(env, "NUMI_LOCAL"):
        return
    missing = [name for name in REQUIRED_SECRETS if not env.get(name) or env.get(name) == DEV_SECRET]
    if missing:
        raise ConfigurationError(wording.text("startup.missing_secrets", names=", ".join(missing)))


@dataclass(frozen=True)
class RateLimits:
    """Rate limits in the `limits` library's notation ("10/10 seconds;60/minute")."""
    conversation: str = "10/10 seconds;60/minute"  # messages of one conversation
    address: str = "50/10 seconds;300/minute"  # messages from one client address
    public: str = "30/minute"  # public endpoints (new conversations, pages) per client address


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret: str
    admin_token: Optional[str] = None
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: Optional[str] = None
    timezone: str = DEFAULT_TIMEZONE
    hotline_phone: Optional[str] = None  # NUMI_HOTLINE_PHONE: said where a customer must call; omitted when unset
    opening_hours: Mapping[int, Optional[Tuple[time, time]]] = field(
        default_factory=lambda: dict(DEFAULT_OPENING_HOURS)
    )
    smtp: Optional[SmtpSettings] = None
    inbound: InboundSettings = field(default_factory=InboundSettings)  # NUMI_INBOUND_SMTP, NUMI_IMAP_URL
    mail_domain: str = "numi.support"  # the right-hand side of the Message-IDs numi signs
    sms: Optional[SmsSettings] = None  # NUMI_SMS_URL: the SMS gateway; unset, SMS go to the local mailbox
    mailbox_dir: Path = ROOT / "var" / "mailbox"
    # Reminder engine: daily run time (the send window is in config/reminder_policy.yml).
    reminder_run_at: time = time(9, 30)
    scheduler_enabled: bool = True
    scheduler_tick_seconds: float = 20.0
    # Human handoff: how long a customer waits before being offered a callback.
    handoff_pickup_minutes: int = 10
    demo_data: bool = True
    # Web pages: where browsers reach Rasa's socket.io (default: the page's host, Rasa's port),
    # and whether the demo site offers to sign in as a demo customer.
    rasa_public_url: Optional[str] = None
    demo_login: bool = False  # NUMI_DEMO=1 only, and only for requests from 127.0.0.1
    # Alerts (seed 002): rules, webhook signing secret, per-recipient rate limit.
    alert_rules: Path = ROOT / "config" / "alerts" / "rules.yml"
    alert_webhook_secret: Optional[str] = None
    alert_rate_per_hour: int = 3
    alert_webhooks: Mapping[str, str] = field(default_factory=dict)  # recipient webhook name -> URL
    alert_digest_at: time = time(17, 30)
    alerts_enabled: bool = True
    # Trust (README, « Sécurité »): the private action listener and its shared secret,
    # signed conversation ids and how long a proved identity survives idleness.
    action_host: str = "127.0.0.1"
    action_port: int = 5056
    action_token: Optional[str] = None
    conversation_ttl_hours: int = 24
    identity_idle_minutes: int = 30
    customer_token_ttl_minutes: int = 720
    local_mode: bool = False
    redis_url: Optional[str] = None
    # The chat channels on Rasa: the longest message kept (longer ones are cut, with a note) and the
    # pages allowed to open the chat socket (the numi service's own by default, NUMI_PORT).
    max_message_chars: int = 1000
    web_origins: Tuple[str, ...] = ("http://localhost:5055", "http://127.0.0.1:5055")
    # RabbitMQ (NUMI_AMQP_URL, amqp://user:password@host:port/vhost): set, Rasa publishes its events
    # there (config/endpoints.cluster.yml) and the alerts worker consumes them (numi/alerts/consumer.py).
    amqp_url: Optional[str] = field(default=None, repr=False)  # holds a password: kept out of repr()
    # The Rasa process (numi/rasa_patches): its tracker store, how long it waits for a custom
    # action, and the conversation lock's configured lifetime (raised to cover the actions).
    tracker_url: str = f"sqlite:///{ROOT / 'var' / 'tracker.db'}"
    action_timeout: float = 10.0
    lock_lifetime: float = 60.0
    rate_limits: RateLimits = field(default_factory=RateLimits)
    proxies_count: int = 0  # how many reverse proxies in front set X-Forwarded-For (0: trust none)

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None, **overrides) -> "Settings":
        env = os.environ if env is None else env
        smtp = None
        if env.get("NUMI_SMTP_HOST"):
            smtp = SmtpSettings(
                host=env["NUMI_SMTP_HOST"],
                port=int(env.get("NUMI_SMTP_PORT", "25")),
                starttls=env.get("NUMI_SMTP_STARTTLS", "0") in ("1", "true", "yes"),
                username=env.get("NUMI_SMTP_USER") or None,
                password=env.get("NUMI_SMTP_PASSWORD") or None,
                sender=env.get("NUMI_SMTP_SENDER", SmtpSettings.sender),
            )
        sms = None
        if env.get("NUMI_SMS_URL"):
            sms = SmsSettings(url=env["NUMI_SMS_URL"], token=env.get("NUMI_SMS_TOKEN") or None,
                              sender=env.get("NUMI_SMS_SENDER") or SmsSettings.sender,
                              timeout=float(env.get("NUMI_SMS_TIMEOUT", "10")))
        default_db = f"sqlite:///{ROOT / 'var' / 'numi.db'}"
        settings = cls(
            database_url=env.get("NUMI_DATABASE_URL", default_db),
            secret=env.get("NUMI_SECRET") or DEV_SECRET,
            admin_token=env.get("NUMI_ADMIN_TOKEN") or None,
            rasa_url=env.get("NUMI_RASA_URL", "http://127.0.0.1:5005"),
            rasa_token=env.get("NUMI_RASA_TOKEN") or None,
            timezone=env.get("NUMI_TIMEZONE", DEFAULT_TIMEZONE),
            hotline_phone=env.get("NUMI_HOTLINE_PHONE") or None,
            opening_hours=(
                _parse_hours(env["NUMI_OPENING_HOURS"])
                if env.get("NUMI_OPENING_HOURS")
                else dict(DEFAULT_OPENING_HOURS)
            ),
            smtp=smtp,
            inbound=InboundSettings(
                smtp=_host_port(env.get("NUMI_INBOUND_SMTP")), imap_url=env.get("NUMI_IMAP_URL") or None,
                imap_poll_seconds=float(env.get("NUMI_IMAP_POLL_SECONDS", "30")),
                auto_replies_per_hour=int(env.get("NUMI_MAIL_AUTOREPLIES_PER_HOUR", "5"))),
            mail_domain=env.get("NUMI_MAIL_DOMAIN", "numi.support"),
            sms=sms,
            mailbox_dir=Path(env.get("NUMI_MAILBOX_DIR", str(ROOT / "var" / "mailbox"))),
            reminder_run_at=time.fromisoformat(env.get("NUMI_REMINDER_RUN_AT", "09:30")),
            scheduler_enabled=env.get("NUMI_SCHEDULER", "1") not in ("0", "false", "no"),
            scheduler_tick_seconds=float(env.get("NUMI_SCHEDULER_TICK", "20")),
            handoff_pickup_minutes=int(env.get("NUMI_HANDOFF_PICKUP_MINUTES", "10")),
            demo_data=env.get("NUMI_DEMO_DATA", "1") not in ("0", "false", "no"),
            rasa_public_url=env.get("NUMI_RASA_PUBLIC_URL") or None,
            demo_login=_flag(env, "NUMI_DEMO"),
            alert_rules=Path(env.get("NUMI_ALERT_RULES", str(ROOT / "config" / "alerts" / "rules.yml"))),
            alert_webhook_secret=env.get("NUMI_ALERT_WEBHOOK_SECRET") or None,
            alert_rate_per_hour=int(env.get("NUMI_ALERT_RATE_PER_HOUR", "3")),
            alert_webhooks=dict(part.strip().split("=", 1) for part in env.get("NUMI_ALERT_WEBHOOKS", "").split(",")
                                if "=" in part),
            alert_digest_at=time.fromisoformat(env.get("NUMI_ALERT_DIGEST_AT", "17:30")),
            alerts_enabled=env.get("NUMI_ALERTS", "1") not in ("0", "false", "no"),
            action_host=env.get("NUMI_ACTION_HOST", "127.0.0.1"),
            action_port=int(env.get("NUMI_ACTION_PORT", "5056")),
            action_token=env.get("NUMI_ACTION_TOKEN") or None,
            conversation_ttl_hours=int(env.get("NUMI_CONVERSATION_TTL_HOURS", "24")),
            identity_idle_minutes=int(env.get("NUMI_IDENTITY_IDLE_MINUTES", "30")),
            customer_token_ttl_minutes=int(env.get("NUMI_CUSTOMER_TOKEN_TTL_MINUTES", "720")),
            local_mode=_flag(env, "NUMI_LOCAL"),
            redis_url=env.get("NUMI_REDIS_URL") or None,
            max_message_chars=int(env.get("NUMI_MAX_MESSAGE_CHARS", "1000")),
            web_origins=_origins(env),
            amqp_url=env.get("NUMI_AMQP_URL") or None,
            tracker_url=env.get("NUMI_TRACKER_URL") or f"sqlite:///{ROOT / 'var' / 'tracker.db'}",
            action_timeout=float(env.get("NUMI_ACTION_TIMEOUT", "10")),
            lock_lifetime=float(env.get("NUMI_LOCK_LIFETIME", "60")),
            rate_limits=RateLimits(
                conversation=env.get("NUMI_RATE_CONVERSATION", RateLimits.conversation),
                address=env.get("NUMI_RATE_ADDRESS", RateLimits.address),
                public=env.get("NUMI_RATE_PUBLIC", RateLimits.public)),
            proxies_count=int(env.get("NUMI_PROXIES_COUNT", "0")),
        )
        return replace(settings, **overrides) if overrides else settings
