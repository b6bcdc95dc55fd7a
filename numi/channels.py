"""The rest and socketio channels of numi: Rasa's own, with numi's guard in front.

Registered in credentials.yml under their module path; they keep Rasa's channel
names ("rest", "socketio") and URLs. Every customer message goes through
`guard`, which:

* turns text that starts with "/" into plain text (a customer can never trigger
  an intent, an external event or a slot), except a button payload the bot
  itself offered in its last turn;
* removes control characters, normalises Unicode, cuts overlong input (with a
  polite note) and answers empty messages without bothering the model;
* replaces client metadata by what numi verified: the signed conversation id's
  owner, the signed customer token and the signed agent-assist token, minted by
  the numi service.

Before the guard, each channel refuses a conversation id that numi did not issue
(numi/conversations.py: signed, expiring, for this channel), and counts the message
against the rate limits of its conversation and of its client address (429).
"""
from __future__ import annotations

import json
import logging
import re
import unicodedata
from functools import lru_cache
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

import yaml
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
import socketio
from socketio import AsyncServer

from numi import auth, conversations
from numi.ratelimit import Limiter
from numi.service.http import message as api_message
from numi.settings import Settings, check_secrets

log = logging.getLogger(__name__)
CLIENT_MESSAGE_ID = re.compile(r"[A-Za-z0-9_.:-]{8,80}")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
SYSTEM_TEXTS = Path(__file__).resolve().parent.parent / "playbooks" / "_system.yml"
MAX_CHARS = Settings.max_message_chars  # the default; the channels pass Settings.max_message_chars


@lru_cache(maxsize=1)
def _texts() -> Dict[str, Any]:
    loaded: Dict[str, Any] = yaml.safe_load(SYSTEM_TEXTS.read_text(encoding="utf-8"))
    return loaded


def channel_text(key: str) -> str:
    return _texts()[key]["say"]


SECURITY = ("report_security_incident",)


def failure_text(tracker: Any) -> str:
    """What the customer is told when an action could not run: try again, or, for a security
    incident (nothing recorded yet, and it cannot wait), call the hotline now."""
    intent = ((getattr(tracker, "latest_message", None) and tracker.latest_message.intent) or {}).get("name")
    state = tracker.get_slot("pb_state") if hasattr(tracker, "get_slot") else None
    playbooks = [f.get("id") for f in (state or {}).get("stack", []) if isinstance(f, dict)]
    if intent in SECURITY or "security_incident" in playbooks:
        number = Settings.from_env().hotline_phone
        phone = channel_text("support_phone_known").format(number=number) if number else \
            channel_text("support_phone_unknown")
        return channel_text("technical_security").format(phone=phone)
    return channel_text("technical_retry")


@dataclass
class Guarded:
    text: str
    metadata: Dict[str, Any]
    notices: List[str] = field(default_factory=list)
    reply_only: Optional[str] = None  # answer this and do not run the bot


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Gate:
    """What both channels check before the guard: the conversation id, the owner, the rates."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secret = settings.secret
        self.limiter = Limiter(settings.rate_limits, settings.redis_url)

    def conversation(self, sender_id: Any, channel: str) -> Optional[conversations.Conversation]:
        return conversations.check(sender_id, self.secret, _now(), channel=channel)

    def within_limits(self, sender_id: str, address: str) -> bool:
        return self.limiter.hit_all((("conversation", sender_id), ("address", address or "?")))

    def owner_conflict(self, conv: conversations.Conversation, raw_metadata: Any) -> bool:
        """A customer token for someone else than the conversation's owner."""
        token = raw_metadata.get("customer_token") if isinstance(raw_metadata, dict) else None
        if conv.owner is None or token is None:
            return False
        claims = auth.verify(token, self.secret, kind="customer")
        return not claims or claims.get("sub") != conv.owner


def _gate() -> Gate:
    check_secrets()  # outside local mode, refuse to start on default secrets
    return Gate(Settings.from_env())


def clean_text(raw: Any, max_chars: int = MAX_CHARS) -> tuple:
    """(text, truncated) — never raises, whatever the input."""
    if raw is None:
        return "", False
    if not isinstance(raw, str):
        raw = json.dumps(raw, ensure_ascii=False) if isinstance(raw, (dict, list)) else str(raw)
    text = unicodedata.normalize("NFC", raw)
    text = CONTROL.sub(" ", text).replace("\r\n", "\n").strip()
    if len(text) > max_chars:
        cut = text[:max_chars]
        space = cut.rfind(" ")
        return (cut[:space] if space > max_chars * 0.8 else cut).rstrip(), True
    return text, False


