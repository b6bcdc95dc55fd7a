"""Hot spots of Rasa 3.6, fixed without changing behaviour (profiled with py-spy on
`make bench`; README, « Benchmarks »). Each is a `Patch`; tests/test_rasa_ext.py compares
each with Rasa's original on representative inputs.

* every action-server response is validated by `jsonschema.validate`, which re-checks the
  schema itself each time: compile the validator once;
* every event read back is typed by walking all Event subclasses: memoise by type name;
* every parse compares the serialised domain with an empty one: once per domain;
* every rule prediction checks every rule against every turn of the conversation, though a
  rule only looks back as many turns as it has: stop there;
* every graph run rebuilds its schema and a dask graph: a cached plan instead;
* every action-server call opens a new HTTP session: keep one.

Rasa's modules are imported when a patch is applied (numi/rasa_patches/patch.py), so the
few names an implementation needs besides its target are imported there too.
"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Set, Tuple

import aiohttp

from numi.rasa_patches.patch import Patch


def compile_action_response_schema(remote_action: Any, original: Any) -> Any:
    """Every action-server response is validated by `jsonschema.validate`, which checks the
    schema itself each time: compile the validator once. An invalid response goes to Rasa's
    own check, for its error message."""
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for

    schema = remote_action.action_response_format_spec()
    validator = validator_for(schema)(schema)

    def validate_action_result(self: Any, result: Any) -> bool:
        try:
            validator.validate(result)
            return True
        except ValidationError:
            return bool(original(self, result))  # raises, with Rasa's message

    return validate_action_result


def memoise_event_types(_event: Any, resolve: Any) -> Any:
    """Every event read back is typed by walking all Event subclasses
    (`Event.resolve_by_type`): remember the class of each type name found."""
    known: Dict[str, Any] = {}

    def resolve_by_type(type_name: str, default: Any = None) -> Any:
        cls = known.get(type_name)
        if cls is None:
            cls = resolve(type_name, default)
            if cls is not None and getattr(cls, "type_name", None) == type_name:
                known[type_name] = cls  # only real matches are remembered, not the default
        return cls

    return resolve_by_type


def domain_emptiness_once(_domain: Any, is_empty: Any) -> Any:
    """Every parsed message asks `domain.is_empty()`, which serialises the whole domain and an
    empty one to compare them. A loaded domain does not change: answer once per domain."""
    def once(self: Any) -> bool:
        known = self.__dict__.get("_numi_is_empty")
        if known is None:
            known = self.__dict__["_numi_is_empty"] = bool(is_empty(self))
        return bool(known)

    return once


def rules_matched_only_as_deep_as_they_go(_policy: Any, _original: Any) -> Any:
    """RulePolicy keeps the rules that match the conversation, turn by turn from the latest.
    Past a rule's own length it always matches (`_is_rule_applicable` returns True), yet Rasa
    goes on through every earlier turn of the conversation, for every rule: the cost of a
    prediction grew with the conversation. Stop at the longest remaining rule: same result."""
    def possible_keys(self: Any, lookup: Dict[str, Any], states: List[Any]) -> Set[str]:
        keys = set(lookup.keys())
        for i, state in enumerate(reversed(states)):
            if not keys or i >= max(len(self._rule_key_to_state(k)) for k in keys):
                break
            keys = {k for k in keys if self._is_rule_applicable(k, i, state)}
        return keys

    return possible_keys


def graph_plan(runner: Any, targets: Tuple[str, ...]) -> List[Tuple[str, Any, Tuple[str, ...]]]:
    """The nodes a target needs, in dependency order; computed once per target list."""
    plans: Dict[Tuple[str, ...], List[Tuple[str, Any, Tuple[str, ...]]]] = runner.__dict__.setdefault("_numi_plans", {})
    plan = plans.get(targets)
    if plan is None:
        schema = runner._graph_schema.minimal_graph_schema(list(targets))
        order: List[str] = []

        def visit(name: str) -> None:
            if name in order or name not in schema.nodes:
                return
            for dependency in schema.nodes[name].needs.values():
                visit(dependency)
            order.append(name)

        for target in targets:
            visit(target)
        plan = [(name, runner._instantiated_nodes[name], tuple(schema.nodes[name].needs.values()))
                for name in order]
        plans[targets] = plan
    return plan


def run_graph_without_dask(_runner: Any, _original: Any) -> Any:
    """Each message runs the NLU graph once and the policy graph once per predicted action.
    Rasa's DaskGraphRunner recomputes the minimal schema (a recursive walk and copies) and
    hands a fresh graph to dask's scheduler every time. The graph is a fixed DAG run on one
    thread: run the same nodes, with the same inputs, in a cached order."""
    from rasa.engine.exceptions import GraphRunError

    def run(self: Any, inputs: Optional[Dict[str, Any]] = None, targets: Optional[List[str]] = None) -> Dict[str, Any]:
        run_targets = tuple(targets) if targets else tuple(self._graph_schema.target_names)
        plan = graph_plan(self, run_targets)
        # an input is handed to nodes as (name, value), as the dask graph did
        values: Dict[str, Any] = {}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and value in self._graph_schema.nodes:
                raise GraphRunError(f"Input value '{value}' clashes with a node name.")
            values[name] = (name, value)
        try:
            for name, node, needs in plan:
                values[name] = node(*[values.get(dependency, dependency) for dependency in needs])
        except RuntimeError as e:
            raise GraphRunError("Error running runner.") from e
        return dict(values[target] for target in run_targets)

    return run


class _Kept:
    """An HTTP session handed out as Rasa's `async with endpoint.session()` expects, and kept."""

    def __init__(self, session: aiohttp.ClientSession, loop: Any) -> None:
        self.session, self.loop = session, loop

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(self, *exc: Any) -> None:
        return None  # kept open for the next call


