"""`cometrecon nightly` on the demo landing folder: the day's window reconciled with the
same outputs as an incident, the variance alert and its proposed incident, a second run of
an unchanged folder that lands and builds nothing, the exit codes, the run log and the
lock."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import cometrecon

DAY = "2026-05-11"
QUIET = '[nightly]\nvariance_abs_usd = "100000"\nowner = "night-owner"\n'


@pytest.fixture(scope="module")
def landing(demo_warehouse: Callable[[int], dict[str, Any]]) -> Path:
    return Path(demo_warehouse(42)["landing"])


def nightly(
    landing: Path, db: Path, *extra: str, config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    args = ["nightly", str(landing), "--date", DAY, "--db", str(db), *extra]
    if config is not None:
        args += ["--config", str(config)]
    return cometrecon(*args, db=db, reports=db.parent / "reports")


def run_log(db: Path) -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute("select * from raw._nightly_runs order by started_at")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def quiet_setup(landing: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of the demo landing folder, a warehouse path and thresholds no day passes."""
    folder = tmp_path / "landing"
    shutil.copytree(landing, folder)
    config = tmp_path / "quiet.toml"
    config.write_text(QUIET)
    return folder, tmp_path / "wh.duckdb", config


def test_variance_alert_proposes_an_incident(landing: Path, tmp_path: Path) -> None:
    folder = tmp_path / "landing"
    shutil.copytree(landing, folder)
    db = tmp_path / "wh.duckdb"
    run = nightly(folder, db)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-3000:]
    proposal = folder / "incidents" / f"proposed-INC-{DAY}-NIGHTLY.yaml"
    assert str(proposal.relative_to(tmp_path)) in run.stdout or proposal.name in run.stdout
    text = proposal.read_text()
    assert f"incident_id: INC-{DAY}-NIGHTLY" in text
    assert f"start_utc: '{DAY}T00:00:00Z'" in text and "end_utc: '2026-05-12T00:00:00Z'" in text
    (row,) = run_log(db)
    assert row["outcome"] == "variance_alert" and row["exit_code"] == 1
    assert row["build"] == "built" and row["files_landed"] > 20
    forecast, billed = Decimal(row["forecast_usd"]), Decimal(row["billed_usd"])
    assert abs(billed - forecast) > Decimal("25") and row["variance_usd"] == billed - forecast
    # the day is reconciled like an incident: same marts, same outputs
    record = json.loads(
        (tmp_path / "reports" / f"DAY-{DAY}" / "reconciliation_record.json").read_text()
    )
    # the record says what closure says: open while a criterion is unmet
    unmet = [c["criterion"] for c in record["closure"] if not c["met"]]
    assert record["status"] == ("open" if unmet else "reconciled")
    assert record["unmet_criteria"] == unmet
    assert record["incident_window_utc"] == {
        "start": f"{DAY}T00:00:00Z",
        "end": "2026-05-12T00:00:00Z",
    }
    assert Decimal(record["computed_charge"]["provider_reported_amount"]) == billed


def test_unchanged_folder_second_run_lands_and_builds_nothing(
    landing: Path, tmp_path: Path
) -> None:
    folder, db, config = quiet_setup(landing, tmp_path)
    first = nightly(folder, db, config=config)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = nightly(folder, db, config=config)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "dbt build skipped: nothing landed" in second.stdout
    assert "$ dbt build" not in second.stdout
    before, after = run_log(db)
    assert before["build"] == "built" and after["build"] == "skipped"
    assert (after["files_landed"], after["rows_read"], after["rows_landed"]) == (0, 0, 0)
    assert after["outcome"] == before["outcome"] == "within_tolerance"
    assert after["variance_usd"] == before["variance_usd"]
    assert after["build_started_at"] == before["build_started_at"]
    # a new file is new evidence: the next run builds again
    (folder / "changes" / "late.csv").write_text(
        "changed_at,kind,key,old_value,new_value,deploy_id,description\n"
        "2026-05-11T23:00:00Z,config,llm_client.max_retries,3,2,deploy-9000,Fewer retries\n"
    )
    third = nightly(folder, db, config=config)
    assert third.returncode == 0 and run_log(db)[-1]["build"] == "built"
    # ... incrementally: a change-log file touches no request, so no attempt is rebuilt
    with duckdb.connect(str(db), read_only=True) as con:
        kinds = con.execute(
            "select distinct change_kind from intermediate.int_attempt_changes_detected"
        ).fetchall()
    assert kinds == [("watermark",)]


