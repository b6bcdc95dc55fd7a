"""Playbook data model and strict YAML loading.

A playbook file (playbooks/<scenario id>.yml)::

    id: refund_request
    title: Demande de remboursement / compensation
    triggers: [request_refund]
    priority: high
    handoff: null                # level1 | level2 | supervisor | cs
    summary: ...                 # what the hotliner must know (trainers print it)
    dos: [...]
    donts: [...]
    context: [ticket]            # data given at start (e.g. the reminded ticket)
    entry: {confirm_resolved: resolved}   # other intents that open at a step
    steps:
      accueil:
        say: "..."               # what the bot tells the customer (Jinja2)
        prompt:                  # what the prompter shows the hotliner
          script: "..."          # the sentence to read, in the hotliner's voice
          hints: [...]
          warnings: [...]
        checklist: [...]
        effects: [{open_ticket: {subject: "..."}}]
        collect: {slot: email, type: email, retry: "..."}
        choices: [{label: Oui, intents: [affirm], next: suite}]
        next: suite              # or end, or [{when: "<expr>", goto: a}, {goto: b}]

Errors name the file and the step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml

from numi.vocab import PRIORITIES, QUEUES

END = "end"

PLAYBOOK_KEYS = {
    "id", "title", "triggers", "priority", "handoff", "seed", "summary", "dos", "donts",
    "context", "entry", "start", "steps", "forbidden", "quiz",
}
STEP_KEYS = {"say", "prompt", "checklist", "effects", "collect", "choices", "next", "title", "prefill", "prefill_say"}
# how a waiting step takes its answer from what the customer already said, instead of asking:
# value: a value of the collected type (or a choice by its keywords); period: a message naming
# months (« de janvier à mars »); remainder: what an earlier message says besides the request
# and the values (« … rappelez-moi jeudi au 06… : mon imprimante ne marche plus » → the subject);
# about: a title in quotes, or what follows « pour », « sur », « au sujet de » (« un atelier
# pour ranger mes photos » → « ranger mes photos »); place, since, device: the page of numi, the
# moment, the device or browser a message names (« depuis ce matin », « sur Chrome, PC Windows »)
PREFILL_KINDS = {"value", "period", "remainder", "about", "place", "since", "device"}
PROMPT_KEYS = {"script", "hints", "warnings"}
COLLECT_KEYS = {"slot", "type", "entity", "retry", "optional", "min_length", "options", "escape"}
# escape: {keywords, intents, next}: a message without a valid value that says one of these goes
# to `next` instead of the retry (« je n'ai reçu aucun code » while a code is expected)
ESCAPE_KEYS = {"keywords", "intents", "next"}
CHOICE_KEYS = {"label", "intents", "value", "next", "keywords"}
NEXT_KEYS = {"when", "goto"}
COLLECT_TYPES = {
    "text", "email", "phone", "date", "datetime", "ticket_id", "customer_number",
    "code", "number", "name",
}
HANDOFF_QUEUES = frozenset(QUEUES)
PRIORITY_NAMES = frozenset(PRIORITIES)
CONTEXT_NAMES = {"ticket", "subscription"}


class PlaybookError(ValueError):
    """A playbook that does not load or does not validate. Names file and step."""


@dataclass(frozen=True)
class Prompt:
    script: Optional[str] = None
    hints: Tuple[str, ...] = ()
    warnings: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Escape:
    next: str
    keywords: Tuple[str, ...] = ()
    intents: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Collect:
    slot: str
    type: str = "text"
    entity: Optional[str] = None
    retry: Optional[str] = None
    optional: bool = False
    min_length: int = 1
    options: Tuple[str, ...] = ()
    escape: Optional[Escape] = None


@dataclass(frozen=True)
class Choice:
    label: str
    next: str
    intents: Tuple[str, ...] = ()
    value: Optional[str] = None
    keywords: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Goto:
    goto: str
    when: Optional[str] = None


@dataclass(frozen=True)
class Effect:
    name: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class Step:
    id: str
    say: Optional[str] = None
    prompt: Prompt = Prompt()
    checklist: Tuple[str, ...] = ()
    effects: Tuple[Effect, ...] = ()
    collect: Optional[Collect] = None
    choices: Tuple[Choice, ...] = ()
    next: Tuple[Goto, ...] = ()
    title: Optional[str] = None
    prefill: Optional[str] = None
    prefill_say: Optional[str] = None  # what is still said when the answer was already given

    @property
    def waits(self) -> bool:
        """A step that waits for the customer's answer."""
        return self.collect is not None or bool(self.choices)

    def targets(self) -> List[str]:
        escape = [self.collect.escape.next] if self.collect and self.collect.escape else []
        return [c.next for c in self.choices] + [g.goto for g in self.next] + escape


