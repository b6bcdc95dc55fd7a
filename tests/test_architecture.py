"""The shape of the code (issue 15): no import cycle, no hidden function-level imports of numi,
one place per fact. Read from the source with `ast`: nothing is imported or run."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("numi", "actions")

# Function-level imports of numi modules that are deliberate, each with its reason, as
# ("numi.importer", "numi.imported"): "why". There is none today: every dependency is visible
# at the top of its module.
DELIBERATE: Dict[Tuple[str, str], str] = {}


def modules() -> Dict[str, Path]:
    found: Dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    return found


def _imports(name: str, path: Path, known: Dict[str, Path]) -> Iterator[Tuple[str, bool, int]]:
    """(imported numi module, inside a function?, line) for every import of `path`, but those
    under `if TYPE_CHECKING:` (annotations only, never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: Set[int] = set()
    in_function: Set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            typing_only.update(id(n) for n in ast.walk(node))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(id(n) for n in ast.walk(node))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        targets: List[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target, id(node) in in_function, node.lineno


def graph() -> Tuple[Dict[str, Set[str]], List[Tuple[str, str, int]]]:
    known = modules()
    edges: Dict[str, Set[str]] = {m: set() for m in known}
    lazy: List[Tuple[str, str, int]] = []
    for name, path in known.items():
        for target, inside, line in _imports(name, path, known):
            edges[name].add(target)
            if inside:
                lazy.append((name, target, line))
    return edges, lazy


def cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_import_cycle():
    edges, _ = graph()
    assert cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: a loop of three modules is found, a chain is not."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_function_level_import_of_numi_but_the_deliberate_ones():
    _, lazy = graph()
    hidden = [f"{m}:{line} imports {t}" for m, t, line in lazy if (m, t) not in DELIBERATE]
    assert hidden == [], "import at the top of the module (or add it to DELIBERATE with its reason)"
    unused = set(DELIBERATE) - {(m, t) for m, t, _ in lazy}
    assert not unused, f"DELIBERATE lists imports that no longer exist: {sorted(unused)}"


def test_effects_are_a_package_by_domain():
    """Every effect lives in its domain's module of numi/playbooks/effects/, registered at import."""
    from numi.playbooks.effects import REGISTRY

    domains = {"tickets", "identity", "humans", "customer_data"}
    homes = {spec.name: spec.fn.__module__.rpartition(".")[2] for spec in REGISTRY.values()}
    assert len(homes) >= 23
    assert set(homes.values()) == domains, homes


def test_the_vocabulary_is_defined_once():
    """Queues, priorities and reminder kinds are written in numi/vocab.py and nowhere else."""
    literals = {
        "queues": ("level1", "level2", "supervisor", "cs"),
        "priorities": ("urgent", "high", "normal"),
        "reminder kinds": ("gentle", "followup", "firm", "call", "close"),
    }
    retyped = []
    for name, path in modules().items():
        if name == "numi.vocab":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                values = tuple(e.value for e in node.elts if isinstance(e, ast.Constant))
                for what, words in literals.items():
                    if set(values) == set(words):
                        retyped.append(f"{name}:{node.lineno} retypes the {what} {values}")
    assert retyped == []


def test_the_time_zone_is_configured_in_one_place():
    """« Europe/Paris » is Settings' default, read by everything else from Settings.timezone."""
    places = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == "Europe/Paris":
                places.append(f"{name}:{node.lineno}")
    assert all(p.startswith("numi.settings:") for p in places), places
