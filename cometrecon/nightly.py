"""`cometrecon nightly`: reconcile the finished UTC day as a window of its own.

Ingests only files not landed yet, builds the warehouse only when something new landed
(or the project changed) since the last successful build, defines the day
[00:00, 24:00) UTC as a window (`DAY-YYYY-MM-DD`, written as a YAML definition into one
managed file beside the warehouse and ingested like any other; the next day's definition
supersedes it), runs the validation gate,
writes the day's outputs, and compares the day's billed total with its forecast. Every
run is logged in `raw._nightly_runs`, including the ones that fail.
"""

from __future__ import annotations

import secrets
import sys
import traceback
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

from cometrecon.dbt_runner import project_hash
from cometrecon.nightly_config import NightlyConfig
from cometrecon.paths import project_dir

EXIT_OK = 0
EXIT_ALERT = 1
EXIT_FAILED = 2

RUN_LOG_DDL = """
create schema if not exists raw;
create table if not exists raw._nightly_runs (
    run_id varchar primary key,
    reconciled_day date not null,
    landing_dir varchar not null,
    started_at timestamptz not null,
    ended_at timestamptz,
    files_seen bigint,
    files_landed bigint,
    files_rejected bigint,
    rows_read bigint,
    rows_landed bigint,
    rows_quarantined bigint,
    build varchar,
    build_started_at timestamptz,
    project_hash varchar,
    forecast_usd decimal(38, 18),
    billed_usd decimal(38, 18),
    variance_usd decimal(38, 18),
    outcome varchar not null,
    exit_code integer,
    message varchar
);
alter table raw._nightly_runs add column if not exists build_started_at timestamptz;
alter table raw._nightly_runs add column if not exists gate_scope varchar;
alter table raw._nightly_runs add column if not exists gate_failures bigint;
"""


@dataclass
class NightlyRun:
    run_id: str
    day: date
    landing_dir: Path
    started_at: datetime
    files_seen: int = 0
    files_landed: int = 0
    files_rejected: int = 0
    rows_read: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    build: str = "not_started"
    # when the build this run's marts come from started (a skipped build keeps the last one's)
    build_started_at: datetime | None = None
    project_hash: str = ""
    # what the validation gate read of the history-scale facts: whole_warehouse or
    # rebuilt_rows (see _history_gated_before); and how many expectations failed
    gate_scope: str | None = None
    gate_failures: int | None = None
    forecast_usd: Decimal | None = None
    billed_usd: Decimal | None = None
    outcome: str = "running"
    exit_code: int | None = None
    message: str = ""

    @property
    def window_id(self) -> str:
        return day_window_id(self.day)


def day_window_id(day: date) -> str:
    return f"DAY-{day:%Y-%m-%d}"


def last_finished_day(now: datetime | None = None) -> date:
    return ((now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=1)).date()


def _connect(db_path: Path) -> duckdb.DuckDBPyConnection:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    con.execute("set TimeZone = 'UTC'")
    con.execute(RUN_LOG_DDL)
    return con


def _log_start(db_path: Path, run: NightlyRun) -> None:
    with _connect(db_path) as con:
        con.execute(
            "insert into raw._nightly_runs (run_id, reconciled_day, landing_dir, started_at, "
            "outcome) values (?, ?, ?, ?, 'running')",
            [run.run_id, run.day, str(run.landing_dir), run.started_at],
        )


def _log_end(db_path: Path, run: NightlyRun) -> None:
    variance = (
        run.billed_usd - run.forecast_usd
        if run.billed_usd is not None and run.forecast_usd is not None
        else None
    )
    with _connect(db_path) as con:
        con.execute(
            """
            update raw._nightly_runs set
                ended_at = ?, files_seen = ?, files_landed = ?, files_rejected = ?,
                rows_read = ?, rows_landed = ?, rows_quarantined = ?, build = ?,
                build_started_at = ?, project_hash = ?, gate_scope = ?, gate_failures = ?,
                forecast_usd = ?, billed_usd = ?, variance_usd = ?,
                outcome = ?, exit_code = ?, message = ?
            where run_id = ?
            """,
            [
                datetime.now(UTC),
                run.files_seen,
                run.files_landed,
                run.files_rejected,
                run.rows_read,
                run.rows_landed,
                run.rows_quarantined,
                run.build,
                run.build_started_at,
                run.project_hash,
                run.gate_scope,
                run.gate_failures,
                run.forecast_usd,
                run.billed_usd,
                variance,
                run.outcome,
                run.exit_code,
                run.message[:2000],
                run.run_id,
            ],
        )


