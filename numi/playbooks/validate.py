"""Playbook validation: structure, reachability, template variables, contract, phrasings.

Run at load (the library refuses an invalid playbook) and in tests. Every error
names the file and the step.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Set

import yaml
from jinja2 import nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.meta import find_undeclared_variables

from numi.playbooks import effects as effects_mod
from numi.playbooks import values
from numi.playbooks.model import END, Playbook, PlaybookError, Step
from numi.playbooks.render import parse
from numi.vocab import QUEUES

GLOBAL_NAMES = {"customer", "slots", "agent", "now", "scenario", "mode", "office"}
TICKET = "@ticket"  # pseudo-slot: a ticket is known at this point
SYSTEM_INTENTS = {"nlu_fallback"}

# Phrasings forbidden per scenario (on top of each playbook's own `forbidden`).
# A sentence is checked on its own; a negated sentence ("ne ... jamais") is a
# warning to the customer, not a request, and is allowed.
ASK_SECRET = re.compile(
    r"(?i)\b(donne[rz]?|communique[rz]?|indique[rz]?|envoye[rz]?|transmet(?:tez|tre)?|"
    r"précise[rz]?|dicte[rz]?|tape[rz]?|saisi(?:r|ssez)|rappele[rz]|quel(?:le)? est|pouvez-vous me)"
    r"\b[^.?!]{0,60}\b(mot de passe|mots de passe|code (?:pin|secret|confidentiel|cvv|cvc|de sécurité)|"
    r"numéro (?:complet )?de (?:votre |ta )?carte|cryptogramme)"
)
PROMISE_MONEY = re.compile(
    r"(?i)(vous serez rembours[ée]s?|nous vous remboursons|remboursement (?:sera|est) (?:effectué|versé|accordé)|"
    r"\b\d+(?:[.,]\d+)?\s?(?:€|euros?)\b|sous \d+ jours|d'ici (?:le|lundi|mardi|mercredi|jeudi|vendredi|demain))"
)
PROMISE_DATE = re.compile(
    r"(?i)(ce sera (?:réglé|résolu) (?:le|d'ici|avant|sous)|résolu (?:d'ici|avant le|sous \d+)|"
    r"nous vous garantissons une résolution|réglé d'ici)"
)
NEGATION = re.compile(r"(?i)\b(jamais|ne|n'|pas|aucun|aucune)\b|n['’]")
SCENARIO_FORBIDDEN = {
    "security_incident": [("demander un mot de passe ou un numéro de carte", ASK_SECRET)],
    "refund_request": [("promettre un montant ou une date avant validation", PROMISE_MONEY)],
    "early_suspension": [("promettre une date de résolution", PROMISE_DATE)],
}
ALL_SCENARIOS_FORBIDDEN = [("demander un mot de passe ou un numéro de carte", ASK_SECRET)]


def _sentences(text: str) -> List[str]:
    return [s for s in re.split(r"(?<=[.?!\n])\s+", text) if s.strip()]


def step_texts(step: Step) -> List[tuple]:
    """(label, template source) of every text of a step."""
    out = []
    if step.say:
        out.append(("say", step.say))
    if step.prefill_say:
        out.append(("prefill_say", step.prefill_say))
    if step.prompt.script:
        out.append(("prompt.script", step.prompt.script))
    out += [("prompt.hints", h) for h in step.prompt.hints]
    out += [("prompt.warnings", w) for w in step.prompt.warnings]
    out += [("checklist", c) for c in step.checklist]
    if step.collect and step.collect.retry:
        out.append(("collect.retry", step.collect.retry))
    out += [("choices.label", c.label) for c in step.choices]
    for e in step.effects:
        for k, v in e.params.items():
            if isinstance(v, str) and ("{{" in v or "{%" in v):
                out.append((f"effects.{e.name}.{k}", v))
    return out


def _used_names(source: str, where: str) -> tuple:
    """(top-level names, slot names, uses ticket) used by a template."""
    try:
        ast = parse(source)
    except TemplateSyntaxError as exc:
        raise PlaybookError(f"{where}: gabarit Jinja2 invalide : {exc.message} (ligne {exc.lineno})") from exc
    names = find_undeclared_variables(ast)
    slots: Set[str] = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        if not (isinstance(node, (nodes.Getattr, nodes.Getitem))
                and isinstance(node.node, nodes.Name) and node.node.name == "slots"):
            continue
        if isinstance(node, nodes.Getattr):
            if node.attr == "get":  # slots.get("x"): may be absent, by design
                continue
            slots.add(node.attr)
        elif isinstance(node.arg, nodes.Const):
            slots.add(str(node.arg.value))
        else:
            raise PlaybookError(f"{where}: accès dynamique à « slots » interdit")
    return names, slots


def _expr_names(expr: str, where: str) -> tuple:
    return _used_names("{{ " + expr + " }}", where)


def produced(step: Step) -> Set[str]:
    """Names a step makes available to the steps after it."""
    out = set(produced_on_entry(step))
    if step.collect:
        out.add(step.collect.slot)
    if step.choices:
        out.add(step.id)
    return out


def produced_on_entry(step: Step) -> Set[str]:
    """Names the step's own effects make available to its own texts."""
    out: Set[str] = set()
    for e in step.effects:
        spec = effects_mod.REGISTRY.get(e.name)
        if spec is not None:
            out |= set(spec.outputs(e.params))
    return out


