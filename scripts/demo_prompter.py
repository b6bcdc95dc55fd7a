"""A hotliner's prompter session (agent assist) on the real servers, printed as text.

    .venv/bin/python scripts/demo_prompter.py [scenario lines…]

The hotliner types what the caller says; numi answers with prompter cards: the
scenario detected (confidence, runner-up), the script to read, warnings, the
checklist and the one-click actions.
"""
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from numi import auth  # noqa: E402
from numi.devstack import Stack, signed_conversation  # noqa: E402

LINES = [
    "le client dit qu'ils ont signé le devis il y a un mois et veulent suspendre les services",
    "Sur RDV (en direct)",
    "ils trouvent que l'accompagnement ne correspond pas à ce qu'on leur avait présenté",
    "Oui, il y a autre chose",
    "leur budget a été réduit et le projet est décalé à l'automne",
]


def show(card: dict) -> None:
    if card.get("type") == "prompter_note":
        print(f"   ℹ️  {card['script']}")
        return
    det = card.get("detected") or {}
    ru = det.get("runner_up") or {}
    print(f"── [{card['scenario']} · étape « {card['step_title']} »]"
          + (f"  détecté : {det['intent']} {det['confidence']:.2f},"
             f" 2e : {ru.get('intent')} {ru.get('confidence', 0):.2f}"
             if det else ""))
    if card.get("script"):
        print(f"   🎧 À dire : « {card['script']} »")
    for w in card.get("warnings", []):
        print(f"   ⚠️  {w}")
    for h in card.get("hints", []):
        print(f"   💡 {h}")
    for c in card.get("checklist", []):
        print(f"   {'☑' if c['done'] else '☐'} {c['text']}")
    if card.get("actions"):
        print("   ➜ " + " | ".join(a["label"] for a in card["actions"]))


def main() -> None:
    lines = sys.argv[1:] or LINES
    stack = Stack(Path(tempfile.mkdtemp())).start()
    try:
        conv = signed_conversation(stack.secret)
        token = auth.agent_token("Camille", "hotliner", conv, stack.secret)
        for line in lines:
            print(f"\n🗣️  (le client) {line}")
            status, reply = stack.say(conv, line, metadata={"agent_token": token})
            for msg in reply:
                if msg.get("custom"):
                    show(msg["custom"])
                elif msg.get("text"):
                    print(f"   {msg['text']}")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
