"""Where the project, the warehouse and the outputs live."""

from __future__ import annotations

import os
from pathlib import Path


def project_dir() -> Path:
    """The dbt project root (this repository)."""
    configured = os.environ.get("COMETRECON_PROJECT_DIR")
    if configured:
        return Path(configured).resolve()
    return Path(__file__).resolve().parents[1]


def warehouse_path() -> Path:
    """The DuckDB file; `COMETRECON_DB` overrides the default under `warehouse/`."""
    configured = os.environ.get("COMETRECON_DB")
    if configured:
        return Path(configured).resolve()
    return project_dir() / "warehouse" / "cometrecon.duckdb"


def default_reports_dir() -> Path:
    """Where incident outputs go; `COMETRECON_REPORTS` overrides `reports/` in the project."""
    configured = os.environ.get("COMETRECON_REPORTS")
    return Path(configured).resolve() if configured else project_dir() / "reports"
