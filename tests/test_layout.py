"""The layout's import rules (README, Layout), checked on every module so they stay true:
what may import what is what keeps whatsapp/ free of Kafka and the streams free of the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"schemas", "store", "whatsapp", "sandbox", "producers", "streams", "consumers", "dawn"}
ALLOWED = {
    "schemas": set(),
    "store": {"schemas"},
    "whatsapp": set(),
    "sandbox": {"whatsapp"},
    "producers": {"schemas", "store", "whatsapp"},
    "streams": {"schemas", "store", "whatsapp"},
    "consumers": {"schemas", "store"},
    "dawn": OURS,
}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_layout_allows(package: str) -> None:
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules, package
    broken = {
        str(m.relative_to(ROOT)): sorted(imported_packages(m) - ALLOWED[package] - {package})
        for m in modules
    }
    assert {m: bad for m, bad in broken.items() if bad} == {}