def verified_metadata(raw: Any, sender_id: str, secret: str, owner: Optional[str] = None) -> Dict[str, Any]:
    """Keep only what numi can verify; everything else from the client is dropped."""
    raw = raw if isinstance(raw, dict) else {}
    numi: Dict[str, Any] = {"mode": "customer"}
    customer = None if owner else auth.verify(raw.get("customer_token"), secret, kind="customer")
    if owner:
        numi["customer_id"] = owner
    elif customer:
        numi["customer_id"] = customer.get("sub")
    agent = auth.verify(raw.get("agent_token"), secret, kind="agent")
    if agent and agent.get("conv") == sender_id:
        numi["mode"] = "agent"
        numi["agent_name"] = str(agent.get("sub") or "")[:80]
        numi["agent_role"] = agent.get("role")
        if agent.get("cust") and "customer_id" not in numi:
            numi["customer_id"] = str(agent["cust"])[:16]
    client_id = raw.get("client_message_id")
    if isinstance(client_id, str) and CLIENT_MESSAGE_ID.fullmatch(client_id):
        numi["client_message_id"] = client_id  # the client's own id of this message (a retry sends it again)
    return {"numi": numi}


async def already_answered(sender_id: str, client_id: Optional[str]) -> Optional[List[Dict[str, Any]]]:
    """A message sent again after its answer was lost (the replica that answered died, the
    connection was cut): when the tracker already holds it, its answer, read back, instead of
    a second processing (a retry must not do the turn twice). None when it was never handled."""
    if not client_id:
        return None
    try:
        tracker = await Sanic.get_app("rasa_server").ctx.agent.tracker_store.retrieve(sender_id)
    except Exception:  # no tracker store: handled as a new message
        return None
    events = list(tracker.events) if tracker is not None else []
    for index, event in enumerate(events):
        meta = (getattr(event, "metadata", None) or {}).get("numi") or {}
        if event.type_name == "user" and meta.get("client_message_id") == client_id:
            answer = []
            for later in events[index + 1:]:
                if later.type_name == "user":
                    break
                if later.type_name == "bot":
                    message: Dict[str, Any] = {"recipient_id": sender_id}
                    if later.text:
                        message["text"] = later.text
                    data = later.data or {}
                    for key in ("buttons", "custom", "image", "attachment"):
                        if data.get(key):
                            message[key] = data[key]
                    answer.append(message)
            return answer
    return None


async def _offered_payloads(sender_id: str) -> List[str]:
    try:
        agent = Sanic.get_app("rasa_server").ctx.agent
        tracker = await agent.tracker_store.retrieve(sender_id)
    except Exception:  # no app / no tracker: nothing was offered
        return []
    if tracker is None:
        return []
    for event in reversed(tracker.events):
        if event.type_name == "user":
            break
        if event.type_name == "bot":
            buttons = (event.data or {}).get("buttons") or []
            return [str(b["payload"]) for b in buttons if isinstance(b, dict) and b.get("payload")]
    return []


async def guard(raw_text: Any, raw_metadata: Any, sender_id: str, secret: str,
                owner: Optional[str] = None, max_chars: int = MAX_CHARS) -> Guarded:
    text, truncated = clean_text(raw_text, max_chars)
    metadata = verified_metadata(raw_metadata, sender_id, secret, owner)
    if not text:
        return Guarded(text="", metadata=metadata, reply_only=channel_text("empty_message"))
    if text.startswith("/") and text not in await _offered_payloads(sender_id):
        metadata["numi"]["slash_neutralised"] = True
        text = text.lstrip("/ ").strip()
        if not text:
            return Guarded(text="", metadata=metadata, reply_only=channel_text("empty_message"))
    notices = [channel_text("input_truncated")] if truncated else []
    if truncated:
        metadata["numi"]["truncated"] = True
    return Guarded(text=text, metadata=metadata, notices=notices)