def available_before(pb: Playbook) -> Dict[str, FrozenSet[str]]:
    """Must-analysis: the names defined on *every* path reaching each step."""
    initial = set()
    if "ticket" in pb.context:
        initial.add(TICKET)
    if "subscription" in pb.context:
        initial.add("subscription")
    starts = {pb.start} | set(pb.entry.values())
    universe = set(initial)
    for s in pb.steps.values():
        universe |= produced(s)
    avail: Dict[str, Set[str]] = {sid: set(universe) for sid in pb.steps}
    for sid in starts:
        if sid in avail:
            avail[sid] = set(initial)
    preds: Dict[str, List[str]] = {sid: [] for sid in pb.steps}
    for s in pb.steps.values():
        for t in s.targets():
            if t in preds:
                preds[t].append(s.id)
    changed = True
    while changed:
        changed = False
        for sid in pb.steps:
            incoming = [avail[p] | produced(pb.steps[p]) for p in preds[sid]]
            if sid in starts:
                incoming.append(set(initial))
            new = set.intersection(*incoming) if incoming else set(initial)
            if new != avail[sid]:
                avail[sid] = new
                changed = True
    return {k: frozenset(v) for k, v in avail.items()}


def reachable(pb: Playbook) -> Set[str]:
    seen: Set[str] = set()
    todo = [pb.start, *pb.entry.values()]
    while todo:
        sid = todo.pop()
        if sid in seen or sid not in pb.steps:
            continue
        seen.add(sid)
        todo.extend(pb.steps[sid].targets())
    return seen


def validate_playbook(pb: Playbook, intents: Optional[Iterable[str]] = None) -> None:
    """Raise PlaybookError on the first problem found in `pb`."""
    known_intents = set(intents) | SYSTEM_INTENTS if intents is not None else None
    if pb.start not in pb.steps:
        raise PlaybookError(f"{pb.where()}: l'étape de départ « {pb.start} » n'existe pas")
    for intent, sid in pb.entry.items():
        if sid not in pb.steps:
            raise PlaybookError(f"{pb.where()}: l'entrée « {intent} » mène à une étape inexistante « {sid} »")
        if known_intents is not None and intent not in known_intents:
            raise PlaybookError(f"{pb.where()}: l'entrée « {intent} » n'est pas un intent connu")
    for step in pb.steps.values():
        for target in step.targets():
            if target != END and target not in pb.steps:
                raise PlaybookError(f"{pb.where(step.id)}: « next » mène à une étape inexistante « {target} »")
        if step.choices and known_intents is not None:
            for ch in step.choices:
                bad = [i for i in ch.intents if i not in known_intents]
                if bad:
                    raise PlaybookError(f"{pb.where(step.id)}: intent(s) inconnu(s) {bad} dans le choix « {ch.label} »")
        if step.prefill == "value" and step.collect and step.collect.type not in values.PREFILLABLE:
            raise PlaybookError(f"{pb.where(step.id)}: « prefill: true » ne remplit pas une collecte "
                                f"« {step.collect.type} » "
                                f"(types possibles : {sorted(values.PREFILLABLE)})")
        if step.collect and step.collect.escape and known_intents is not None:
            bad = [i for i in step.collect.escape.intents if i not in known_intents]
            if bad:
                raise PlaybookError(f"{pb.where(step.id)}: intent(s) inconnu(s) {bad} dans « escape »")
        for e in step.effects:
            effects_mod.check_params(e, pb.where(step.id))
            if e.name == "handoff" and e.params.get("queue") not in QUEUES:
                raise PlaybookError(f"{pb.where(step.id)}: file de transfert inconnue « {e.params.get('queue')} »")
        if step.collect and re.search(r"(?i)(password|mot_?de_?passe|carte|card|cvv|pin)", step.collect.slot):
            raise PlaybookError(f"{pb.where(step.id)}: collecter « {step.collect.slot} » est interdit (secret)")
    if known_intents is not None:
        for trig in pb.triggers:
            if not trig.startswith("EXTERNAL_") and trig not in known_intents:
                raise PlaybookError(f"{pb.where()}: déclencheur « {trig} » n'est pas un intent du contrat")
    unreachable = sorted(set(pb.steps) - reachable(pb))
    if unreachable:
        raise PlaybookError(f"{pb.where(unreachable[0])}: étape inatteignable")
    # every path must be able to end
    can_end: Set[str] = set()
    changed = True
    while changed:
        changed = False
        for s in pb.steps.values():
            if s.id not in can_end and any(t == END or t in can_end for t in s.targets()):
                can_end.add(s.id)
                changed = True
    stuck = sorted(set(pb.steps) - can_end)
    if stuck:
        raise PlaybookError(f"{pb.where(stuck[0])}: aucune suite ne mène à la fin (boucle sans issue)")

    avail = available_before(pb)
    for step in pb.steps.values():
        own = avail[step.id] | produced_on_entry(step)
        for label, source in step_texts(step):
            _check_template(pb, step.id, label, source, own)
        for g in step.next:
            if g.when:
                _check_template(pb, step.id, "next.when", "{{ " + g.when + " }}",
                                own | produced(step))
        _check_phrasing(pb, step)