@dataclass(frozen=True)
class Playbook:
    id: str
    title: str
    path: Path
    steps: Dict[str, Step]
    start: str
    triggers: Tuple[str, ...] = ()
    priority: Optional[str] = None
    handoff: Optional[str] = None
    seed: Optional[str] = None
    summary: str = ""
    dos: Tuple[str, ...] = ()
    donts: Tuple[str, ...] = ()
    context: Tuple[str, ...] = ()
    entry: Dict[str, str] = field(default_factory=dict)
    forbidden: Tuple[str, ...] = ()
    quiz: Tuple[Mapping[str, Any], ...] = ()

    def where(self, step: Optional[str] = None) -> str:
        return f"{self.path.name}" + (f", étape « {step} »" if step else "")


def _tuple_of_str(value: Any, where: str, key: str) -> Tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PlaybookError(f"{where}: « {key} » doit être une liste de textes")
    return tuple(value)


def _check_keys(raw: Mapping[str, Any], allowed: set, where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise PlaybookError(f"{where}: clé(s) inconnue(s) {unknown}; attendues : {sorted(allowed)}")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PlaybookError(f"{where}: un dictionnaire est attendu")
    return value


def _parse_next(raw: Any, where: str) -> Tuple[Goto, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (Goto(goto=raw),)
    if not isinstance(raw, list):
        raise PlaybookError(f"{where}: « next » est un nom d'étape ou une liste de {{when, goto}}")
    gotos = []
    for item in raw:
        item = _mapping(item, where)
        _check_keys(item, NEXT_KEYS, f"{where} (next)")
        if "goto" not in item:
            raise PlaybookError(f"{where}: chaque branche de « next » a un « goto »")
        gotos.append(Goto(goto=str(item["goto"]), when=item.get("when")))
    if gotos[-1].when is not None:
        raise PlaybookError(f"{where}: la dernière branche de « next » doit être sans condition")
    return tuple(gotos)


def _parse_step(step_id: str, raw: Any, where: str) -> Step:
    raw = _mapping(raw if raw is not None else {}, where)
    _check_keys(raw, STEP_KEYS, where)
    prompt_raw = _mapping(raw.get("prompt") or {}, f"{where} (prompt)")
    _check_keys(prompt_raw, PROMPT_KEYS, f"{where} (prompt)")
    prompt = Prompt(
        script=prompt_raw.get("script"),
        hints=_tuple_of_str(prompt_raw.get("hints"), where, "hints"),
        warnings=_tuple_of_str(prompt_raw.get("warnings"), where, "warnings"),
    )
    collect = None
    if raw.get("collect") is not None:
        c = _mapping(raw["collect"], f"{where} (collect)")
        _check_keys(c, COLLECT_KEYS, f"{where} (collect)")
        if "slot" not in c:
            raise PlaybookError(f"{where}: « collect » doit nommer un « slot »")
        ctype = c.get("type", "text")
        if ctype not in COLLECT_TYPES:
            raise PlaybookError(f"{where}: type de collecte inconnu « {ctype} » ({sorted(COLLECT_TYPES)})")
        escape = None
        if c.get("escape") is not None:
            e = _mapping(c["escape"], f"{where} (escape)")
            _check_keys(e, ESCAPE_KEYS, f"{where} (escape)")
            if "next" not in e or not (e.get("keywords") or e.get("intents")):
                raise PlaybookError(f"{where}: « escape » demande « next » et des « keywords » ou « intents »")
            escape = Escape(next=str(e["next"]), keywords=_tuple_of_str(e.get("keywords"), where, "keywords"),
                            intents=_tuple_of_str(e.get("intents"), where, "intents"))
        collect = Collect(
            slot=str(c["slot"]), type=ctype, entity=c.get("entity"), retry=c.get("retry"),
            optional=bool(c.get("optional", False)), min_length=int(c.get("min_length", 1)),
            options=_tuple_of_str(c.get("options"), where, "options"), escape=escape,
        )
    choices = []
    for i, ch in enumerate(raw.get("choices") or []):
        ch = _mapping(ch, f"{where} (choix {i + 1})")
        _check_keys(ch, CHOICE_KEYS, f"{where} (choix {i + 1})")
        if "label" not in ch or "next" not in ch:
            raise PlaybookError(f"{where}: le choix {i + 1} doit avoir « label » et « next »")
        choices.append(Choice(
            label=str(ch["label"]), next=str(ch["next"]),
            intents=_tuple_of_str(ch.get("intents"), where, "intents"),
            value=ch.get("value"), keywords=_tuple_of_str(ch.get("keywords"), where, "keywords"),
        ))
    effects = []
    for i, eff in enumerate(raw.get("effects") or []):
        if isinstance(eff, str):
            eff = {eff: {}}
        eff = _mapping(eff, f"{where} (effet {i + 1})")
        if len(eff) != 1:
            raise PlaybookError(f"{where}: un effet est « nom: {{paramètres}} »")
        (name, params), = eff.items()
        effects.append(Effect(name=str(name), params=dict(params or {})))
    if collect and choices:
        raise PlaybookError(f"{where}: une étape a « collect » ou « choices », pas les deux")
    prefill = raw.get("prefill")
    prefill = "value" if prefill is True else prefill
    if raw.get("prefill_say") is not None and prefill is None:
        raise PlaybookError(f"{where}: « prefill_say » va avec « prefill »")
    if prefill is not None and (prefill not in PREFILL_KINDS or not (collect or choices)
                                or (prefill != "value" and not (collect and collect.type == "text"))):
        raise PlaybookError(f"{where}: « prefill » vaut true, period ou remainder (ces deux-là pour une "
                            "collecte de texte), sur une étape qui attend une réponse")
    nxt = _parse_next(raw.get("next"), where)
    if choices and nxt:
        raise PlaybookError(f"{where}: avec « choices », chaque choix porte son « next »")
    if not choices and not nxt:
        raise PlaybookError(f"{where}: étape sans suite (ajoutez « next: end » si elle termine)")
    return Step(
        id=step_id, say=raw.get("say"), prompt=prompt,
        checklist=_tuple_of_str(raw.get("checklist"), where, "checklist"),
        effects=tuple(effects), collect=collect, choices=tuple(choices), next=nxt, prefill=prefill,
        prefill_say=raw.get("prefill_say"),
        title=raw.get("title"),
    )


def load_playbook(path: Path) -> Playbook:
    where = path.name
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PlaybookError(f"{where}: YAML invalide : {exc}") from exc
    raw = _mapping(raw, where)
    _check_keys(raw, PLAYBOOK_KEYS, where)
    for key in ("id", "title", "steps"):
        if key not in raw:
            raise PlaybookError(f"{where}: « {key} » manquant")
    if path.stem != raw["id"]:
        raise PlaybookError(f"{where}: l'id « {raw['id']} » doit être le nom du fichier")
    steps_raw = _mapping(raw["steps"], f"{where} (steps)")
    if not steps_raw:
        raise PlaybookError(f"{where}: aucune étape")
    steps = {str(sid): _parse_step(str(sid), s, f"{where}, étape « {sid} »") for sid, s in steps_raw.items()}
    if END in steps:
        raise PlaybookError(f"{where}: « {END} » est réservé")
    priority = raw.get("priority")
    if priority is not None and priority not in PRIORITY_NAMES:
        raise PlaybookError(f"{where}: priorité inconnue « {priority} »")
    handoff = raw.get("handoff")
    if handoff is not None and handoff not in HANDOFF_QUEUES:
        raise PlaybookError(f"{where}: file de transfert inconnue « {handoff} »")
    context = _tuple_of_str(raw.get("context"), where, "context")
    if set(context) - CONTEXT_NAMES:
        raise PlaybookError(f"{where}: contexte inconnu {sorted(set(context) - CONTEXT_NAMES)}")
    entry = {str(k): str(v) for k, v in _mapping(raw.get("entry") or {}, f"{where} (entry)").items()}
    quiz = raw.get("quiz") or []
    if not isinstance(quiz, list):
        raise PlaybookError(f"{where}: « quiz » est une liste")
    return Playbook(
        id=str(raw["id"]), title=str(raw["title"]), path=path, steps=steps,
        start=str(raw.get("start") or next(iter(steps))),
        triggers=_tuple_of_str(raw.get("triggers"), where, "triggers"),
        priority=priority, handoff=handoff, seed=raw.get("seed"),
        summary=str(raw.get("summary") or ""),
        dos=_tuple_of_str(raw.get("dos"), where, "dos"),
        donts=_tuple_of_str(raw.get("donts"), where, "donts"),
        context=context, entry=entry,
        forbidden=_tuple_of_str(raw.get("forbidden"), where, "forbidden"),
        quiz=tuple(quiz),
    )
