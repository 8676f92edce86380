"""One writer at a time: an advisory lock beside the DuckDB file.

DuckDB allows a single writing process; a second `cometrecon run` would otherwise die
half-way with "Could not set lock". Every command that opens the warehouse takes this
lock first, waits a bounded time for it, and then gives up with a message naming the
holder. The lock is released by the kernel when the holder exits, even on SIGKILL.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_WAIT_SECONDS = 300.0
POLL_SECONDS = 0.2


class WarehouseBusy(Exception):
    """Another process held the warehouse lock for longer than we were willing to wait."""


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def default_wait_seconds() -> float:
    return float(os.environ.get("COMETRECON_LOCK_WAIT", DEFAULT_WAIT_SECONDS))


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "an unknown process"
    return f"pid {info.get('pid')} ({info.get('command')}, since {info.get('since')})"


@contextmanager
def warehouse_lock(db_path: Path, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold the warehouse's exclusive lock for the duration of the block."""
    wait = default_wait_seconds() if wait_seconds is None else wait_seconds
    path = lock_path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    deadline = time.monotonic() + wait
    announced = False
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"the warehouse {db_path} is in use by {_holder(path)}; "
                        f"gave up after waiting {wait:.0f} s (set COMETRECON_LOCK_WAIT to wait longer)"
                    ) from None
                if not announced:
                    print(
                        f"waiting for the warehouse, held by {_holder(path)} ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    announced = True
                time.sleep(POLL_SECONDS)
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "command": " ".join(["cometrecon", *sys.argv[1:2]]),
                    "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
        )
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the lock
