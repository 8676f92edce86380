"""Faults: a killed ingest loses and duplicates nothing, and a second writer waits a
bounded time and then says who holds the warehouse, which stays intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from conftest import BIN
from landing_builder import GOOD_ATTEMPTS

from cometrecon.lock import lock_path


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "cometrecon"), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env or dict(os.environ),
    )


def wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_sigkill_mid_file_then_rerun_lands_every_row_exactly_once(tmp_path: Path) -> None:
    landing = tmp_path / "landing" / "app_requests"
    landing.mkdir(parents=True)
    template = json.dumps(GOOD_ATTEMPTS[0]).replace('"req-0001"', '"req-{}"')
    head, tail = template.split("{}")
    lines = 900_000
    pl.DataFrame({"n": range(lines)}).select(
        pl.concat_str([pl.lit(head), pl.col("n").cast(pl.String), pl.lit(tail)]).alias("line")
    ).write_csv(landing / "big.jsonl", include_header=False, quote_style="never")
    db = tmp_path / "wh.duckdb"
    victim = subprocess.Popen(
        [str(BIN / "cometrecon"), "ingest", str(tmp_path / "landing"), "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(4)  # hashing is done and batches are landing inside the file's transaction
    assert victim.poll() is None, "ingest finished before it could be killed; make the file larger"
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from raw.app_requests").fetchall() == [(0,)]
        assert con.execute("select status from raw._ingest_loads").fetchall() == [("running",)]

    rerun = cli("ingest", str(tmp_path / "landing"), "--db", str(db))
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(
            "select count(*), count(distinct request_id) from raw.app_requests"
        ).fetchall() == [(lines, lines)]
        assert con.execute(
            "select status, rows_landed from raw._ingest_files where source_path = 'app_requests/big.jsonl'"
        ).fetchall() == [("landed", lines)]
        statuses = con.execute(
            "select status from raw._ingest_loads order by started_at"
        ).fetchall()
    assert statuses == [("running",), ("complete",)]  # the killed load is visibly unfinished


def test_a_second_writer_waits_then_names_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from cometrecon.lock import warehouse_lock\n"
            f"with warehouse_lock(Path({str(db)!r}), 0):\n    print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        (tmp_path / "landing" / "changes").mkdir(parents=True)
        started = time.monotonic()
        blocked = cli("ingest", str(tmp_path / "landing"), "--db", str(db), "--wait", "1.5")
        waited = time.monotonic() - started
        assert blocked.returncode == 2
        assert f"in use by pid {holder.pid}" in blocked.stderr
        assert "gave up after waiting 2 s" in blocked.stderr
        assert waited >= 1.5
        assert not db.exists()  # it never opened the warehouse
    finally:
        holder.kill()
        holder.wait()
    assert cli("ingest", str(tmp_path / "landing"), "--db", str(db), "--wait", "5").returncode == 0


def test_two_runs_at_once_leave_the_warehouse_intact(
    demo_warehouse: Callable[[int], dict[str, Any]], tmp_path: Path
) -> None:
    landing = demo_warehouse(42)["landing"]
    db = tmp_path / "wh.duckdb"
    env = {**os.environ, "COMETRECON_REPORTS": str(tmp_path / "reports")}
    first = subprocess.Popen(
        [str(BIN / "cometrecon"), "run", str(landing), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    wait_for(lambda: lock_path(db).exists() and lock_path(db).stat().st_size > 0, 30)
    second = cli("run", str(landing), "--db", str(db), "--wait", "1", env=env)
    out, err = first.communicate(timeout=300)
    assert second.returncode == 2 and f"in use by pid {first.pid}" in second.stderr
    assert first.returncode == 0, out[-2000:] + err[-2000:]
    with duckdb.connect(str(db), read_only=True) as con:
        (rows,) = con.execute("select count(*) from marts.fct_variance_attribution").fetchall()[0]
        loads = con.execute("select status from raw._ingest_loads").fetchall()
    assert rows > 0 and loads == [("complete",)]
