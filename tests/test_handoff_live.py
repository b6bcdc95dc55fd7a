"""Live handoff end to end: socket.io customer, level-2 agent on the staff API."""
import asyncio

import pytest
import socketio

from numi.devstack import http

pytestmark = pytest.mark.slow




def staff_token(stack, name, role):
    return stack.staff_token(name, role)


class Customer:
    def __init__(self, url, session):
        self.url, self.sio, self.inbox, self.session = url, socketio.AsyncClient(), asyncio.Queue(), session

    async def connect(self):
        confirmed = asyncio.get_running_loop().create_future()
        self.sio.on("bot_uttered", lambda data: self.inbox.put_nowait(data))
        self.sio.on("session_confirm", lambda sid: confirmed.set_result(sid) if not confirmed.done() else None)
        await self.sio.connect(self.url, socketio_path="/socket.io", transports=["polling"])
        await self.sio.emit("session_request", {"session_id": self.session})
        self.session = await asyncio.wait_for(confirmed, 10)

    async def say(self, text):
        await self.sio.emit("user_uttered", {"message": text, "session_id": self.session})

    async def replies(self, timeout=8.0, settle=1.5):
        """Messages until nothing more arrives for `settle` seconds."""
        got = [await asyncio.wait_for(self.inbox.get(), timeout)]
        while True:
            try:
                got.append(await asyncio.wait_for(self.inbox.get(), settle))
            except asyncio.TimeoutError:
                return got

    async def silence(self, seconds=2.5):
        try:
            msg = await asyncio.wait_for(self.inbox.get(), seconds)
        except asyncio.TimeoutError:
            return True
        raise AssertionError(f"the bot spoke while a human held the conversation: {msg}")


def texts(msgs):
    return " ".join(m.get("text") or "" for m in msgs)


async def test_level2_takes_over_and_hands_back(stack):
    level2 = staff_token(stack, "Karim", "level2")
    hotliner = staff_token(stack, "Lea", "hotliner")
    customer = Customer(stack.rasa, stack.new_conversation(channel="socketio"))
    await customer.connect()
    await customer.say("au secours, un rançongiciel chiffre mes fichiers et demande une rançon")
    replies = await customer.replies()
    for _ in range(8):  # follow the playbook with its first button until the handoff
        buttons = [b for m in replies for b in (m.get("quick_replies") or m.get("buttons") or [])]
        handed = ("rejoindre", "met en relation", "relation avec", "reprendra votre demande")
        if any(w in texts(replies) for w in handed):
            break
        await customer.say(buttons[0]["payload"] if buttons else "L'écran affiche une demande de rançon en bitcoins")
        replies = await customer.replies()
    conv = customer.session
    status, body = http("GET", f"{stack.numi}/api/tickets?conversation_id={conv}", token=level2)
    assert status == 200 and body["tickets"][0]["scenario"] == "security_incident"
    assert body["tickets"][0]["status"] == "escalated"
    status, queue = http("GET", f"{stack.numi}/api/handoffs?queue=level2", token=level2)
    handoff = next(h for h in queue["handoffs"] if h["conversation_id"] == conv)
    assert handoff["packet"]["scenario"] == "security_incident" and handoff["packet"]["transcript"]
    # a hotliner cannot take a level-2 conversation
    assert http("POST", f"{stack.numi}/api/handoffs/{handoff['id']}/claim", token=hotliner)[0] == 403
    status, _ = http("POST", f"{stack.numi}/api/handoffs/{handoff['id']}/claim", token=level2)
    assert status == 200
    assert "Karim" in texts(await customer.replies())  # the customer is told a human took over
    # the customer writes: the bot stays silent, the agent receives it
    await customer.say("vous êtes là ? je fais quoi maintenant ?")
    await customer.silence()
    status, body = http("GET", f"{stack.numi}/api/handoffs/{handoff['id']}/messages", token=level2)
    assert any(m["from"] == "customer" and "je fais quoi" in m["text"] for m in body["messages"])
    # the agent's reply reaches the customer's page live
    status, _ = http("POST", f"{stack.numi}/api/handoffs/{handoff['id']}/messages",
                     {"text": "Débranchez le câble réseau, je vous guide. {{7*7}}"}, token=level2)
    assert status == 201
    live = texts(await customer.replies())
    assert "Karim (conseiller numi) : Débranchez le câble réseau" in live and "{{7*7}}" in live
    tracker = stack.tracker(conv)
    assert any(e.get("event") == "bot" and "Débranchez" in (e.get("text") or "") for e in tracker["events"])
    # hand back: the bot answers again
    status, _ = http("POST", f"{stack.numi}/api/handoffs/{handoff['id']}/handback", token=level2)
    assert status == 200
    assert "rendu la main" in texts(await customer.replies())
    await customer.say("merci beaucoup")
    assert texts(await customer.replies())
    await customer.sio.disconnect()
