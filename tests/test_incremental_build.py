"""Incremental attempt models: a warehouse built in steps (some hours first, then the
rest together with replaced versions of files already landed) holds exactly the rows a
full rebuild of the same raw data gives, in every attempt model and every public mart;
a build with nothing new recomputes no request; a new catalog capture reprices only the
requests sent after it, an earlier first snapshot all of them; a changed project makes
`cometrecon build` a full refresh."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import cometrecon

from cometrecon.dbt_runner import last_recorded_project, project_hash

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LATER_HOURS = ("T09", "T10", "T11", "T12")
INCREMENTAL_MODELS = (
    "intermediate.int_app_attempts_deduplicated",
    "intermediate.int_gateway_requests_deduplicated",
    "intermediate.int_attempts_joined",
    "intermediate.int_attempt_charges_priced",
    "intermediate.int_gateway_requests_summed_daily",
)


def dbt_build(db: Path, *extra: str, command: str = "run") -> subprocess.CompletedProcess[str]:
    """dbt against `db`: `run` (models and hooks, no data tests: the steps here compare
    tables, the tests run in every other suite) unless told otherwise."""
    env = {**os.environ, "COMETRECON_DB": str(db), "DO_NOT_TRACK": "1"}
    completed = subprocess.run(
        [str(BIN / "dbt"), command, "--target-path", str(db.parent / "target"), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-4000:]
    return completed


def ingest(landing: Path, db: Path) -> None:
    completed = cometrecon("ingest", str(landing), db=db)
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]


def changes(db: Path) -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(
            con.execute(
                "select change_kind, count(*) from intermediate.int_attempt_changes_detected "
                "group by change_kind"
            ).fetchall()
        )


def rebuilt_attempts(db: Path) -> int:
    """Attempts of the requests this build recomputed."""
    with duckdb.connect(str(db), read_only=True) as con:
        return int(
            con.execute(
                "select count(*) from intermediate.int_attempts_joined where logical_request_id in "
                "(select change_key from intermediate.int_attempt_changes_detected "
                "where change_kind = 'joined_request')"
            ).fetchall()[0][0]
        )


def table_rows(db: Path, table: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return int(con.execute(f"select count(*) from {table}").fetchall()[0][0])


def differences(incremental: Path, full: Path, tables: list[str]) -> dict[str, tuple[int, int]]:
    """Rows in one build and not the other (as multisets), per table."""
    found = {}
    with duckdb.connect(str(incremental), read_only=True) as con:
        con.execute(f"attach '{full}' as full_build (read_only)")
        for table in tables:
            only_incremental = con.execute(
                f"select count(*) from (select * from {table} except all "
                f"select * from full_build.{table})"
            ).fetchall()[0][0]
            only_full = con.execute(
                f"select count(*) from (select * from full_build.{table} except all "
                f"select * from {table})"
            ).fetchall()[0][0]
            if only_incremental or only_full:
                found[table] = (only_incremental, only_full)
    return found


def public_marts(db: Path) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        return [
            f"marts.{name}"
            for (name,) in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' order by table_name"
            ).fetchall()
        ]


def replace_version(path: Path, drop_every: int) -> None:
    """A new version of a landed JSON-lines file: some lines gone, the rest unchanged."""
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for n, line in enumerate(lines) if n % drop_every != 5))


@pytest.fixture(scope="module")
def stepped(
    demo_warehouse: Callable[[int], dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("incremental")
    landing = root / "landing"
    shutil.copytree(Path(demo_warehouse(42)["landing"]), landing)
    later = root / "later"
    for stream in ("app_requests", "gateway_logs"):
        (later / stream).mkdir(parents=True)
        for path in (landing / stream).iterdir():
            if any(hour in path.name for hour in LATER_HOURS):
                path.rename(later / stream / path.name)
    db = root / "wh.duckdb"
    ingest(landing, db)
    dbt_build(db, command="build")  # seeds, models and every data test on a new warehouse
    first = {"changes": changes(db), "attempts": table_rows(db, INCREMENTAL_MODELS[2])}
    # the later hours arrive, and two files already landed come again with lines removed
    for stream in ("app_requests", "gateway_logs"):
        for path in (later / stream).iterdir():
            path.rename(landing / stream / path.name)
    replace_version(landing / "app_requests" / "app_requests_2026-05-11T07.jsonl", 40)
    replace_version(landing / "gateway_logs" / "cometapi_logs_2026-05-11T12.jsonl", 3)
    ingest(landing, db)
    dbt_build(db)
    second = {
        "changes": changes(db),
        "attempts": table_rows(db, INCREMENTAL_MODELS[2]),
        "rebuilt": rebuilt_attempts(db),
    }
    full = root / "full.duckdb"
    shutil.copyfile(db, full)
    dbt_build(full, "--full-refresh")
    return {"db": db, "full": full, "first": first, "second": second, "landing": landing}


def test_first_build_of_a_new_warehouse_computes_everything(stepped: dict[str, Any]) -> None:
    assert stepped["first"]["changes"].get("recompute_all") == 1
    assert stepped["first"]["attempts"] > 10_000


def test_later_files_recompute_only_the_requests_they_touch(stepped: dict[str, Any]) -> None:
    second = stepped["second"]["changes"]
    assert "recompute_all" not in second
    # the new hours and the replaced files touch many requests, but not all of them
    assert 1_000 < stepped["second"]["rebuilt"] < 0.8 * stepped["second"]["attempts"]
    assert second["app_request"] > 0 and second["gateway_request"] > 0


def test_stepped_build_equals_a_full_rebuild(stepped: dict[str, Any]) -> None:
    tables = [*INCREMENTAL_MODELS, *public_marts(stepped["db"])]
    assert "marts.fct_variance_attribution" in tables
    assert differences(stepped["db"], stepped["full"], tables) == {}
    # the replaced versions really removed rows: the comparison is not of identical inputs
    with duckdb.connect(str(stepped["db"]), read_only=True) as con:
        superseded = con.execute(
            "select count(*) from raw.app_requests where _superseded_by is not null"
        ).fetchall()[0][0]
    assert superseded > 0


def test_a_build_with_nothing_new_recomputes_no_request(stepped: dict[str, Any]) -> None:
    db = stepped["db"]
    before = {table: table_rows(db, table) for table in INCREMENTAL_MODELS}
    dbt_build(db)
    found = changes(db)
    assert set(found) == {"watermark"}, found
    assert {table: table_rows(db, table) for table in INCREMENTAL_MODELS} == before
    assert differences(db, stepped["full"], list(INCREMENTAL_MODELS)) == {}


def capture_catalog(landing: Path, source: Path, stem: str, captured_at: str) -> None:
    """A new catalog capture: gpt-4.1 input 2 -> 3 USD per 1M, everything else the same."""
    (landing / "pricing").mkdir(parents=True, exist_ok=True)
    document = json.loads((source / "pricing" / "catalog_2026-05-11T1108Z.json").read_text())
    for entry in document["data"]:
        if entry["id"] == "gpt-4.1":
            entry["pricing"]["input"] = 3
    (landing / "pricing" / f"{stem}.json").write_text(json.dumps(document))
    sidecar = json.loads((source / "pricing" / "catalog_2026-05-11T1108Z.capture.json").read_text())
    sidecar["captured_at"] = captured_at
    (landing / "pricing" / f"{stem}.capture.json").write_text(json.dumps(sidecar))


def test_a_new_catalog_capture_reprices_only_what_it_can_change(
    stepped: dict[str, Any], tmp_path: Path
) -> None:
    db = tmp_path / "wh.duckdb"
    shutil.copyfile(stepped["db"], db)
    landing = tmp_path / "landing"
    capture_catalog(landing, stepped["landing"], "catalog_2026-05-11T1000Z", "2026-05-11T10:00:00Z")
    ingest(landing, db)
    dbt_build(db)
    found = changes(db)
    assert "recompute_all" not in found
    with duckdb.connect(str(db), read_only=True) as con:
        earliest = con.execute(
            "select min(change_anchor_at) from intermediate.int_attempts_joined "
            "where logical_request_id in (select change_key from "
            "intermediate.int_attempt_changes_detected where change_kind = 'joined_request')"
        ).fetchall()[0][0]
        repriced = con.execute(
            "select count(*) from marts.fct_attempt_charges where priced_label = 'gpt-4.1' "
            "and dimension = 'input' and sent_at >= '2026-05-11T10:00:00Z' "
            "and usd_per_unit = 0.000003"
        ).fetchall()[0][0]
    assert earliest >= datetime(2026, 5, 11, 10, tzinfo=UTC)
    assert repriced > 0
    full = tmp_path / "full.duckdb"
    shutil.copyfile(db, full)
    dbt_build(full, "--full-refresh")
    assert differences(db, full, [*INCREMENTAL_MODELS, "marts.fct_charge_variance"]) == {}
    # an earlier first snapshot prices everything sent before the old one: all again
    capture_catalog(landing, stepped["landing"], "catalog_2026-05-01", "2026-05-01T09:00:00Z")
    ingest(landing, db)
    dbt_build(db)
    assert changes(db).get("recompute_all") == 1


def test_a_changed_project_rebuilds_every_model(stepped: dict[str, Any], tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    shutil.copyfile(stepped["db"], db)
    # built by a hand-run dbt, which records no project: say it was this one
    with duckdb.connect(str(db)) as con:
        con.execute("update build_log.incremental_builds set project_hash = ?", [project_hash()])
    assert last_recorded_project(db) == project_hash()  # so `build` stays incremental
    with duckdb.connect(str(db)) as con:
        con.execute("update build_log.incremental_builds set project_hash = 'an-older-project'")
    changed = cometrecon("build", db=db)
    assert changed.returncode == 0, changed.stdout[-3000:]
    assert "project changed since the last build" in changed.stdout
    assert "--full-refresh" in next(
        line for line in changed.stdout.splitlines() if line.startswith("$ dbt build")
    )
    assert differences(db, stepped["full"], list(INCREMENTAL_MODELS)) == {}


def land_one_attempt(landing: Path, name: str, request_id: str, db: Path) -> None:
    """A new file of one attempt (a copy of a landed one under a new request id)."""
    source = stepped_line(landing)
    record = json.loads(source)
    record["request_id"], record["cometapi_request_id"] = request_id, None
    folder = landing.parent / name / "app_requests"
    folder.mkdir(parents=True)
    (folder / f"{name}.jsonl").write_text(json.dumps(record) + "\n")
    ingest(folder.parent, db)


def stepped_line(landing: Path) -> str:
    path = landing / "app_requests" / "app_requests_2026-05-11T09.jsonl"
    return path.read_text().splitlines()[0]


def plant_unknown_api_format(db: Path, request_id: str, api_format: str) -> None:
    """A defect no ingest would let through, written straight into the raw table."""
    with duckdb.connect(str(db)) as con:
        con.execute(
            "update raw.app_requests set api_format = ? where request_id = ?",
            [api_format, request_id],
        )


def test_an_incremental_build_tests_the_rows_it_can_have_changed(
    stepped: dict[str, Any], tmp_path: Path
) -> None:
    """History-scale tests read the rows of new loads and rebuilt requests in an
    incremental `dbt build` (its cost grows with the new data); `dbt test` reads all."""
    db = tmp_path / "wh.duckdb"
    shutil.copyfile(stepped["db"], db)
    with duckdb.connect(str(db)) as con:  # built by a hand-run dbt: say by this project
        con.execute("update build_log.incremental_builds set project_hash = ?", [project_hash()])
        old_request = con.execute(
            "select request_id from raw.app_requests order by _loaded_at, _row_number limit 1"
        ).fetchall()[0][0]
    landing = tmp_path / "landing"
    shutil.copytree(stepped["landing"], landing)
    land_one_attempt(landing, "first", "req-scope-1", db)
    plant_unknown_api_format(db, old_request, "carrier_pigeon")  # tested by the last build
    built = cometrecon("build", db=db)
    assert built.returncode == 0, built.stdout[-3000:]
    assert "--full-refresh" not in built.stdout
    run_results = Path(os.environ["DBT_TARGET_PATH"]) / "run_results.json"
    compiled = {
        result["unique_id"].split(".")[2]: result.get("compiled_code") or ""
        for result in json.loads(run_results.read_text())["results"]
    }
    staging_test = (
        "accepted_values_stg_app__request_attempts_api_format__"
        "openai_chat__openai_responses__anthropic_messages__gemini"
    )
    with duckdb.connect(str(db), read_only=True) as con:
        (new_load,) = con.execute(
            "select load_id from raw._ingest_files where source_path = 'app_requests/first.jsonl'"
        ).fetchall()[0]
    assert f"load_id in ('{new_load}')" in compiled[staging_test]
    assert "int_attempt_changes_detected" in compiled["primary_key_int_attempts_joined_attempt_key"]
    # a defect in a new load fails the incremental build ...
    land_one_attempt(landing, "second", "req-scope-2", db)
    plant_unknown_api_format(db, "req-scope-2", "smoke_signal")
    failed = cometrecon("build", db=db)
    assert failed.returncode != 0
    assert f"Failure in test {staging_test}" in failed.stdout
    assert "Got 1 result, configured to fail if != 0" in failed.stdout  # smoke_signal only
    # ... and `dbt test` reads every row, the one planted in the history too
    env = {**os.environ, "COMETRECON_DB": str(db), "DO_NOT_TRACK": "1"}
    tested = subprocess.run(
        [str(BIN / "dbt"), "test", "--select", staging_test, "--target-path", str(tmp_path / "t")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode != 0, tested.stdout[-3000:]
    assert "Got 2 results, configured to fail if != 0" in tested.stdout
