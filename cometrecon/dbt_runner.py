"""Run dbt against the warehouse in a child process.

A child process opens and closes the DuckDB file itself, so the single-writer lock is
released when dbt ends (see ../shared/reference/stack-notes.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from cometrecon.paths import project_dir, project_files_digest


def dbt_executable() -> str:
    """The dbt of this interpreter's environment (the venv), else the one on PATH."""
    dbt = Path(sys.executable).with_name("dbt")
    return str(dbt) if dbt.exists() else "dbt"


def dbt_base_environment() -> dict[str, str]:
    """The environment every dbt child runs in: this project's profiles, no telemetry."""
    return {
        **os.environ,
        "DBT_PROFILES_DIR": str(project_dir()),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def dbt_environment(db_path: Path) -> dict[str, str]:
    return {
        **dbt_base_environment(),
        "COMETRECON_DB": str(db_path),
        "COMETRECON_PROJECT_HASH": project_hash(),
    }


def project_hash() -> str:
    """A digest of everything dbt builds from: a changed project means a rebuild."""
    return project_files_digest("models", "macros", "seeds", "dbt_project.yml")


def last_recorded_project(db_path: Path) -> str | None:
    """The project hash of the last build that brought the incremental models up to date
    (None when no build was recorded: a new warehouse, or one built before the log)."""
    if not db_path.exists():
        return None
    with duckdb.connect(str(db_path), read_only=True) as con:
        found = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'build_log' and table_name = 'incremental_builds'"
        ).fetchall()[0][0]
        if not found:
            return None
        rows = con.execute(
            "select project_hash from build_log.incremental_builds "
            "order by finished_at desc limit 1"
        ).fetchall()
    return str(rows[0][0]) if rows else None


def build_arguments(db_path: Path, full_refresh: bool = False) -> list[str]:
    """`dbt build`: incremental where the models are, full refresh when asked or when the
    project (models, macros, seeds) changed since the last recorded build, so rows an old
    version of the SQL computed never stay beside rows of the new one."""
    # unit tests check the models' logic on fixed inputs, not the landed data: `make test`
    # runs them (tests/test_incremental_build.py calls dbt build), the pipeline does not
    build = ["build", "--exclude-resource-type", "unit_test"]
    if full_refresh:
        return [*build, "--full-refresh"]
    recorded = last_recorded_project(db_path)
    if recorded is not None and recorded != project_hash():
        print(
            "project changed since the last build: rebuilding every model (--full-refresh)",
            flush=True,
        )
        return [*build, "--full-refresh"]
    return build


def build_warehouse(db_path: Path, full_refresh: bool = False, warm: WarmDbt | None = None) -> int:
    """`dbt build` (see `build_arguments`), in `warm` when the caller started one."""
    arguments = build_arguments(db_path, full_refresh)
    if warm is not None:
        return warm.run(arguments)
    return run_dbt(arguments, db_path)


def run_dbt(arguments: list[str], db_path: Path) -> int:
    command = [dbt_executable(), *arguments]
    print("$ dbt " + " ".join(arguments), flush=True)
    completed = subprocess.run(
        command, cwd=project_dir(), env=dbt_environment(db_path), check=False
    )
    return completed.returncode


class WarmDbt:
    """A dbt child started early (`cometrecon.dbt_child`): it imports dbt and parses the
    project while the caller lands files, so the build starts without dbt's start-up.
    Use as a context manager: leaving it unused ends the child."""

    def __init__(self, db_path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cometrecon.dbt_child"],
            cwd=project_dir(),
            env=dbt_environment(db_path),
            stdin=subprocess.PIPE,
            text=True,
        )

    def run(self, arguments: list[str]) -> int:
        print("$ dbt " + " ".join(arguments), flush=True)
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(arguments) + "\n")
        self.process.stdin.close()
        return self.process.wait()

    def __enter__(self) -> WarmDbt:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End the child if it was never sent a command (waits for its parse)."""
        if self.process.poll() is None:
            if self.process.stdin is not None and not self.process.stdin.closed:
                self.process.stdin.write("\n")
                self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