def keep_action_server_connections(_endpoint_config: Any, _original: Any) -> Any:
    """Rasa opens a new HTTP client session (and TCP connection) for every action-server
    call. Keep one session per event loop; its idle connections close after 2 s, before the
    server's keep-alive (5 s) would. No retry of a call the server closed: a POST that may
    have reached the action server is never sent again (numi/rasa_patches/faults.py)."""
    from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT

    sessions: Dict[Tuple[Any, ...], _Kept] = {}

    def session(self: Any) -> Any:
        loop = asyncio.get_running_loop()
        key = (id(loop), tuple(sorted(self.headers.items())), tuple(sorted(self.basic_auth.items())))
        kept = sessions.get(key)
        if kept is None or kept.loop is not loop or kept.session.closed:
            for stale in [k for k, v in sessions.items() if v.loop.is_closed()]:
                del sessions[stale]  # sessions of finished loops (tests run one loop each)
            auth = (aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
                    if self.basic_auth else None)
            kept = sessions[key] = _Kept(aiohttp.ClientSession(
                headers=self.headers, auth=auth, timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(keepalive_timeout=2)), loop)
        return kept

    return session


SPEED_UPS: Tuple[Patch, ...] = (
    Patch("RemoteAction._validate_action_result",
          "rasa.core.actions.action:RemoteAction._validate_action_result", compile_action_response_schema),
    Patch("Event.resolve_by_type", "rasa.shared.core.events:Event.resolve_by_type", memoise_event_types),
    Patch("Domain.is_empty", "rasa.shared.core.domain:Domain.is_empty", domain_emptiness_once),
    Patch("RulePolicy._get_possible_keys", "rasa.core.policies.rule_policy:RulePolicy._get_possible_keys",
          rules_matched_only_as_deep_as_they_go),
    Patch("DaskGraphRunner.run", "rasa.engine.runner.dask:DaskGraphRunner.run", run_graph_without_dask),
    Patch("EndpointConfig.session", "rasa.utils.endpoints:EndpointConfig.session", keep_action_server_connections),
)
