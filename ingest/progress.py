"""Progress on long loads: a bar on a terminal, a plain line now and then elsewhere."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, min_interval_s: float = 0.2) -> None:
        self.stream = stream or sys.stderr
        self.is_terminal = self.stream.isatty()
        self.min_interval_s = min_interval_s if self.is_terminal else 10.0
        self._last = 0.0
        self._active = False

    def update(self, label: str, done: int, total: int, rows: int) -> None:
        now = time.monotonic()
        if now - self._last < self.min_interval_s:
            return
        self._last = now
        fraction = min(done / total, 1.0) if total else 0.0
        if self.is_terminal:
            filled = int(fraction * 30)
            bar = "#" * filled + "-" * (30 - filled)
            self.stream.write(f"\r  [{bar}] {fraction:6.1%} {rows:>12,} rows  {label[-50:]}")
            self._active = True
        else:
            self.stream.write(f"  ... {label}: {fraction:.0%} of bytes, {rows:,} rows\n")
        self.stream.flush()

    def start(self) -> None:
        self._last = time.monotonic()

    def done(self) -> None:
        if self._active:
            self.stream.write("\r" + " " * 110 + "\r")
            self.stream.flush()
            self._active = False
