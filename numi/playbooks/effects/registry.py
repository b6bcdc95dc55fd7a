"""The effect registry: each effect a playbook step can run declares its parameters and the
names it adds to `slots`, so that the validator (numi.playbooks.validate) knows what later
templates may use. The effects themselves live beside this module, one module per domain."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, TypeVar

from numi.playbooks.model import Effect, PlaybookError


@dataclass(frozen=True)
class EffectSpec:
    name: str
    fn: Callable[..., Dict[str, Any]]
    params: FrozenSet[str] = frozenset()
    required: FrozenSet[str] = frozenset()
    outputs_fn: Callable[[Mapping[str, Any]], Iterable[str]] = lambda p: ()
    doc: str = ""

    def outputs(self, params: Mapping[str, Any]) -> List[str]:
        return list(self.outputs_fn(params))


REGISTRY: Dict[str, EffectSpec] = {}
# An effect's parameters (rendered) and the walker's frame of the playbook it runs in.
Params = Dict[str, Any]
Frame = Dict[str, Any]
F = TypeVar("F", bound=Callable[..., Dict[str, Any]])


def effect(name: str, params: Iterable[str] = (), required: Iterable[str] = (),
           outputs: Callable[[Mapping[str, Any]], Iterable[str]] | Iterable[str] = (),
           doc: str = "") -> Callable[[F], F]:
    fixed = () if callable(outputs) else tuple(outputs)
    out_fn: Callable[[Mapping[str, Any]], Iterable[str]] = outputs if callable(outputs) else (lambda p: fixed)

    def wrap(fn: F) -> F:
        REGISTRY[name] = EffectSpec(name, fn, frozenset(params) | frozenset(required),
                                    frozenset(required), out_fn, doc or (fn.__doc__ or "").strip())
        return fn

    return wrap


def check_params(e: Effect, where: str) -> None:
    spec = REGISTRY.get(e.name)
    if spec is None:
        raise PlaybookError(f"{where}: effet inconnu « {e.name} » (connus : {sorted(REGISTRY)})")
    unknown = sorted(set(e.params) - spec.params)
    if unknown:
        raise PlaybookError(f"{where}: paramètre(s) inconnu(s) {unknown} pour l'effet « {e.name} »")
    missing = sorted(spec.required - set(e.params))
    if missing:
        raise PlaybookError(f"{where}: paramètre(s) manquant(s) {missing} pour l'effet « {e.name} »")
