"""Shared fixtures: demo landing folders run through the real `cometrecon run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cometrecon.demo import write_demo

BIN = Path(sys.executable).parent

# tests/spark builds the project on Spark: `make test-spark` installs it and sets this
collect_ignore = [] if os.environ.get("COMETRECON_SPARK_TESTS") else ["spark"]


@pytest.fixture(scope="session", autouse=True)
def private_dbt_folders(tmp_path_factory: pytest.TempPathFactory) -> None:
    """dbt writes its manifest, partial-parse state and logs into target/ and logs/: each
    test process (pytest -n runs two) gets folders of its own, and one salt, so no two
    processes write the same file."""
    base = tmp_path_factory.mktemp("dbt")
    os.environ["DBT_TARGET_PATH"] = str(base / "target")
    os.environ["DBT_LOG_PATH"] = str(base / "logs")
    os.environ.setdefault("COMETRECON_FINGERPRINT_SALT", "cometrecon-test-salt")


def cometrecon(
    *args: str, db: Path, reports: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COMETRECON_DB": str(db),
        "COMETRECON_REPORTS": str(reports or db.parent / "reports"),
    }
    return subprocess.run(
        [str(BIN / "cometrecon"), *args], capture_output=True, text=True, env=env, check=False
    )


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., dict[str, Any]]:
    """A demo of the given seed and `write_demo` options (e.g. `ledger_convention`,
    `declare_convention`, `sheet_prices_cache_reads`), written, ingested and built once
    per test session."""
    built: dict[str, dict[str, Any]] = {}

    def build(seed: int, **options: Any) -> dict[str, Any]:
        key = json.dumps([seed, options], sort_keys=True)
        if key not in built:
            root = tmp_path_factory.mktemp(f"demo{seed}")
            summary = write_demo(root / "demo", seed=seed, **options)
            db = root / "wh.duckdb"
            completed = cometrecon("run", str(summary.landing_dir), db=db, reports=root / "reports")
            built[key] = {
                "db": db,
                "reports": root / "reports",
                "run": completed,
                "truth": json.loads(summary.ground_truth_path.read_text()),
                "landing": summary.landing_dir,
                "options": options,
            }
        return built[key]

    return build
