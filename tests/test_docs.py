"""The documents a newcomer reads stay true to the code: every option in the README, every ID in the contract."""

from __future__ import annotations

import re
from pathlib import Path

from harness.catalog import CATALOG
from harness.config import OPTIONS

ROOT = Path(__file__).resolve().parent.parent


def test_readme_option_table_lists_every_option_with_its_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(--wsagent-[\w-]+)` \| `(WSAGENT_\w+)` \|", readme, re.M)}
    assert rows == {opt.cli: opt.env for opt in OPTIONS}


def test_contract_states_every_requirement_id() -> None:
    contract = (ROOT / "docs" / "CONTRACT.md").read_text()
    stated = set(re.findall(r"^- \*\*([A-Z0-9]+-\d)\*\*", contract, re.M))
    assert stated == set(CATALOG)


def test_the_architecture_page_names_every_module_within_120_characters_a_line() -> None:
    """docs/ARCHITECTURE.md is the one page a maintainer reads first: every harness module has its line there."""
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    assert [n for n, line in enumerate(page.splitlines(), 1) if len(line) > 120] == []
    modules = {p.name for p in (ROOT / "harness").glob("*.py") if p.name != "__init__.py"}
    assert {m for m in modules if f"`{m}`" not in page} == set()