async def deliver(guarded: Guarded, output: Any, sender_id: str, channel: str,
                  on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
    """The guarded message to the bot (or the guard's own answer); a failure is said, never silent."""
    if guarded.reply_only:
        await output.send_text_message(sender_id, guarded.reply_only)
        return
    for notice in guarded.notices:
        await output.send_text_message(sender_id, notice)
    try:
        await on_new_message(UserMessage(guarded.text, output, sender_id, input_channel=channel,
                                         metadata=guarded.metadata))
    except Exception as exc:  # the tracker store is unreachable, or Rasa failed: say so
        log.error("%s channel: message failed (%s)", channel, type(exc).__name__)
        await output.send_text_message(sender_id, channel_text("technical_retry"))


class NumiRestInput(RestInput):
    """Rasa's REST channel (`/webhooks/rest/webhook`) behind numi's guard."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        bp = Blueprint("numi_rest_webhook", __name__)
        gate = _gate()

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:
                body = None
            if not isinstance(body, dict):
                return response.json({"error": api_message("invalid_json"), "code": "invalid_json"}, status=400)
            sender_id = body.get("sender")
            if not isinstance(sender_id, str) or not sender_id.strip() or len(sender_id) > 128:
                return response.json({"error": api_message("invalid_sender"), "code": "invalid_sender"}, status=400)
            conv = gate.conversation(sender_id, "rest")
            if conv is None:  # not issued by numi, expired, or a widget's: nothing is stored
                return response.json({"error": api_message("unknown_conversation"), "code": "unknown_conversation"},
                                     status=403)
            if gate.owner_conflict(conv, body.get("metadata")):
                return response.json({"error": api_message("owner_mismatch"), "code": "owner_mismatch"}, status=403)
            if not gate.within_limits(sender_id, request.remote_addr or request.ip):
                return response.json([{"recipient_id": sender_id, "text": channel_text("rate_limited")}], status=429)
            guarded = await guard(body.get("message"), body.get("metadata"), sender_id, gate.secret, conv.owner,
                                  gate.settings.max_message_chars)
            earlier = await already_answered(sender_id, guarded.metadata["numi"].get("client_message_id"))
            if earlier is not None:
                return response.json(earlier)
            collector = CollectingOutputChannel()
            await deliver(guarded, collector, sender_id, self.name(), on_new_message)
            return response.json(collector.messages)

        return bp


def web_origins(settings: Optional[Settings] = None) -> List[str]:
    """Origins whose pages may open the chat socket: the numi service's pages by default."""
    return list((settings or Settings.from_env()).web_origins)


def socket_manager(settings: Settings) -> Optional[socketio.AsyncRedisManager]:
    """With several Rasa replicas (NUMI_REDIS_URL), every emit goes through Redis: a human
    agent's message or a system event reaches the customer whichever replica holds the socket."""
    if not settings.redis_url:
        return None
    return socketio.AsyncRedisManager(settings.redis_url, channel="numi-socketio")


class NumiSocketIOOutput(SocketIOOutput):
    """Rasa's socket.io output, plus numi's message metadata (who speaks: the bot or a
    human agent; handoff events) so that the widget can show a human takeover."""

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        meta = kwargs.get("numi")
        for part in text.strip().split("\n\n"):
            message: Dict[str, Any] = {"text": part}
            if isinstance(meta, dict):
                message["numi"] = meta
            await self._send_message(recipient_id, message)

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        # Rasa 3.6 passes the JSON as keyword arguments to emit(), which fails.
        await self._send_message(recipient_id, {"custom": json_message})


class NumiSocketIOInput(SocketIOInput):
    """Rasa's socket.io channel with signed session ids, awaited room joins and the guard.

    python-socketio 5.x made `enter_room` a coroutine; Rasa 3.6 calls it without
    `await`, so the room is never joined and messages sent to the room (replies
    after a reconnection, a human agent's messages) are lost. This fixes it.
    """

    @classmethod
    def name(cls) -> Text:
        return "socketio"

    def get_output_channel(self) -> Optional[Any]:
        """The channel Rasa's /execute (output_channel=latest) speaks on: numi's output."""
        return NumiSocketIOOutput(self.sio, self.bot_message_evt) if self.sio is not None else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        gate = _gate()
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=web_origins(gate.settings),
                          client_manager=socket_manager(gate.settings))
        bp = SocketBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: Text, environ: Dict, auth_data: Optional[Dict] = None) -> bool:
            return True

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            data = data if isinstance(data, dict) else {}
            conv = gate.conversation(data.get("session_id"), "socketio")
            if conv is None:  # only ids that numi issued (POST /chat/conversations) are joined
                await sio.emit("session_refused", {"error": channel_text("conversation_refused"),
                                                   "code": "unknown_conversation"}, room=sid)
                return
            # One socket per conversation: a newer one takes it over, the older one is told and let go.
            for other in list(sio.manager.get_participants(self.namespace or "/", conv.id)):
                other_sid = other[0] if isinstance(other, tuple) else other
                if other_sid != sid:
                    await sio.emit("session_taken_over", {"text": channel_text("conversation_taken_over")},
                                   room=other_sid)
                    await sio.leave_room(other_sid, conv.id)
                    await sio.save_session(other_sid, {})
                    await sio.disconnect(other_sid)
            await sio.save_session(sid, {"session_id": conv.id, "owner": conv.owner})
            await sio.enter_room(sid, conv.id)
            await sio.emit("session_confirm", conv.id, room=sid)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: Text, data: Any) -> None:
            data = data if isinstance(data, dict) else {}
            saved = await sio.get_session(sid)
            sender_id = (saved or {}).get("session_id")
            if not sender_id:
                return  # session_request first
            output = NumiSocketIOOutput(sio, self.bot_message_evt)
            conv = gate.conversation(sender_id, "socketio")
            if conv is None:  # expired since it was joined
                await sio.emit("session_refused", {"error": channel_text("conversation_refused"),
                                                   "code": "unknown_conversation"}, room=sid)
                return
            metadata = data.get(self.metadata_key, {})
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            environ = sio.get_environ(sid, self.namespace) or {}
            address = str(environ.get("REMOTE_ADDR") or "")
            request = environ.get("sanic.request")
            if request is not None:
                address = request.remote_addr or request.ip or address
            if gate.owner_conflict(conv, metadata):
                await output.send_text_message(sender_id, api_message("owner_mismatch"))
                return
            if not gate.within_limits(sender_id, address):
                await output.send_text_message(sender_id, channel_text("rate_limited"))
                return
            guarded = await guard(data.get("message"), metadata, sender_id, gate.secret, conv.owner,
                                  gate.settings.max_message_chars)
            await deliver(guarded, output, sender_id, self.name(), on_new_message)

        return bp
