"""Where the project, the warehouse and the outputs live."""

from __future__ import annotations

import hashlib
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


def project_files_digest(*parts: str) -> str:
    """A digest of the project files under `parts` (folders or files relative to the
    project root): their paths and bytes. Any edit to them changes it."""
    root = project_dir()
    digest = hashlib.sha256()
    for part in parts:
        target = root / part
        files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
        for path in files:
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
