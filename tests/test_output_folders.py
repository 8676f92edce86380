"""Every incident's outputs stay inside the reports folder, whatever its id says."""

from __future__ import annotations

from pathlib import Path

import pytest

from cometrecon.reports.writer import incident_folder

HOSTILE_IDS = (
    "../../X",
    "/abs/X",
    "..",
    ".",
    "a\x00b",
    "x" * 300,
    "INC/../../etc",
    "C:\\Windows\\X",
    "événement-1",
    "",
)


@pytest.mark.parametrize("incident_id", HOSTILE_IDS, ids=repr)
def test_a_hostile_incident_id_gets_a_folder_inside_the_reports_folder(
    tmp_path: Path, incident_id: str
) -> None:
    reports = tmp_path / "reports"
    folder = incident_folder(reports, incident_id)
    assert folder.parent == reports.resolve()
    assert len(folder.name) <= 100 and "\x00" not in folder.name
    assert folder.name not in {".", ".."}


def test_plain_ids_keep_their_name_and_distinct_ids_never_share_a_folder(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    assert incident_folder(reports, "INC-2026-05-11-001").name == "INC-2026-05-11-001"
    names = {incident_folder(reports, i).name for i in (*HOSTILE_IDS, "X", "abs_X", "a_b")}
    assert len(names) == len(HOSTILE_IDS) + 3