def _check_template(pb: Playbook, step_id: str, label: str, source: str, own: FrozenSet[str]) -> None:
    where = f"{pb.where(step_id)}, {label}"
    names, slots = _used_names(source, where)
    unknown = names - GLOBAL_NAMES - {"ticket", "subscription"}
    if unknown:
        raise PlaybookError(f"{where}: variable(s) inconnue(s) {sorted(unknown)}")
    if "ticket" in names and TICKET not in own:
        raise PlaybookError(f"{where}: « ticket » utilisé avant qu'un ticket soit ouvert ou retrouvé")
    if "subscription" in names and "subscription" not in own:
        raise PlaybookError(f"{where}: « subscription » utilisé sans abonnement en contexte")
    missing = sorted(slots - own)
    if missing:
        raise PlaybookError(f"{where}: slots.{missing[0]} n'est pas connu à cette étape sur tous les chemins")


def _check_phrasing(pb: Playbook, step: Step) -> None:
    rules = list(ALL_SCENARIOS_FORBIDDEN) + SCENARIO_FORBIDDEN.get(pb.id, [])
    rules += [(f"formulation interdite /{p}/", re.compile(p)) for p in pb.forbidden]
    for label, source in step_texts(step):
        if label.startswith(("prompt.warnings", "prompt.hints", "checklist")):
            continue  # instructions to the hotliner may name what must not be done
        for sentence in _sentences(source):
            for what, pattern in rules:
                if pattern.search(sentence) and not NEGATION.search(sentence):
                    raise PlaybookError(f"{pb.where(step.id)}, {label}: {what} : « {sentence.strip()[:120]} »")


def contract_scenarios(contract_dir: Path) -> Dict[str, Mapping]:
    raw = yaml.safe_load((contract_dir / "scenarios.yml").read_text(encoding="utf-8"))
    return {s["id"]: s for s in raw["scenarios"]}


def contract_intents(contract_dir: Path) -> Set[str]:
    raw = yaml.safe_load((contract_dir / "intents.yml").read_text(encoding="utf-8"))
    return {i["name"] for i in raw["intents"]}


def validate_against_contract(library: Mapping[str, Playbook], contract_dir: Path) -> None:
    scenarios = contract_scenarios(contract_dir)
    missing = sorted(set(scenarios) - set(library))
    if missing:
        raise PlaybookError(f"playbooks/: scénario(s) du contrat sans playbook : {missing}")
    extra = sorted(set(library) - set(scenarios))
    if extra:
        raise PlaybookError(f"playbooks/{extra[0]}.yml: « {extra[0]} » n'est pas un scénario du contrat")
    for sid, spec in scenarios.items():
        pb = library[sid]
        if spec.get("priority") and pb.priority != spec["priority"]:
            raise PlaybookError(f"{pb.where()}: priorité « {pb.priority} », le contrat dit « {spec['priority']} »")
