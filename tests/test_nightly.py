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
    assert record["status"] == "reconciled"
    assert record["incident_window_utc"] == {
        "start": f"{DAY}T00:00:00Z",
        "end": "2026-05-12T00:00:00Z",
    }
    assert Decimal(record["computed_charge"]["provider_reported_amount"]) == billed


def test_unchanged_folder_second_run_lands_and_builds_nothing(
    landing: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "landing"
    shutil.copytree(landing, folder)
    db = tmp_path / "wh.duckdb"
    config = tmp_path / "quiet.toml"
    config.write_text(QUIET)
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
