"""`cometrecon ingest`: land every file of a landing folder, one transaction per file.

Every record read is either landed or quarantined with a reason; a file that cannot be
read at all is rejected with one clear line and the rest of the folder still loads.
The same file again (same sha256) lands nothing; a file whose size and modification time
are those of its landed version is not read again (not even hashed), so the files a
folder keeps from earlier days cost a lookup each; a changed file under the same name is
a new version whose rows supersede the old version's (which stay, marked). Two files
land at once, each in its own transaction; outcomes are reported in folder order, and a
file with the content of one still landing waits for it, so the result is the same as
landing the folder in order.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import stat
import sys
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import duckdb
import pyarrow as pa

from ingest import (
    app_requests,
    billing,
    changes,
    contracts,
    gateway_logs,
    incidents,
    pricing,
    usage_ledger,
)
from ingest.fields import StreamTable, typed_rows_sql
from ingest.progress import Progress
from ingest.readers import RejectedFile, detect
from ingest.sanitize import fingerprint_salt, sanitize_record_text
from ingest.source import SourceFile
from ingest.warehouse import RAW_SCHEMA, ensure_schema

# A landed file modified within this long before its load began may have changed again
# within the clock's granularity: it is hashed next time rather than trusted by its stat.
SETTLED_NS = 2_000_000_000
# Files landing at once, each in its own transaction on its own connection: one file's
# single-threaded steps (a JSON page's parse, reading lines, the commit's log write) run
# beside the other's insert, so the load keeps both cores of a small machine busy.
LOAD_WORKERS = 2

STREAMS: dict[str, ModuleType] = {
    module.STREAM: module
    for module in (
        gateway_logs,
        app_requests,
        usage_ledger,
        billing,
        pricing,
        contracts,
        incidents,
        changes,
    )
}


def all_tables() -> list[StreamTable]:
    return [table for module in STREAMS.values() for table in module.TABLES]


@dataclass
class FileOutcome:
    relative_path: str
    stream: str
    status: str  # landed, unchanged, rejected, sidecar, ignored
    reason: str = ""
    detected_format: str = ""
    rows_read: int = 0
    rows_landed: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0

    def line(self) -> str:
        counts = (
            f"read {self.rows_read:,}  landed {self.rows_landed:,}  "
            f"quarantined {self.rows_quarantined:,}  skipped {self.rows_skipped:,}"
        )
        if self.status == "landed":
            return f"  landed     {self.relative_path}  ({self.detected_format})  {counts}"
        if self.status == "unchanged":
            return f"  unchanged  {self.relative_path}  ({self.reason})"
        if self.status == "rejected":
            return f"  REJECTED   {self.relative_path}: {self.reason}"
        return f"  {self.status:<10} {self.relative_path}  ({self.reason})"


@dataclass
class LoadReport:
    load_id: str
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def rejected(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "rejected"]

    def total(self, attribute: str) -> int:
        return sum(int(getattr(f, attribute)) for f in self.files)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class HashAhead:
    """sha256 of the next file to land, computed on a worker thread while the current one
    lands (hashlib releases the GIL): a folder's bytes are read by the hash without
    holding up the load. A file whose size or modification time moved since it was hashed
    is hashed again when it is loaded."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        self._hashing: dict[Path, Future[tuple[tuple[int, int] | None, str]]] = {}

    def start(self, path: Path) -> None:
        if path not in self._hashing:
            self._hashing[path] = self._pool.submit(_stat_and_sha256, path)

    def sha256(self, path: Path, size: int, modified_ns: int) -> str:
        hashing = self._hashing.pop(path, None)
        if hashing is not None:
            try:
                stat_key, sha = hashing.result()
            except OSError:
                stat_key, sha = None, ""
            if stat_key == (size, modified_ns):
                return sha
        return file_sha256(path)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _stat_and_sha256(path: Path) -> tuple[tuple[int, int] | None, str]:
    """The file's sha256 and its (size, modification time), or None if it changed while
    being hashed."""
    before = path.stat()
    sha = file_sha256(path)
    after = path.stat()
    key = (before.st_size, before.st_mtime_ns)
    return (key if key == (after.st_size, after.st_mtime_ns) else None), sha


def connect(db_path: Path) -> duckdb.DuckDBPyConnection:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    _in_utc(con)
    # Bounded memory: a large file's transaction spills to disk instead of growing RSS.
    con.execute(f"set memory_limit = '{os.environ.get('COMETRECON_MEMORY_LIMIT', '2GB')}'")
    con.execute("set preserve_insertion_order = false")
    # one checkpoint when the load closes, not one per file's commit (1M attempts: ~10 s
    # less); every file still commits on its own, and a crash replays the log
    con.execute("set checkpoint_threshold = '4GB'")
    return con


