"""Run dbt against the warehouse in a child process.

A child process opens and closes the DuckDB file itself, so the single-writer lock is
released when dbt ends (see ../shared/reference/stack-notes.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cometrecon.paths import project_dir


def dbt_environment(db_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "COMETRECON_DB": str(db_path),
            "DBT_PROFILES_DIR": str(project_dir()),
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    return env


def run_dbt(arguments: list[str], db_path: Path) -> int:
    dbt = Path(sys.executable).with_name("dbt")
    command = [str(dbt) if dbt.exists() else "dbt", *arguments]
    print("$ dbt " + " ".join(arguments), flush=True)
    completed = subprocess.run(
        command, cwd=project_dir(), env=dbt_environment(db_path), check=False
    )
    return completed.returncode
