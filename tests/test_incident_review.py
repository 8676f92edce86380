"""The incident review beyond the variance, on two demo incidents: the contract table finds
exactly the disagreements the demo contains, each usage-validation count equals what the
generator wrote, each cause's onset is within an hour of the true one and names the right
change, and the remediation plan holds exactly the items the causes call for."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cometrecon.reports.record import validate_record

SEEDS = (42, 7)
CHECKLIST_CONTRACT_ROWS = {
    "Endpoint paths",
    "Auth headers",
    "Request fields",
    "Response fields",
    "Error behavior",
    "Rate-limit or billing assumptions",
}


def query(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def demo(
    request: pytest.FixtureRequest, demo_warehouse: Callable[[int], dict[str, Any]]
) -> dict[str, Any]:
    built = demo_warehouse(request.param)
    assert built["run"].returncode == 0, built["run"].stdout[-3000:] + built["run"].stderr[-3000:]
    return built


def incident(demo: dict[str, Any]) -> str:
    return str(demo["truth"]["incident"]["incident_id"])


def test_contract_disagreements_are_exactly_those_the_demo_contains(demo: dict[str, Any]) -> None:
    found = query(
        demo["db"],
        "select item_kind, item from marts.fct_contract_verification "
        "where status = 'disagrees' order by all",
    )
    expected = sorted(tuple(pair) for pair in demo["truth"]["contract_disagreements"])
    assert [tuple(row) for row in found] == expected
    # each disagreement names the cause it can explain
    assert query(
        demo["db"],
        "select count(*) from marts.fct_contract_verification "
        "where status = 'disagrees' and linked_cause is null",
    ) == [(0,)]


def test_contract_table_fills_every_checklist_row_without_secrets(demo: dict[str, Any]) -> None:
    rows = query(
        demo["db"],
        "select contract_item, item_kind, documented_value, observed_value "
        "from marts.fct_contract_verification",
    )
    assert {r[0] for r in rows} == CHECKLIST_CONTRACT_ROWS
    auth = [r for r in rows if r[1] == "auth_header"]
    assert auth and all(r[3] in ("authorization", "x-api-key", "x-goog-api-key") for r in auth)
    (credentials,) = [r for r in rows if r[1] == "active_credentials"]
    assert "distinct API keys (salted hashes)" in credentials[3]
    planted = [v for values in demo["truth"]["planted_secrets"].values() for v in values]
    text = json.dumps(rows, default=str)
    assert not any(secret in text for secret in planted)


def test_usage_validation_counts_equal_the_generator(demo: dict[str, Any]) -> None:
    counts = dict(
        query(
            demo["db"],
            "select check_name, check_count from marts.fct_usage_validation where incident_id = ?",
            [incident(demo)],
        )
    )
    expected = demo["truth"]["usage_validation"]
    assert set(expected) <= set(counts)
    assert {name: counts[name] for name in expected} == expected
    assert expected["duplicate_client_requests"] > 0


def test_cause_onsets_are_within_an_hour_and_name_the_trigger(demo: dict[str, Any]) -> None:
    onsets = {
        cause: (at, trigger)
        for cause, at, trigger in query(
            demo["db"],
            "select cause, event_at, likely_trigger from marts.fct_incident_timeline "
            "where event_kind = 'cause_onset'",
        )
    }
    truth = demo["truth"]["onsets"]
    assert truth
    for cause, expected in truth.items():
        assert cause in onsets, f"no onset found for {cause}"
        at, trigger = onsets[cause]
        true_at = datetime.fromisoformat(expected["true_onset_utc"].replace("Z", "+00:00"))
        assert abs(at - true_at) <= timedelta(hours=1), (cause, at, true_at)
        if expected["trigger_changed_setting"] is None:
            assert trigger is None, (cause, trigger)
        else:
            assert trigger is not None and expected["trigger_changed_setting"] in trigger
            if expected.get("trigger_deploy_id"):
                assert expected["trigger_deploy_id"] in trigger


def test_remediation_plan_holds_exactly_the_items_called_for(demo: dict[str, Any]) -> None:
    rows = query(
        demo["db"],
        "select remediation_item, owner, evidence from marts.fct_remediation_plan "
        "where incident_id = ? order by item_order",
        [incident(demo)],
    )
    assert sorted(r[0] for r in rows) == sorted(demo["truth"]["remediation"])
    assert all(r[1] == "platform-sre-oncall" and r[2] for r in rows)


def test_review_sections_reach_every_output(demo: dict[str, Any]) -> None:
    out = Path(demo["reports"]) / incident(demo)
    record = json.loads((out / "reconciliation_record.json").read_text())
    validate_record(record)
    disagreements = [r for r in record["contract_verification"] if r["status"] == "disagrees"]
    assert len(disagreements) == len(demo["truth"]["contract_disagreements"])
    assert {r["check_name"] for r in record["usage_validation"]} >= set(
        demo["truth"]["usage_validation"]
    )
    assert [e["event_kind"] for e in record["timeline"]].count("cause_onset") == len(
        demo["truth"]["onsets"]
    )
    assert sorted(r["remediation_item"] for r in record["remediation_plan"]) == sorted(
        demo["truth"]["remediation"]
    )
    report = (out / "report.html").read_text()
    for anchor in ('id="contract"', 'id="usage-validation"', 'id="timeline"', 'id="remediation"'):
        assert anchor in report
    assert 'id="chart-timeline"><svg' in report
    closure = (out / "closure.md").read_text()
    for heading in (
        "## Contract verification: disagreements",
        "## Usage validation",
        "## Timeline (UTC)",
        "## Remediation plan",
    ):
        assert heading in closure


def test_overlapping_change_log_exports_give_one_event_per_change(
    demo_warehouse: Callable[[int], dict[str, Any]], tmp_path: Path
) -> None:
    """Two change-log exports that share rows (a weekly export beside a daily one) are
    ordinary input: the build succeeds and each change is one timeline event."""
    import shutil

    from conftest import cometrecon

    built = demo_warehouse(42)
    landing = tmp_path / "landing"
    shutil.copytree(built["landing"], landing)
    original = landing / "changes" / "changes.csv"
    shutil.copyfile(original, landing / "changes" / "changes_weekly_export.csv")
    db = tmp_path / "wh.duckdb"
    completed = cometrecon("run", str(landing), db=db)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    expected = query(
        built["db"],
        "select event_at, event, detail from marts.fct_incident_timeline "
        "where event_kind in ('change', 'alert') order by all",
    )
    assert expected
    assert (
        query(
            db,
            "select event_at, event, detail from marts.fct_incident_timeline "
            "where event_kind in ('change', 'alert') order by all",
        )
        == expected
    )