def _in_utc(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """The time zone is a setting of each connection (a cursor does not inherit it)."""
    con.execute("set TimeZone = 'UTC'")
    return con


@dataclass
class _FileToLand:
    """A file whose content is not landed yet, with what its examination found."""

    stream: str
    path: Path
    relative: str
    sha: str
    size: int
    modified_ns: int
    sidecar: Path | None
    sidecar_sha: str | None
    previous_version: int | None


OUTSIDE_LANDING = "points outside the landing folder; not read"


def _unreadable_reason(path: Path) -> str | None:
    """Why a listed entry cannot be read as a file (None when it can): a FIFO, socket or
    device would block or never end, a link loop has no target, and a file may vanish
    between the listing and the read. Each is that entry's outcome, never the folder's."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "vanished, or a link to nothing, before it was read"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a loop of symbolic links; not read"
        return f"cannot be read: {error.strerror or error}"
    if not stat.S_ISREG(mode):
        return "not a regular file (a FIFO, socket or device); not read"
    return None


def _landing_files(landing_dir: Path) -> Iterator[tuple[str, Path | None, str, str | None]]:
    """(stream, path or None, relative path, why it cannot be read or None) for everything
    under the landing folder."""
    root = landing_dir.resolve()
    for entry in sorted(landing_dir.iterdir()):
        relative = entry.name
        if entry.name.startswith("."):
            continue
        if not entry.is_dir() or entry.name not in STREAMS:
            yield "", None, relative, None
            continue
        for path in sorted(entry.rglob("*")):
            if path.name.startswith(".") or path.is_dir():
                continue
            relative = path.relative_to(landing_dir).as_posix()
            unreadable = _unreadable_reason(path)
            if unreadable is not None:
                yield entry.name, None, relative, unreadable
                continue
            try:
                resolved = path.resolve()
            except (OSError, RuntimeError):  # a link loop found while resolving
                yield entry.name, None, relative, "a loop of symbolic links; not read"
                continue
            if not resolved.is_relative_to(root):
                yield entry.name, None, relative, OUTSIDE_LANDING
                continue
            yield entry.name, path, relative, None


class Loader:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        landing_dir: Path,
        salt: str,
        out: TextIO,
        progress: Progress,
    ) -> None:
        self.connection = con
        self._worker = threading.local()
        self.landing_dir = landing_dir
        self.salt = salt
        self.out = out
        self.progress = progress
        self.load_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
        self.loaded_at = datetime.now(UTC)
        self.hash_ahead = HashAhead()
        self._next_to_hash = 0

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The calling thread's connection: a load worker's own cursor, else the main one."""
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._worker, "cursor", None)
        return cursor if cursor is not None else self.connection

    def run(self) -> LoadReport:
        ensure_schema(self.con, all_tables())
        self.con.execute(
            f"insert into {RAW_SCHEMA}._ingest_loads (load_id, landing_dir, started_at, status) "
            "values (?, ?, ?, 'running')",
            [self.load_id, str(self.landing_dir), self.loaded_at],
        )
        report = LoadReport(self.load_id)
        files = list(_landing_files(self.landing_dir))
        cursors: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
        opened = [_in_utc(self.connection.cursor()) for _ in range(LOAD_WORKERS)]
        for cursor in opened:
            cursors.put(cursor)
        # outcomes in folder order; a landing file's outcome is a future until it is done
        outcomes: deque[FileOutcome | Future[FileOutcome | _FileToLand]] = deque()
        landing: dict[Future[FileOutcome | _FileToLand], str] = {}  # in flight: its sha256
        try:
            with ThreadPoolExecutor(
                max_workers=LOAD_WORKERS,
                thread_name_prefix="load",
                initializer=lambda: setattr(self._worker, "cursor", cursors.get()),
            ) as pool:
                for position, (stream, path, relative, unreadable) in enumerate(files):
                    self._hash_next(files, position)
                    examined = self._examine(stream, path, relative, unreadable)
                    if isinstance(examined, FileOutcome):
                        outcomes.append(examined)
                    else:
                        # the same content as a file still landing: wait, then it is
                        # "already landed" exactly as if the folder had loaded in order
                        same = [f for f, sha in landing.items() if sha == examined.sha]
                        busy = [f for f in landing if not f.done()]
                        while same or len(busy) >= LOAD_WORKERS:
                            wait(same or busy, return_when=FIRST_COMPLETED)
                            same = [f for f in same if not f.done()]
                            busy = [f for f in busy if not f.done()]
                        for finished in [f for f in landing if f.done()]:
                            del landing[finished]
                        future = pool.submit(self._land, examined)
                        landing[future] = examined.sha
                        outcomes.append(future)
                    self._report_finished(outcomes, report, wait_for_all=False)
                self._report_finished(outcomes, report, wait_for_all=True)
        finally:
            self.hash_ahead.close()
            for cursor in opened:
                cursor.close()
        status = "complete_with_rejections" if report.rejected else "complete"
        self.con.execute(
            f"update {RAW_SCHEMA}._ingest_loads set finished_at = ?, status = ?, files_seen = ?, "
            "files_landed = ?, files_unchanged = ?, files_rejected = ?, rows_landed = ?, "
            "rows_quarantined = ? where load_id = ?",
            [
                datetime.now(UTC),
                status,
                len(report.files),
                sum(f.status == "landed" for f in report.files),
                sum(f.status == "unchanged" for f in report.files),
                len(report.rejected),
                report.total("rows_landed"),
                report.total("rows_quarantined"),
                self.load_id,
            ],
        )
        return report

    def _report_finished(
        self,
        outcomes: deque[FileOutcome | Future[FileOutcome | _FileToLand]],
        report: LoadReport,
        wait_for_all: bool,
    ) -> None:
        """Print and report the outcomes at the front of the folder order that are known."""
        while outcomes:
            first = outcomes[0]
            if isinstance(first, Future):
                if not (wait_for_all or first.done()):
                    return
                landed = first.result()  # a load worker's unexpected error is raised here
                if isinstance(landed, _FileToLand):
                    # it ran out of memory beside another file: once the files in flight
                    # are done, it lands again alone (on this thread's connection)
                    wait([f for f in outcomes if isinstance(f, Future)])
                    landed = self._land(landed, alone=True)
                    assert isinstance(landed, FileOutcome)
                outcome = landed
            else:
                outcome = first
            outcomes.popleft()
            report.files.append(outcome)
            print(outcome.line(), file=self.out, flush=True)

    def _hash_next(
        self, files: list[tuple[str, Path | None, str, str | None]], position: int
    ) -> None:
        """Start hashing the next file after `position` that will be read: not a sidecar,
        and not one whose stat says it is landed. Each file is looked at once."""
        self._next_to_hash = max(self._next_to_hash, position + 1)
        while self._next_to_hash < len(files):
            stream, path, relative, _ = files[self._next_to_hash]
            self._next_to_hash += 1
            if path is None or not stream:
                continue
            is_sidecar = getattr(STREAMS[stream], "is_sidecar", None)
            if is_sidecar is not None and is_sidecar(path):
                continue
            try:
                listed = path.stat()
            except OSError:
                continue  # its load says what happened
            if not stat.S_ISREG(listed.st_mode):
                continue  # replaced by a FIFO or device since the listing: never read ahead
            landed = self._landed_version(relative, listed.st_size, listed.st_mtime_ns)
            if not (landed and landed[3]):
                self.hash_ahead.start(path)
                return

    def _landed_version(
        self, relative: str, size: int, modified_ns: int
    ) -> tuple[str, str | None, int, bool] | None:
        """The landed version of a path: sha256, sidecar sha256, version, and whether the
        file's size and modification time are that version's (and had settled before
        that load began)."""
        found = self.con.execute(
            f"select f.file_sha256, f.sidecar_sha256, f.version, f.size_bytes = ? "
            "and f.modified_ns = ? and epoch_ns(l.started_at) - f.modified_ns > ? "
            f"from {RAW_SCHEMA}._ingest_files as f join {RAW_SCHEMA}._ingest_loads as l using (load_id) "
            "where f.source_path = ? and f.status = 'landed' order by f.version desc limit 1",
            [size, modified_ns, SETTLED_NS, relative],
        ).fetchall()
        return found[0] if found else None

    def _examine(
        self, stream: str, path: Path | None, relative: str, unreadable: str | None = None
    ) -> FileOutcome | _FileToLand:
        """What a landing folder entry is: an outcome already (not a stream's file, a
        sidecar, a landed file, one that cannot be read), or a file to land."""
        if not stream:
            return FileOutcome(relative, "", "ignored", "not an evidence stream folder")
        if path is None or unreadable is not None:
            outcome = FileOutcome(relative, stream, "rejected", unreadable or OUTSIDE_LANDING)
            self._record(outcome, "", None, None, 0, None, None)
            return outcome
        module = STREAMS[stream]
        is_sidecar = getattr(module, "is_sidecar", None)
        if is_sidecar is not None and is_sidecar(path):
            return FileOutcome(relative, stream, "sidecar", "read with the file it describes")
        find_sidecar = getattr(module, "sidecar_for", None)
        sidecar = find_sidecar(path) if find_sidecar is not None else None
        gone = _unreadable_reason(path)  # it may have changed since the listing
        if gone is not None:
            outcome = FileOutcome(relative, stream, "rejected", gone)
            self._record(outcome, "", None, None, 0, None, None)
            return outcome
        sidecar_sha = file_sha256(sidecar) if sidecar is not None else None
        listed = path.stat()
        size, modified_ns = listed.st_size, listed.st_mtime_ns
        previous = self._landed_version(relative, size, modified_ns)
        # A file whose size and modification time are those of its landed version, and which
        # had settled before that load began, is the landed file: history is not read again.
        stat_unchanged = bool(previous and previous[3] and previous[1] == sidecar_sha)
        sha = (
            previous[0]
            if previous and stat_unchanged
            else self.hash_ahead.sha256(path, size, modified_ns)
        )
        if previous and previous[0] == sha and previous[1] == sidecar_sha:
            reason = (
                "same size and modification time as the landed version"
                if stat_unchanged
                else "same sha256 already landed"
            )
            outcome = FileOutcome(relative, stream, "unchanged", reason)
            self._record(outcome, sha, sidecar, sidecar_sha, size, modified_ns, None)
            return outcome
        return _FileToLand(
            stream,
            path,
            relative,
            sha,
            size,
            modified_ns,
            sidecar,
            sidecar_sha,
            previous[2] if previous else None,
        )

    def _land(self, file: _FileToLand, alone: bool = False) -> FileOutcome | _FileToLand:
        """Land a file in one transaction (on a load worker's own connection). A file that
        runs out of memory beside another is handed back, to land again alone."""
        stream, path, relative, sha = file.stream, file.path, file.relative, file.sha
        sidecar, sidecar_sha = file.sidecar, file.sidecar_sha
        size, modified_ns = file.size, file.modified_ns
        module = STREAMS[stream]
        same_content = self.con.execute(
            f"select source_path from {RAW_SCHEMA}._ingest_files where file_sha256 = ? and stream = ? "
            "and status = 'landed' and superseded_by is null and source_path <> ? limit 1",
            [sha, stream, relative],
        ).fetchall()
        if same_content and sidecar is None:
            outcome = FileOutcome(
                relative,
                stream,
                "unchanged",
                f"same content already landed as {same_content[0][0]}",
            )
            self._record(outcome, sha, sidecar, sidecar_sha, size, modified_ns, None)
            return outcome
        previous = file.previous_version
        version = (previous + 1) if previous is not None else 1
        outcome = FileOutcome(relative, stream, "landed")
        self.con.execute("begin transaction")
        self.progress.start()
        try:
            detected = detect(path)
            outcome.detected_format = detected.format.value + (" gzip" if detected.gzipped else "")
            source = SourceFile(path, relative, detected, self.con, sidecar)
            tables_touched: set[str] = set()
            for table, batch in module.records(source):
                tables_touched.add(table.table)
                self._land_batch(table, batch, relative, sha, outcome)
                self.progress.update(relative, source.stats.bytes_read, size, outcome.rows_read)
            outcome.rows_skipped = source.stats.blank_lines
            if previous is not None:
                for table in module.TABLES:
                    for name in (table.table, f"{table.table}__quarantine"):
                        self.con.execute(
                            f"update {RAW_SCHEMA}.{name} set _superseded_by = ? "
                            "where _source_path = ? and _file_sha256 <> ? and _superseded_by is null",
                            [sha, relative, sha],
                        )
                self.con.execute(
                    f"update {RAW_SCHEMA}._ingest_files set superseded_by = ? "
                    "where source_path = ? and status = 'landed' and superseded_by is null",
                    [sha, relative],
                )
            self._record(outcome, sha, sidecar, sidecar_sha, size, modified_ns, version)
            self.con.execute("commit")
        except (RejectedFile, duckdb.Error, OSError, ValueError) as error:
            self.con.execute("rollback")
            if not alone and duckdb.OutOfMemoryException in (type(error), type(error.__cause__)):
                return file
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            if not isinstance(error, RejectedFile):
                reason = f"{type(error).__name__}: {reason}"
            outcome = FileOutcome(relative, stream, "rejected", reason, outcome.detected_format)
            self._record(outcome, sha, sidecar, sidecar_sha, size, modified_ns, None)
        finally:
            self.progress.done()
        return outcome

    def _land_batch(
        self, table: StreamTable, batch: pa.Table, relative: str, sha: str, outcome: FileOutcome
    ) -> None:
        # Batches reach DuckDB through replacement scans of these local Arrow tables,
        # never through register() or temp tables: inside the file's transaction a dropped
        # view or table is kept until commit, so memory would grow with the whole file
        # instead of staying bounded by one batch.
        _batch = batch  # read by name in the SQL below
        typed = typed_rows_sql(table, "_batch")
        params = {"salt": self.salt} if "$salt" in typed else {}
        columns = ", ".join(f'"{f.name}"' for f in table.fields)
        provenance = "_source_path, _file_sha256, _row_number, _load_id, _loaded_at"
        # one pass: the good rows go straight from the typed query into the table; the
        # query runs again, for the bad rows' reasons, only when some row was not landed
        landed = self.con.execute(
            f"insert into {RAW_SCHEMA}.{table.table} ({columns}, {provenance}) "
            f"select {columns}, $path, $sha, _row_number, $load_id, $loaded_at "
            f"from ({typed}) where _error_reason is null",
            {
                **params,
                "path": relative,
                "sha": sha,
                "load_id": self.load_id,
                "loaded_at": self.loaded_at,
            },
        ).fetchall()[0][0]
        rows_read = batch.num_rows
        bad_count = rows_read - int(landed)
        bad: list[tuple[Any, ...]] = []
        if bad_count:
            bad = self.con.execute(
                "select t._row_number, b._line, t._error_column, t._error_reason "
                f"from ({typed}) as t join _batch as b using (_row_number) "
                "where t._error_reason is not null order by t._row_number",
                params or None,
            ).fetchall()
        if bad:
            _quarantined = pa.table(
                {
                    "_row_number": pa.array([row[0] for row in bad], pa.int64()),
                    "raw_text": pa.array(
                        [
                            # a JSON line's record keeps its line end; the stored text does not
                            sanitize_record_text(row[1].removesuffix("\n"), table.content_keys)
                            for row in bad
                        ],
                        pa.string(),
                    ),
                    "error_column": pa.array([row[2] for row in bad], pa.string()),
                    "error_reason": pa.array([row[3] for row in bad], pa.string()),
                }
            )
            self.con.execute(
                f"insert into {RAW_SCHEMA}.{table.table}__quarantine "
                f"({provenance}, raw_text, error_column, error_reason) "
                "select ?, ?, _row_number, ?, ?, raw_text, error_column, error_reason from _quarantined",
                [relative, sha, self.load_id, self.loaded_at],
            )
        outcome.rows_read += rows_read
        outcome.rows_quarantined += bad_count
        outcome.rows_landed += rows_read - bad_count

    def _record(
        self,
        outcome: FileOutcome,
        sha: str,
        sidecar: Path | None,
        sidecar_sha: str | None,
        size: int,
        modified_ns: int | None,
        version: int | None,
    ) -> None:
        self.con.execute(
            f"insert into {RAW_SCHEMA}._ingest_files (load_id, source_path, file_sha256, "
            "sidecar_path, sidecar_sha256, stream, detected_format, size_bytes, modified_ns, "
            "status, reason, rows_read, rows_landed, rows_quarantined, rows_skipped, version, "
            "superseded_by, recorded_at) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null, ?)",
            [
                self.load_id,
                outcome.relative_path,
                sha,
                sidecar.relative_to(self.landing_dir).as_posix() if sidecar else None,
                sidecar_sha,
                outcome.stream,
                outcome.detected_format or None,
                size,
                modified_ns,
                outcome.status,
                outcome.reason or None,
                outcome.rows_read,
                outcome.rows_landed,
                outcome.rows_quarantined,
                outcome.rows_skipped,
                version,
                datetime.now(UTC),
            ],
        )


def ingest(
    landing_dir: Path,
    db_path: Path,
    project_dir: Path,
    out: TextIO | None = None,
) -> LoadReport:
    """Land every file of `landing_dir` into the DuckDB file at `db_path`."""
    if not landing_dir.is_dir():
        raise FileNotFoundError(f"landing folder not found: {landing_dir}")
    out = out or sys.stdout
    con = connect(db_path)
    try:
        loader = Loader(con, landing_dir, fingerprint_salt(project_dir), out, Progress())
        print(f"ingest {landing_dir} -> {db_path} (load {loader.load_id})", file=out, flush=True)
        report = loader.run()
    finally:
        con.close()
    print(
        f"ingest done: {len(report.files)} files, {report.total('rows_read'):,} rows read, "
        f"{report.total('rows_landed'):,} landed, {report.total('rows_quarantined'):,} quarantined, "
        f"{len(report.rejected)} files rejected",
        file=out,
        flush=True,
    )
    return report
