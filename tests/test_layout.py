"""The tester never leans on the testee: harness/ and suites/ judge any backend, not a mirror of ours."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from mock_server.faults import CATALOG as FAULTS

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for folder in ("harness", "suites") for p in (ROOT / folder).rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_never_imports_the_reference_server(path: Path) -> None:
    assert not {m for m in imported_modules(path) if m.split(".")[0] == "mock_server"}


def test_no_fault_is_named_outside_the_reference_server() -> None:
    """Cases and rules must catch bugs by the contract, never by knowing which fault is on."""
    texts = {path: path.read_text() for path in SOURCES}
    named = {(str(path.relative_to(ROOT)), fault.value) for path, text in texts.items() for fault in FAULTS if fault.value in text}
    assert not named


def test_the_typed_exports_are_the_lazy_exports() -> None:
    """``from harness import X`` is typed for a user (the TYPE_CHECKING imports) and loads lazily at run time (the
    export table): the two lists must name the same things."""
    tree = ast.parse((ROOT / "harness" / "__init__.py").read_text())
    typed = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        for child in node.body if isinstance(child, ast.ImportFrom)
        for alias in child.names
    }
    import harness

    assert typed == set(harness._EXPORTS)
    assert (ROOT / "harness" / "py.typed").exists()


def test_the_rule_engine_loads_neither_websockets_nor_asyncio() -> None:
    """The engine is pure: `import harness.judge` in a fresh interpreter brings in no socket or event-loop stack."""
    code = "import sys, harness.judge; print(sorted(m for m in sys.modules if m.split('.')[0] in ('websockets', 'asyncio')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_locust_and_gevent_stay_out_of_the_plugin_the_judge_and_the_cli() -> None:
    """Importing locust monkey-patches the standard library for gevent; only `wsagent load`'s own process may."""
    probe = "import sys, harness.plugin, harness.judge, harness.cli, harness.load.command, harness.load.judging; " \
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_the_plugin_wires_and_the_cli_drives_neither_imports_the_other() -> None:
    """pytest's plugin and the `wsagent` command share modules, never each other."""
    assert "harness.cli" not in imported_modules(ROOT / "harness" / "plugin.py")
    assert "harness.plugin" not in imported_modules(ROOT / "harness" / "cli.py")


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_lines_stay_within_120_characters(path: Path) -> None:
    """The harness and the suite read in one screen's width (``ruff format``, line length 120, keeps them so)."""
    long = [n for n, line in enumerate(path.read_text().splitlines(), 1) if len(line) > 120]
    assert not long, f"{path.name}: lines {long} run past 120 characters"
