"""What a stream module is handed for one landing file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from ingest.readers import Detected, LineStats


@dataclass
class SourceFile:
    path: Path
    relative_path: str
    detected: Detected
    con: duckdb.DuckDBPyConnection
    sidecar: Path | None = None
    stats: LineStats = field(default_factory=LineStats)