def _current_build(db_path: Path, run: NightlyRun) -> datetime | None:
    """When the last successful build started, if it saw every landed file and the same
    project (so building again would change nothing); else None."""
    with _connect(db_path) as con:
        last = con.execute(
            "select build_started_at, project_hash from raw._nightly_runs "
            "where run_id <> ? and build in ('built', 'skipped') and outcome <> 'failed' "
            "and build_started_at is not null order by started_at desc limit 1",
            [run.run_id],
        ).fetchall()
        if not last or last[0][1] != run.project_hash:
            return None
        newest = con.execute(
            "select max(recorded_at) from raw._ingest_files where status = 'landed'"
        ).fetchall()[0][0]
    built_at: datetime = last[0][0]
    return built_at if newest is None or newest < built_at else None


def _history_gated_before(db_path: Path, run: NightlyRun) -> bool:
    """Whether every row of the history that this run's build leaves as it is has passed
    the gate already: the last run before this one was a nightly of the same project whose
    gate found nothing, and no build has finished since the build that run validated (an
    incremental build then rebuilds only the requests its change list names). Anything
    else (a first run, a changed project, a failed gate, a `cometrecon run` or `build` in
    between) and the gate reads every row."""
    with _connect(db_path) as con:
        last = con.execute(
            "select project_hash, gate_failures, build_started_at from raw._nightly_runs "
            "where run_id <> ? order by started_at desc limit 1",
            [run.run_id],
        ).fetchall()
        if not last or last[0][0] != run.project_hash or last[0][1] != 0 or last[0][2] is None:
            return False
        builds_since = con.execute(
            "select count(*) from build_log.incremental_builds where finished_at > ?",
            [last[0][2]],
        ).fetchall()[0][0]
    return bool(builds_since == 1)


def window_definition(incident_id: str, day: date, config: NightlyConfig, notes: str) -> str:
    """An incident definition (YAML) for the UTC day [00:00, 24:00)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return (
        f"incident_id: {incident_id}\n"
        f"start_utc: '{start:%Y-%m-%dT%H:%M:%SZ}'\n"
        f"end_utc: '{start + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}'\n"
        f"finance_timezone: {config.finance_timezone}\n"
        f"buffer_minutes: {config.buffer_minutes}\n"
        f"owner: {config.owner}\n"
        f"finance_reviewer: {config.finance_reviewer}\n"
        f"tolerance_percent: {config.variance_percent}\n"
        f"tolerance_abs_usd: {config.variance_abs_usd}\n"
        f"provider: {config.provider}\n"
        f"notes: >-\n  {notes}\n"
    )


DAY_WINDOW_FILE = "nightly_day.yaml"


def write_day_window(db_path: Path, day: date, config: NightlyConfig) -> Path:
    """The day's window definition, in a landing folder of its own beside the warehouse.

    One file, rewritten each run: the new day's definition supersedes the previous one,
    so the warehouse reconciles only the current day's window (past days' outputs stay in
    their report folders and `raw._nightly_runs`) and the per-window marts cost one day,
    not every day the job has ever run.
    """
    landing = db_path.parent / "nightly_windows"
    folder = landing / "incidents"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DAY_WINDOW_FILE).write_text(
        window_definition(
            day_window_id(day),
            day,
            config,
            f"Nightly reconciliation of the finished UTC day {day:%Y-%m-%d}.",
        ),
        encoding="utf-8",
    )
    return landing


def _day_paths(db_path: Path, window_id: str) -> tuple[Decimal | None, Decimal | None]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        rows = con.execute(
            "select max(amount_a_usd) filter (where path_a = 'forecast'), "
            "max(amount_b_usd) filter (where path_b = 'billed') "
            "from marts.fct_computation_paths where incident_id = ?",
            [window_id],
        ).fetchall()
    return (rows[0][0], rows[0][1]) if rows else (None, None)


def _top_causes(db_path: Path, window_id: str) -> list[tuple[str, Decimal]]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        return [
            (str(cause), Decimal(amount))
            for cause, amount in con.execute(
                "select cause, amount_usd from marts.fct_variance_attribution "
                "where incident_id = ? and claim_status <> 'immaterial' "
                "order by abs(amount_usd) desc limit 3",
                [window_id],
            ).fetchall()
        ]


def write_proposed_incident(
    landing_dir: Path, run: NightlyRun, config: NightlyConfig, causes: list[tuple[str, Decimal]]
) -> Path:
    """A proposed incident definition for the day, into the landing folder's incidents/."""
    assert run.forecast_usd is not None and run.billed_usd is not None
    incident_id = f"INC-{run.day:%Y-%m-%d}-NIGHTLY"
    path = landing_dir / "incidents" / f"proposed-{incident_id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    variance = run.billed_usd - run.forecast_usd
    named = ", ".join(f"{cause} ({amount:+.2f} USD)" for cause, amount in causes) or "none"
    notes = (
        f"Proposed by {run.run_id}: billed {run.billed_usd:.2f} USD against a forecast of "
        f"{run.forecast_usd:.2f} USD ({variance:+.2f} USD) exceeds the nightly thresholds "
        f"({config.variance_abs_usd} USD and {config.variance_percent}%). Largest causes: "
        f"{named}. Narrow the window to the affected hours, then rerun."
    )
    path.write_text(window_definition(incident_id, run.day, config, notes), encoding="utf-8")
    return path


