"""The generic playbook walker: one engine, two modes (customer chat, agent assist).

The engine is pure with respect to Rasa: it takes the conversation's playbook
state (a JSON-able dict kept in a slot), the parsed message and an effect
runner, and returns the new state plus what to show. Rasa actions are thin
wrappers around `start`, `handle` and `welcome_back`.

State::

    {"mode": "customer" | "agent",
     "stack": [{"id", "step", "slots", "misses", "ticket", "visited"}],
     "queue": [playbook ids raised mid-way, handled in turn],
     "pending": null | "resume" | "human" | "also",
     "also": {"id", "text", "entities"}: while « also » is pending, the answer held back and
             the other request it may also be,
     "trail": [[playbook, step] entered], "asked": [[playbook, step] that waited for an answer],
     "said": [the customer's last messages, {"text", "entities"}: steps with `prefill`
              take their answer from them instead of asking again]}
"""
from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from jinja2.exceptions import SecurityError, TemplateError

from numi.playbooks import values
from numi.playbooks.library import Library
from numi.playbooks.model import END, Choice, Playbook, Step
from numi.playbooks.protocol import EffectRunner, EffectUnavailable
from numi.playbooks.render import compile_expression, render_text
from numi.text import fold

log = logging.getLogger(__name__)

CHITCHAT = ("greet", "thank", "bot_challenge", "ask_capabilities", "goodbye", "out_of_scope")
INTERRUPT_CONFIDENCE = 0.75
STOP_CONFIDENCE = 0.6
MAX_MISSES = 3
SAID = 6  # messages remembered for `prefill`
AFFIRM = ("affirm",)
DENY = ("deny", "stop")


@dataclass
class Parsed:
    text: str = ""
    intent: Optional[str] = None
    confidence: float = 0.0
    ranking: Sequence[Tuple[str, float]] = ()
    entities: Sequence[Mapping[str, Any]] = ()

    def entity(self, name: str) -> Optional[Any]:
        for e in self.entities:
            if e.get("entity") == name:
                return e.get("value")
        return None

    @property
    def runner_up(self) -> Optional[Tuple[str, float]]:
        others = [r for r in self.ranking if r[0] != self.intent]
        return others[0] if others else None


@dataclass
class Output:
    """One thing to show: a customer message or a prompter card."""

    text: Optional[str] = None
    buttons: List[Dict[str, str]] = field(default_factory=list)
    card: Optional[Dict[str, Any]] = None

    def as_dict(self) -> Dict[str, Any]:
        if self.card is not None:
            return {"custom": self.card}
        body: Dict[str, Any] = {"text": self.text or ""}
        if self.buttons:
            body["buttons"] = self.buttons
        return body


@dataclass
class Outcome:
    state: Dict[str, Any]
    outputs: List[Output] = field(default_factory=list)
    signals: List[Dict[str, Any]] = field(default_factory=list)  # e.g. {"handoff": {...}}

    @property
    def active(self) -> bool:
        return bool(self.state.get("stack"))


def new_state(mode: str = "customer") -> Dict[str, Any]:
    return {"mode": mode, "stack": [], "queue": [], "pending": None}


def _fold(text: str) -> str:
    return re.sub(r"[^a-z0-9@.+\- ]+", " ", fold(text)).strip()


def _says(folded: str, keywords: Sequence[str]) -> bool:
    """Does the folded text hold one of the keywords, as whole words?"""
    return any(_fold(k) and re.search(rf"\b{re.escape(_fold(k))}\b", folded) for k in keywords)


def _by_keywords(step: Step, folded: str) -> Optional[Choice]:
    return next((ch for ch in step.choices if _says(folded, ch.keywords)), None)


