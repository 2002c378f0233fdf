"""The layout's import rules (README, Layout), checked on every module so they stay true:
what may import what is what keeps whatsapp/ free of Kafka and the streams free of the CLI.

Three rules: a package imports only the packages the layout allows; inside ``producers/``,
``streams/`` and ``consumers/`` each capability's folder (one producer, agent or consumer) imports
only its package's shared top and no other capability's folder, so each can be read, tested and
moved alone; and no module imports itself back through others (a cycle makes import order matter
and usually means two modules are one concept split in the wrong place).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"bus", "ops", "schemas", "store", "whatsapp", "sandbox", "producers", "streams", "consumers", "dawn"}
ALLOWED = {
    "bus": set(),
    "ops": set(),
    "schemas": set(),
    "store": {"schemas"},
    "whatsapp": set(),
    "sandbox": {"whatsapp"},
    "producers": {"bus", "ops", "schemas", "store", "whatsapp"},
    "streams": {"bus", "ops", "schemas", "store", "whatsapp"},
    "consumers": {"bus", "ops", "schemas", "store", "whatsapp"},
    "dawn": OURS,
}
# Capability folders that may use another capability's folder, and why.
SHARED_BETWEEN_CAPABILITIES = {
    # the scheduler reads the day's approved packs back with the intake's own decoder
    ("producers.scheduler", "producers.intake"),
    # pre-staging brands each advisor's images with the overlay the branding capability renders
    # (branding stands alone: it ships fonts and golden images, and the bench drives it directly)
    ("producers.scheduler", "producers.branding"),
}
CAPABILITY_PACKAGES = ("producers", "streams", "consumers")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for package in OURS for p in (ROOT / package).rglob("*.py")}


MODULES = all_modules()


def imported_modules(path: Path) -> set[str]:
    """Our modules ``path`` imports, anywhere in it (a lazy import inside a function counts too):
    ``from pkg import mod`` names the module ``pkg.mod`` when it is one, else ``pkg``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return {m for m in found if m.split(".")[0] in OURS}


def capability(module: str) -> str | None:
    """``streams.sender`` for ``streams.sender.agent``; None for a package's shared top."""
    parts = module.split(".")
    if parts[0] in CAPABILITY_PACKAGES and len(parts) > 1 and (ROOT / parts[0] / parts[1]).is_dir():
        return ".".join(parts[:2])
    return None


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_layout_allows(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, package
    broken = {
        str(m.relative_to(ROOT)): sorted({i.split(".")[0] for i in imported_modules(m)}
                                         - ALLOWED[package] - {package})
        for m in modules
    }
    assert {m: bad for m, bad in broken.items() if bad} == {}


def test_capability_folders_do_not_reach_into_each_other() -> None:
    crossing = set()
    for name, path in MODULES.items():
        mine = capability(name)
        for imported in imported_modules(path):
            theirs = capability(imported)
            same_package = name.split(".")[0] == imported.split(".")[0]
            if (theirs and theirs != mine and same_package
                    and (mine, theirs) not in SHARED_BETWEEN_CAPABILITIES):
                crossing.add((name, imported))
    assert sorted(crossing) == []


def test_capability_folders_exist() -> None:
    """The folder list reads as the architecture: each producer, agent and consumer has one."""
    folders = {capability(name) for name in MODULES} - {None}
    assert {"producers.gateway", "producers.scheduler", "producers.intake", "streams.sender",
            "streams.consent", "streams.delivery", "streams.sla", "consumers.audit",
            "consumers.dashboard", "consumers.reports"} <= folders


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in ``graph`` as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_module_imports_itself_back() -> None:
    graph = {name: {m for m in imported_modules(path) if m in MODULES and m != name}
             for name, path in MODULES.items()}
    assert find_cycle(graph) is None
