"""The real Netra backend's behaviour, kept in CI as recorded transcripts and judged again offline.

CI cannot run the backend (it needs the network to install), so the transcripts of a live `wsagent run --profile
netra -- --wsagent-transcripts=all` (docs/targets/netra.md) are kept in tests/fixtures/netra/, one archive per auth
level, beside that run's conformance.json. Replayed with `wsagent check` as a user would, every case must get the
grades it got live, and the per-ID verdict must be the live one: a change to a rule that would change the verdict on
the real backend shows here.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path

import pytest

from harness.report import CaseResult, Conformance
from tests.shell import wsagent

FIXTURES = Path(__file__).parent / "fixtures" / "netra"
LEVELS = sorted(path.name.removesuffix(".tar.gz") for path in FIXTURES.glob("*.tar.gz"))


@pytest.mark.parametrize("level", LEVELS)
def test_the_recorded_netra_run_is_judged_offline_as_it_was_live(level: str, tmp_path: Path) -> None:
    with tarfile.open(FIXTURES / f"{level}.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    live = json.loads((tmp_path / "conformance.json").read_text())
    files = sorted((tmp_path / "transcripts").glob("*.jsonl"))
    done = wsagent("check", "--json", *map(str, files))
    assert done.returncode in (0, 1), done.stderr
    replayed = {Path(name).name.removesuffix(".jsonl"): grades for name, grades in json.loads(done.stdout).items()}

    cases: dict[str, dict[str, str]] = {}
    for req_id, row in live["requirements"].items():
        for case in row["cases"]:
            name = re.sub(r"[^\w.-]+", "_", case["nodeid"])
            if name in replayed:
                cases.setdefault(name, {})[req_id] = case["grade"]
    assert cases
    assert set(cases) == set(replayed)
    for name, grades in cases.items():
        assert replayed[name] == grades, name

    offline = Conformance(cases=[CaseResult(name, tuple(grades), dict(grades)) for name, grades in replayed.items()]).to_dict()
    judged_live = {req_id: row["grade"] for req_id, row in live["requirements"].items() if any(re.sub(r"[^\w.-]+", "_", c["nodeid"]) in replayed for c in row["cases"])}
    assert {req_id: offline["requirements"][req_id]["grade"] for req_id in judged_live} == judged_live