def test_failures_exit_2_and_are_logged(landing: Path, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    bad = tmp_path / "bad.toml"
    bad.write_text("[nightly]\nvariance_abs_usd = 25.0\n")
    run = nightly(landing, db, config=bad)
    assert run.returncode == 2 and "must be a string or an integer" in run.stderr
    missing = nightly(tmp_path / "nowhere", db)
    assert missing.returncode == 2 and "landing folder not found" in missing.stderr


def test_a_held_warehouse_makes_nightly_wait_then_exit_2(landing: Path, tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from pathlib import Path; from cometrecon.lock import warehouse_lock\n"
            f"with warehouse_lock(Path({str(db)!r}), 0):\n    print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        blocked = nightly(landing, db, "--wait", "1")
        assert blocked.returncode == 2
        assert f"in use by pid {holder.pid}" in blocked.stderr
        assert not db.exists()  # it never touched the warehouse
    finally:
        holder.kill()
        holder.wait()


REBUILT_REQUESTS = (
    "select change_key from intermediate.int_attempt_changes_detected "
    "where change_kind = 'joined_request'"
)


def plant_negative_quantity(db: Path, inside_rebuilt: bool) -> str:
    """A negative quantity written straight into one row of the priced attempts (which
    fct_attempt_charges shows), of a
    request the last build rebuilt or of one it left alone."""
    side = "in" if inside_rebuilt else "not in"
    with duckdb.connect(str(db)) as con:
        (key,) = con.execute(
            "select min(attempt_dimension_key) from marts.fct_attempt_charges "
            f"where logical_request_id {side} ({REBUILT_REQUESTS})"
        ).fetchall()[0]
        con.execute(
            "update intermediate.int_attempt_charges_priced set quantity = -1 "
            "where attempt_dimension_key = ?",
            [key],
        )
    return str(key)


def negative_quantity_failures(db: Path, out: Path, rebuilt_only: bool) -> list[Any]:
    from cometrecon.validation import run_gate

    gate = run_gate(db, out, rebuilt_only=rebuilt_only)
    return [
        f
        for f in gate.failures
        if f.suite.startswith("money_invariants.fct_attempt_charges") and "quantity" in f.line()
    ]


def test_the_next_night_gates_the_history_only_where_its_build_rebuilt_it(
    landing: Path, tmp_path: Path
) -> None:
    folder, db, config = quiet_setup(landing, tmp_path)
    first = nightly(folder, db, config=config)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "the rows this build rebuilt" not in first.stdout
    # one late attempt arrives: a copy of a landed one under a new request id
    source = sorted((folder / "app_requests").glob("*.jsonl"))[0]
    record = json.loads(source.read_text().splitlines()[0])
    record["request_id"], record["cometapi_request_id"] = "req-late-night", None
    (folder / "app_requests" / "late_arrival.jsonl").write_text(json.dumps(record) + "\n")
    second = nightly(folder, db, config=config)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "(history-scale tables: the rows this build rebuilt)" in second.stdout
    before, after = run_log(db)
    assert (before["gate_scope"], before["gate_failures"]) == ("whole_warehouse", 0)
    assert (after["gate_scope"], after["gate_failures"]) == ("rebuilt_rows", 0)
    with duckdb.connect(str(db), read_only=True) as con:
        rebuilt_rows, all_rows = con.execute(
            "select count(*) filter (where logical_request_id in "
            f"({REBUILT_REQUESTS})), count(*) from marts.fct_attempt_charges"
        ).fetchall()[0]
    assert 0 < rebuilt_rows < all_rows / 100
    # a defect in a rebuilt row: the scoped gate finds it, counting only the rebuilt rows
    inside = plant_negative_quantity(db, inside_rebuilt=True)
    (failure,) = negative_quantity_failures(db, tmp_path / "v1", rebuilt_only=True)
    assert failure.suite == "money_invariants.fct_attempt_charges"
    assert (failure.unexpected_count, failure.element_count) == (1, rebuilt_rows)
    assert inside in failure.line()
    # a defect elsewhere (written behind the builds' back) is left to the whole gate,
    # which `cometrecon validate` and `run` always are
    with duckdb.connect(str(db)) as con:
        con.execute(
            "update intermediate.int_attempt_charges_priced set quantity = 0 where quantity < 0"
        )
    outside = plant_negative_quantity(db, inside_rebuilt=False)
    assert negative_quantity_failures(db, tmp_path / "v2", rebuilt_only=True) == []
    with duckdb.connect(str(db), read_only=True) as con:  # the rows' copy is dropped
        assert con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'gate_scope'"
        ).fetchall() == [(0,)]
    # a build that recomputed everything rebuilt every row: the gate reads them all
    with duckdb.connect(str(db)) as con:
        con.execute(
            "insert into intermediate.int_attempt_changes_detected (change_kind) "
            "values ('recompute_all')"
        )
    (whole,) = negative_quantity_failures(db, tmp_path / "v3", rebuilt_only=True)
    assert (whole.unexpected_count, whole.element_count) == (1, all_rows)
    assert outside in whole.line()
    assert json.loads((tmp_path / "v3" / "summary.json").read_text())["scope"] == (
        "whole_warehouse"
    )
    # and when the next night may scope its gate: only after a passed nightly gate of
    # the same project with no build since
    assert_the_gate_reads_every_row_unless_the_last_night_gated_the_last_build(db, folder)


def assert_the_gate_reads_every_row_unless_the_last_night_gated_the_last_build(
    db: Path, folder: Path
) -> None:
    from cometrecon.nightly import NightlyRun, _history_gated_before

    last = run_log(db)[-1]

    def next_run(project: str = last["project_hash"]) -> NightlyRun:
        return NightlyRun(
            run_id="next",
            day=last["reconciled_day"],
            landing_dir=folder,
            started_at=last["ended_at"],
            project_hash=project,
        )

    assert _history_gated_before(db, next_run())
    assert not _history_gated_before(db, next_run(project="another project"))
    with duckdb.connect(str(db)) as con:
        con.execute("update raw._nightly_runs set gate_failures = 1")
    assert not _history_gated_before(db, next_run())
    with duckdb.connect(str(db)) as con:
        con.execute("update raw._nightly_runs set gate_failures = 0")
        # a `cometrecon build` or `run` after the night: its rows were not gated by it
        con.execute(
            "insert into build_log.incremental_builds select invocation_id || '-later', "
            "changes_through, was_full_refresh, now(), project_hash "
            "from build_log.incremental_builds"
        )
    assert not _history_gated_before(db, next_run())
