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
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], dict[str, Any]]:
    """A demo of the given seed, written, ingested and built once per test session."""
    built: dict[int, dict[str, Any]] = {}

    def build(seed: int) -> dict[str, Any]:
        if seed not in built:
            root = tmp_path_factory.mktemp(f"demo{seed}")
            summary = write_demo(root / "demo", seed=seed)
            db = root / "wh.duckdb"
            completed = cometrecon("run", str(summary.landing_dir), db=db, reports=root / "reports")
            built[seed] = {
                "db": db,
                "reports": root / "reports",
                "run": completed,
                "truth": json.loads(summary.ground_truth_path.read_text()),
                "landing": summary.landing_dir,
            }
        return built[seed]

    return build