def run_nightly(
    landing_dir: Path,
    db_path: Path,
    reports_dir: Path,
    day: date,
    config: NightlyConfig,
) -> int:
    """The nightly job; the caller holds the warehouse lock. Returns 0, 1 or 2."""
    from cometrecon.dbt_runner import WarmDbt, build_warehouse
    from cometrecon.reports import write_incident_outputs
    from cometrecon.validation import run_gate
    from cometrecon.validation.gate import import_great_expectations_in_background
    from ingest.loader import ingest

    if not landing_dir.is_dir():
        raise FileNotFoundError(f"landing folder not found: {landing_dir}")
    started = datetime.now(UTC)
    run = NightlyRun(
        run_id=f"nightly-{day:%Y%m%d}-{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}",
        day=day,
        landing_dir=landing_dir.resolve(),
        started_at=started,
        project_hash=project_hash(),
    )
    _log_start(db_path, run)
    run.outcome, run.exit_code = "failed", EXIT_FAILED
    # dbt starts and parses the project while the files land (ended unused when nothing
    # landed and the build is skipped)
    warm_dbt = WarmDbt(db_path)
    try:
        window_landing = write_day_window(db_path, day, config)
        reports = [
            ingest(landing_dir, db_path, project_dir()),
            ingest(window_landing, db_path, project_dir()),
        ]
        files = [f for report in reports for f in report.files]
        run.files_seen = len(files)
        run.files_landed = sum(f.status == "landed" for f in files)
        run.files_rejected = sum(f.status == "rejected" for f in files)
        run.rows_read = sum(f.rows_read for f in files)
        run.rows_landed = sum(f.rows_landed for f in files)
        run.rows_quarantined = sum(f.rows_quarantined for f in files)
        rebuilt_only = _history_gated_before(db_path, run)
        current = _current_build(db_path, run) if run.files_landed == 0 else None
        if current is not None:
            run.build, run.build_started_at = "skipped", current
            print(
                "dbt build skipped: nothing landed and the project is unchanged since the last build"
            )
        else:
            run.build, run.build_started_at = "failed", datetime.now(UTC)
            import_great_expectations_in_background()  # loads while dbt builds
            if build_warehouse(db_path, warm=warm_dbt) != 0:
                run.message = "dbt build failed (see above)"
                return EXIT_FAILED
            run.build = "built"
        gate = run_gate(db_path, reports_dir / "_validation", rebuilt_only=rebuilt_only)
        run.gate_scope = "rebuilt_rows" if gate.rebuilt_only else "whole_warehouse"
        run.gate_failures = len(gate.failures)
        for line in gate.summary_lines():
            print(line)
        for path in write_incident_outputs(db_path, run.window_id, reports_dir, gate):
            print(f"  {path}")
        if gate.failures_for(run.window_id):
            run.message = "validation blocked the day's reconciliation (see FAILED lines above)"
            return EXIT_FAILED
        run.forecast_usd, run.billed_usd = _day_paths(db_path, run.window_id)
        if run.forecast_usd is None or run.billed_usd is None:
            run.message = "no computation paths for the day"
            return EXIT_FAILED
        variance = run.billed_usd - run.forecast_usd
        summary = (
            f"{run.window_id}: forecast {run.forecast_usd:.2f} USD, billed "
            f"{run.billed_usd:.2f} USD, variance {variance:+.2f} USD"
        )
        if config.is_alert(run.forecast_usd, run.billed_usd):
            proposal = write_proposed_incident(
                landing_dir, run, config, _top_causes(db_path, run.window_id)
            )
            run.outcome, run.exit_code = "variance_alert", EXIT_ALERT
            run.message = f"{summary}: over the thresholds; proposed incident {proposal}"
        else:
            run.outcome, run.exit_code = "within_tolerance", EXIT_OK
            run.message = f"{summary}: within the thresholds"
        print(run.message)
        return run.exit_code
    except Exception as error:  # logged as a failed run, then reported by the CLI
        run.message = f"{type(error).__name__}: {error}"
        traceback.print_exc(file=sys.stderr)
        return EXIT_FAILED
    finally:
        warm_dbt.close()
        _log_end(db_path, run)