class Walker:
    strict = False  # tests: a template that fails to render raises instead of logging

    def __init__(self, library: Library, effects: EffectRunner, mode: str = "customer",
                 detected: Optional[Parsed] = None) -> None:
        self.lib = library
        self.effects = effects
        self.mode = mode
        self.detected = detected
        self.outputs: List[Output] = []
        self.signals: List[Dict[str, Any]] = []
        self.handed_off = False  # a human takes over: the walker stops after this playbook

    # ---- public API ------------------------------------------------------
    def start(self, state: Dict[str, Any], playbook_id: str, entry_intent: Optional[str] = None,
              frame_slots: Optional[Dict[str, Any]] = None, ticket: Optional[str] = None,
              opening: Optional[Parsed] = None) -> Outcome:
        """`opening`: the message that asked for it (its facts answer the steps with `prefill`)."""
        state = self._copy(state)
        if opening is not None:
            self._remember(state, opening)
        if state.get("stack") and state["stack"][-1]["id"] == playbook_id and entry_intent is None:
            # the same scenario again: just show where we are
            self._prompt(state)
            return self._outcome(state)
        if state.get("stack"):
            self._system("interrupted_by", state, title=self.lib[playbook_id].title,
                         current=self.lib[state["stack"][-1]["id"]].title)
        self._push(state, playbook_id, entry_intent, frame_slots, ticket)
        return self._outcome(state)

    def handle(self, state: Dict[str, Any], msg: Parsed) -> Outcome:
        state = self._copy(state)
        if not state.get("stack"):
            return self._outcome(state)
        self._remember(state, msg)
        pending = state.get("pending")
        if pending == "resume":
            state["pending"] = None
            if msg.intent in AFFIRM or self._matches_label(msg, self._sys_label("resume_yes")):
                self._system("resumed", state, title=self._top_pb(state).title)
                self._prompt(state)
                return self._outcome(state)
            if msg.intent in DENY or self._matches_label(msg, self._sys_label("resume_no")):
                dropped = self._top_pb(state).title
                state["stack"].pop()
                self._system("not_resumed", state, title=dropped)
                self._after_finish(state)
                return self._outcome(state)
        if pending == "also":
            state["pending"] = None
            held = state.pop("also", None) or {}
            if msg.intent in AFFIRM or self._matches_label(msg, self._sys_label("also_yes")):
                other_id = str(held.get("id") or "")
                if other_id in self.lib and other_id not in state["queue"]:
                    state["queue"].append(other_id)
                    self._system("queued", state, title=self.lib[other_id].title)
            answer = Parsed(text=held.get("text") or "", intent="inform", confidence=1.0,
                            entities=held.get("entities") or ())
            self._answer(state, self._top_pb(state).steps[self._top(state)["step"]], answer)
            return self._outcome(state)
        if pending == "human":
            state["pending"] = None
            if msg.intent in AFFIRM + ("request_human",) or self._matches_label(msg, self._sys_label("human_yes")):
                self._top(state)["misses"] = 0
                self._push(state, "human_handoff", None, None, None)
                return self._outcome(state)
            self._top(state)["misses"] = 0
            if msg.intent in DENY or self._matches_label(msg, self._sys_label("human_no")):
                self._prompt(state)
                return self._outcome(state)
        frame = self._top(state)
        pb = self.lib[frame["id"]]
        step = pb.steps[frame["step"]]
        free_text = bool(step.collect and step.collect.type == "text")
        confident = msg.confidence >= INTERRUPT_CONFIDENCE

        if (step.collect and step.collect.type in values.STRUCTURED
                and values.extract(step.collect, msg, self.effects.local_now()) is not None):
            # « paul@example.fr » typed when the step asks for an address is the answer, even
            # if the classifier read « au revoir » in it
            self._answer(state, step, msg)
            return self._outcome(state)
        if self._escapes(step, msg) and values.extract(step.collect, msg, self.effects.local_now()) is None:
            # « je n'ai reçu aucun code » is about this step, whatever else it sounds like
            self._answer(state, step, msg)
            return self._outcome(state)

        if msg.intent == "stop" and msg.confidence >= STOP_CONFIDENCE and not self._choice_for(step, msg):
            state["stack"].pop()
            self._system("stopped", state, title=pb.title)
            self._after_finish(state)
            return self._outcome(state)

        other = self.lib.playbook_for_intent(msg.intent) if confident else None
        if other is not None and other.id != pb.id and not self._choice_for(step, msg):
            if free_text:
                # most likely an answer that happens to sound like a request: ask, never invent one
                if other.id not in state["queue"] and all(f["id"] != other.id for f in state["stack"]):
                    state["pending"] = "also"
                    state["also"] = {"id": other.id, "text": msg.text[:values.MAX_TEXT],
                                     "entities": [dict(e) for e in msg.entities if isinstance(e, Mapping)]}
                    self._system("also_request", state, title=other.title,
                                 buttons=[self._sys_label("also_no"), self._sys_label("also_yes")])
                    return self._outcome(state)
            else:
                self._system("interrupted_by", state, title=other.title, current=pb.title)
                self._push(state, other.id, None, None, None)
                return self._outcome(state)

        if (msg.intent in CHITCHAT and confident and not self._choice_for(step, msg)
                and (not free_text or len(msg.text.split()) <= 4)):
            self._system(f"answer_{msg.intent}", state)
            if msg.intent != "goodbye":
                self._prompt(state)
            return self._outcome(state)

        self._answer(state, step, msg)
        return self._outcome(state)

    def prompt(self, state: Dict[str, Any]) -> Outcome:
        state = self._copy(state)
        self._prompt(state)
        return self._outcome(state)

    def welcome_back(self, state: Dict[str, Any]) -> Outcome:
        """A conversation resumed later: offer to pick up where it was."""
        state = self._copy(state)
        if state.get("stack"):
            state["pending"] = "resume"
            self._system("welcome_back", state, title=self._top_pb(state).title,
                         buttons=[self._sys_label("resume_yes"), self._sys_label("resume_no")])
        return self._outcome(state)

    # ---- walking ---------------------------------------------------------
    def _push(self, state, playbook_id, entry_intent, frame_slots, ticket) -> None:
        pb = self.lib[playbook_id]
        start = pb.entry.get(entry_intent or "", pb.start)
        frame = {"id": pb.id, "step": start, "slots": dict(frame_slots or {}), "misses": 0,
                 "ticket": ticket, "visited": []}
        state["stack"].append(frame)
        self._enter(state, start)

    def _enter(self, state: Dict[str, Any], target: str) -> None:
        """Walk from `target` through non-waiting steps until one waits or the end."""
        for _ in range(200):  # a bound against data loops (validation forbids them anyway)
            frame = self._top(state)
            pb = self.lib[frame["id"]]
            if target == END:
                state["stack"].pop()
                self._after_finish(state)
                return
            step = pb.steps[target]
            frame["step"] = step.id
            frame["misses"] = 0
            frame.setdefault("visited", []).append(step.id)
            trail = state.setdefault("trail", [])
            trail.append([pb.id, step.id])
            del trail[:-60]  # bounded: the state lives in a slot
            scope = self._run_effects(pb, step, frame)
            if not state.get("stack") or self._top(state) is not frame:
                return  # an effect handed the conversation over
            known = self._prefilled(state, step, frame) if step.prefill and self.mode == "customer" else None
            if known is not None:  # already said: not asked again
                if step.prefill_say:
                    self._emit_text(self._render(step.prefill_say, self._scope(frame, pb), pb, step), [], pb, step,
                                    frame, scope, kind="prefill")
                target = known if isinstance(known, str) else self._resolve_next(step, frame, self._scope(frame, pb))
                continue
            self._show_step(state, pb, step, frame, scope, waiting=step.waits)
            if step.waits:
                asked = state.setdefault("asked", [])  # the questions put, in order (replays, scoring)
                asked.append([pb.id, step.id])
                del asked[:-60]
                return
            target = self._resolve_next(step, frame, scope)
        raise RuntimeError(f"{self.lib[self._top(state)['id']].where()}: too many steps without a wait (a loop?)")

    @staticmethod
    def _remember(state: Dict[str, Any], msg: Parsed) -> None:
        if not (msg.text or "").strip() or msg.text.startswith("/"):
            return
        entities = [{"entity": e.get("entity"), "value": e.get("value")} for e in msg.entities
                    if isinstance(e, Mapping) and isinstance(e.get("value"), (str, int, float))]
        said = state.setdefault("said", [])
        said.append({"text": msg.text[:values.MAX_TEXT], "entities": entities})
        del said[:-SAID]

    def _prefilled(self, state: Dict[str, Any], step: Step, frame: Dict[str, Any]) -> Optional[Any]:
        """The answer the customer already gave to `step`, recorded in its slot: True for a
        collected value, the next step's id for a choice; None when it must be asked."""
        said = [Parsed(text=m.get("text") or "", entities=m.get("entities") or ())
                for m in state.get("said") or []]
        if step.collect:
            if frame["slots"].get(step.collect.slot) not in (None, ""):
                return None
            value = values.prefilled(step.collect, step.prefill or "value", said, self.effects.local_now())
            if value is None:
                return None
            frame["slots"][step.collect.slot] = value
            frame.setdefault("prefilled", []).append(step.collect.slot)
            return True
        for msg in reversed(said):
            ch = _by_keywords(step, _fold(msg.text))
            if ch is not None:
                frame["slots"][step.id] = ch.value if ch.value is not None else ch.label
                frame.setdefault("prefilled", []).append(step.id)
                return ch.next
        return None

    def _after_finish(self, state: Dict[str, Any]) -> None:
        if self.handed_off:
            # the human now owns the conversation, other topics included (they are in the transcript)
            state["queue"], state["stack"], state["pending"] = [], [], None
            return
        if state["queue"]:
            nxt = state["queue"].pop(0)
            self._system("queued_start", state, title=self.lib[nxt].title)
            self._push(state, nxt, None, None, None)
        elif state["stack"]:
            state["pending"] = "resume"
            self._system("resume_offer", state, title=self._top_pb(state).title,
                         buttons=[self._sys_label("resume_yes"), self._sys_label("resume_no")])

    def _answer(self, state: Dict[str, Any], step: Step, msg: Parsed) -> None:
        frame = self._top(state)
        pb = self.lib[frame["id"]]
        if step.collect:
            value = values.extract(step.collect, msg, self.effects.local_now())
            if step.collect.optional and (msg.intent in DENY or values.is_refusal(msg.text)):
                value = ""  # « non », « rien », « pas maintenant »: nothing to record
            escape = step.collect.escape
            if value is None and escape is not None and self._escapes(step, msg):
                frame["misses"] = 0
                self._enter(state, escape.next)
                return
            if value is None:
                self._miss(state, pb, step, frame)
                return
            frame["slots"][step.collect.slot] = value
            frame["misses"] = 0
            scope = self._scope(frame, pb)
            self._enter(state, self._resolve_next(step, frame, scope))
            return
        choice = self._choice_for(step, msg)
        if choice is None:
            self._miss(state, pb, step, frame)
            return
        frame["slots"][step.id] = choice.value if choice.value is not None else choice.label
        frame["misses"] = 0
        self._enter(state, choice.next)

    @staticmethod
    def _escapes(step: Step, msg: Parsed) -> bool:
        escape = step.collect.escape if step.collect else None
        return escape is not None and ((msg.intent in escape.intents and msg.confidence >= 0.5)
                                       or _says(_fold(msg.text), escape.keywords))

    def _miss(self, state, pb: Playbook, step: Step, frame) -> None:
        frame["misses"] = frame.get("misses", 0) + 1
        if frame["misses"] >= MAX_MISSES and pb.id != "human_handoff":
            state["pending"] = "human"
            self._system("offer_human", state,
                         buttons=[self._sys_label("human_yes"), self._sys_label("human_no")])
            return
        if step.collect and step.collect.retry:
            scope = self._scope(frame, pb)
            self._emit_text(self._render(step.collect.retry, scope, pb, step), [], pb, step, frame, scope,
                            kind="retry")
        else:
            self._system("not_understood", state)
        self._prompt(state)

    def _choice_for(self, step: Step, msg: Parsed) -> Optional[Choice]:
        if not step.choices:
            return None
        text = _fold(msg.text)
        for ch in step.choices:  # exact label or value first (buttons send the label)
            if text and (text == _fold(ch.label) or (ch.value and text == _fold(str(ch.value)))):
                return ch
        for ch in step.choices:
            if msg.intent in ch.intents and msg.confidence >= 0.4:
                return ch
        by_keywords = _by_keywords(step, text)
        if by_keywords is not None:
            return by_keywords
        if text.isdigit() and 1 <= int(text) <= len(step.choices):
            return step.choices[int(text) - 1]
        return None

    def _matches_label(self, msg: Parsed, label: str) -> bool:
        return bool(msg.text) and _fold(msg.text) == _fold(label)

    def _resolve_next(self, step: Step, frame: Dict[str, Any], scope: Mapping[str, Any]) -> str:
        for g in step.next:
            if g.when is None:
                return g.goto
            try:
                ok = compile_expression(g.when)(**scope)
            except (TemplateError, SecurityError, TypeError, ValueError) as exc:
                log.warning("condition %r failed: %s", g.when, exc)
                ok = False
            if ok:
                return g.goto
        return END

    def _run_effects(self, pb: Playbook, step: Step, frame: Dict[str, Any]) -> Dict[str, Any]:
        scope = self._scope(frame, pb)
        for eff in step.effects:
            params = {k: (self._render(v, scope, pb, step) if isinstance(v, str) and "{" in v else v)
                      for k, v in eff.params.items()}
            try:
                result = self.effects.run(eff.name, params, frame, pb, scope) or {}
            except EffectUnavailable:
                raise
            except Exception:  # an effect failing must not lose the conversation
                if self.strict:
                    raise
                log.exception("%s: effect %s failed", pb.where(step.id), eff.name)
                result = {"_error": True}
                self._system_plain("technical_error")
            signal = result.pop("_signal", None)
            if signal:
                self.signals.append(signal)
                if "handoff" in signal:
                    self.handed_off = True
            result.pop("_error", None)
            frame["slots"].update(result)
            scope = self._scope(frame, pb)
        return scope

    # ---- output ----------------------------------------------------------
    def _scope(self, frame: Dict[str, Any], pb: Playbook) -> Dict[str, Any]:
        scope = dict(self.effects.scope(frame, pb))
        scope["slots"] = frame["slots"]
        scope["scenario"] = pb.id
        scope["mode"] = self.mode
        return scope

    def _render(self, source: str, scope: Mapping[str, Any], pb: Playbook, step: Optional[Step]) -> str:
        try:
            return render_text(source, scope)
        except (TemplateError, SecurityError) as exc:
            if self.strict:
                raise
            log.error("%s: rendering failed: %s", pb.where(step.id if step else None), exc)
            return ""

    def _prompt(self, state: Dict[str, Any]) -> None:
        """Show the step waiting for an answer again."""
        frame = self._top(state)
        pb = self.lib[frame["id"]]
        step = pb.steps[frame["step"]]
        scope = self._scope(frame, pb)
        self._show_step(state, pb, step, frame, scope, waiting=True, repeat=True)

    def _buttons(self, step: Step) -> List[Dict[str, str]]:
        return [{"title": c.label, "payload": c.label} for c in step.choices]

    def _show_step(self, state, pb: Playbook, step: Step, frame, scope, waiting: bool, repeat: bool = False) -> None:
        if self.mode == "agent":
            self.outputs.append(Output(card=self._card(pb, step, frame, scope, waiting, repeat)))
            return
        if step.say:
            text = self._render(step.say, scope, pb, step)
            if text:
                self.outputs.append(Output(text=text, buttons=self._buttons(step) if waiting else []))
        elif waiting and step.choices:
            self._system("choose", state, buttons=[c.label for c in step.choices])

    def _card(self, pb: Playbook, step: Step, frame, scope, waiting: bool, repeat: bool) -> Dict[str, Any]:
        visited = frame.get("visited", [])
        checklist = []
        for sid in dict.fromkeys(visited):
            s = pb.steps[sid]
            done = sid != step.id
            checklist += [{"text": self._render(c, scope, pb, s), "done": done, "step": sid} for c in s.checklist]
        detected = self.detected
        card: Dict[str, Any] = {
            "type": "prompter",
            "scenario": pb.id,
            "title": pb.title,
            "step": step.id,
            "step_title": step.title or step.id,
            "script": self._render(step.prompt.script, scope, pb, step) if step.prompt.script else "",
            "say": self._render(step.say, scope, pb, step) if step.say else "",
            "hints": [self._render(h, scope, pb, step) for h in step.prompt.hints],
            "warnings": [self._render(w, scope, pb, step) for w in step.prompt.warnings],
            "checklist": checklist,
            "awaiting": waiting,
            "repeat": repeat,
            "collect": ({"slot": step.collect.slot, "type": step.collect.type} if step.collect else None),
            "actions": [{"label": c.label, "payload": c.label} for c in step.choices],
            "slots": {k: v for k, v in frame["slots"].items() if not isinstance(v, (dict, list))},
            "ticket": frame.get("ticket"),
            "priority": pb.priority,
            "handoff": pb.handoff,
        }
        if detected is not None and detected.intent:
            ru = detected.runner_up
            card["detected"] = {
                "intent": detected.intent,
                "confidence": round(float(detected.confidence), 3),
                "runner_up": {"intent": ru[0], "confidence": round(float(ru[1]), 3)} if ru else None,
            }
        return card

    def _emit_text(self, text: str, buttons: List[str], pb: Optional[Playbook], step: Optional[Step],
                   frame, scope, kind: str) -> None:
        if not text:
            return
        if self.mode == "agent":
            self.outputs.append(Output(card={"type": "prompter_note", "kind": kind, "script": text,
                                             "scenario": pb.id if pb else None,
                                             "actions": [{"label": b, "payload": b} for b in buttons]}))
        else:
            self.outputs.append(Output(text=text, buttons=[{"title": b, "payload": b} for b in buttons]))

    def _system(self, key: str, state: Dict[str, Any], buttons: Sequence[str] = (), **params: Any) -> None:
        text = self.lib.system_text(key, self.mode, params)
        frame = state["stack"][-1] if state.get("stack") else None
        pb = self.lib[frame["id"]] if frame else None
        self._emit_text(text, list(buttons), pb, None, frame, params, kind=key)

    def _system_plain(self, key: str) -> None:
        self._emit_text(self.lib.system_text(key, self.mode, {}), [], None, None, None, {}, kind=key)

    def _sys_label(self, key: str) -> str:
        return self.lib.system_text(key, "customer", {})

    # ---- helpers ---------------------------------------------------------
    @staticmethod
    def _copy(state: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        state = copy.deepcopy(state) if state else new_state()
        state.setdefault("stack", [])
        state.setdefault("queue", [])
        state.setdefault("pending", None)
        return state

    @staticmethod
    def _top(state: Dict[str, Any]) -> Dict[str, Any]:
        return state["stack"][-1]

    def _top_pb(self, state: Dict[str, Any]) -> Playbook:
        return self.lib[state["stack"][-1]["id"]]

    def _outcome(self, state: Dict[str, Any]) -> Outcome:
        state["mode"] = self.mode
        return Outcome(state=state, outputs=self.outputs, signals=self.signals)
