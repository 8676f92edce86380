"""Read landing files into records: (`_row_number`, `_line` = one JSON object as text).

Formats are detected from content. Large files stream in blocks so memory stays bounded;
every reader yields Arrow tables of at most `BLOCK_ROWS` records.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from ingest.fields import CSV_ERROR_KEY, INVALID_UTF8_MARKER

BLOCK_ROWS = 200_000
PARALLEL_BATCH_ROWS = 16_384
READ_BLOCK_BYTES = 16 * 1024 * 1024
SNIFF_BYTES = 256 * 1024
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
RECORD_SCHEMA = pa.schema([("_row_number", pa.int64()), ("_line", pa.string())])


class RejectedFile(Exception):
    """The whole file cannot be read; the message says why in one line."""


class Format(Enum):
    JSON_LINES = "json_lines"
    JSON_DOCUMENT = "json_document"
    CSV = "csv"
    PARQUET = "parquet"
    YAML = "yaml"


@dataclass(frozen=True)
class Detected:
    format: Format
    gzipped: bool


@dataclass
class LineStats:
    """Lines that are not records (blank lines); counted as skipped, never lost."""

    blank_lines: int = 0
    bytes_read: int = 0


def open_text_bytes(path: Path, gzipped: bool) -> IO[bytes]:
    if gzipped:
        return gzip.GzipFile(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _sniff(path: Path) -> tuple[bytes, bool]:
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if head.startswith(GZIP_MAGIC):
        try:
            with gzip.open(path, "rb") as handle:
                return handle.read(SNIFF_BYTES), True
        except (OSError, EOFError) as error:
            raise RejectedFile(f"unreadable gzip: {error}") from error
    return head, False


def detect(path: Path) -> Detected:
    """Detect the format of a landing file from its first bytes."""
    if path.stat().st_size == 0:
        raise RejectedFile("empty file")
    head, gzipped = _sniff(path)
    if head.startswith(PARQUET_MAGIC):
        return Detected(Format.PARQUET, gzipped)
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        raise RejectedFile("empty file (only whitespace)")
    # Detection only needs the shape: bad bytes are the readers' business (a JSON line
    # with them is quarantined; a CSV, JSON or YAML document with them is rejected).
    decoded = text.decode("utf-8", errors="replace")
    first = decoded[0]
    if first in "{[":
        lines = [line.strip() for line in decoded.splitlines() if line.strip()]
        # complete lines only: the sniff window may cut the last one
        complete = lines[:-1] if len(lines) > 2 else lines
        objects = [line for line in complete if line.startswith("{")]
        if (
            len(lines) > 1
            and lines[0].startswith("{")
            and (
                _parses(lines[0])
                or (not _parses(decoded) and any(_parses(line) for line in objects[1:6]))
            )
        ):
            return Detected(Format.JSON_LINES, gzipped)
        return Detected(Format.JSON_DOCUMENT, gzipped)
    first_line = decoded.splitlines()[0]
    if _looks_like_yaml(decoded):
        return Detected(Format.YAML, gzipped)
    if any(sep in first_line for sep in ",;\t"):
        return Detected(Format.CSV, gzipped)
    raise RejectedFile("unrecognised format (not JSON, JSON lines, CSV, Parquet or YAML)")


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _looks_like_yaml(text: str) -> bool:
    first_line = text.splitlines()[0].strip()
    if first_line == "---" or first_line.startswith("#"):
        return True
    key, sep, _ = first_line.partition(":")
    return bool(sep) and key.replace("_", "").replace("-", "").isalnum() and "," not in key


def _records_table(numbers: list[int], lines: list[str]) -> pa.Table:
    return pa.table(
        {"_row_number": pa.array(numbers, pa.int64()), "_line": pa.array(lines, pa.string())},
        schema=RECORD_SCHEMA,
    )


def json_lines(path: Path, gzipped: bool, stats: LineStats) -> Iterator[pa.Table]:
    """JSON lines in blocks of about `BLOCK_ROWS` records.

    A line ends at LF, CRLF or a lone CR (as `bytes.splitlines`); line numbers are exact.
    A record's `_line` keeps its line end (one LF), which JSON reads as whitespace.
    Blank lines are counted, not records. A line that is not valid UTF-8 becomes a record
    marked as such (it is quarantined, not dropped).
    """
    line_number = 0
    pending: list[pa.Array] = []
    pending_rows = 0
    splitter = _LineSplitter()
    try:
        with pa.input_stream(str(path), compression="gzip" if gzipped else None) as source:
            while True:
                chunk = source.read(READ_BLOCK_BYTES)
                stats.bytes_read += len(chunk)
                at_end = not chunk
                for lines in splitter.split(chunk, at_end):
                    pending.append(lines)
                    pending_rows += len(lines)
                if pending and (pending_rows >= BLOCK_ROWS or at_end):
                    if line_number == 0:
                        pending = _without_byte_order_mark(pending)
                    yield _lines_to_table(
                        pa.chunked_array(pending, pa.binary()), line_number, stats
                    )
                    line_number += pending_rows
                    pending, pending_rows = [], 0
                if at_end:
                    return
    except (pa.ArrowInvalid, OSError, EOFError) as error:
        message = str(error).splitlines()[0]
        if "gzip" in message.lower() or "compress" in message.lower() or gzipped:
            raise RejectedFile(f"truncated or corrupt gzip: {message}") from error
        raise RejectedFile(f"unreadable file: {message}") from error


def _without_byte_order_mark(lines: list[pa.Array]) -> list[pa.Array]:
    first = lines[0][0].as_py()
    if not first.startswith(b"\xef\xbb\xbf"):
        return lines
    return [pa.array([first[3:]], pa.binary()), lines[0].slice(1), *lines[1:]]


@dataclass
class _LineSplitter:
    """Cuts a byte stream into lines, each ending in one LF.

    The lines of a block are Arrow views of the block itself (offsets from numpy's scan
    for LF): no Python object and no copy per line. Only the line that straddles two
    blocks is copied. CR and CRLF are rewritten to LF first, in the rare block that
    has a CR.
    """

    unfinished: bytes = b""
    after_cr: bool = False  # the last block ended in CR: a LF opening this one is its pair

    def split(self, block: bytes, at_end: bool) -> list[pa.Array]:
        if self.after_cr and block.startswith(b"\n"):
            block = block[1:]
        self.after_cr = block.endswith(b"\r")
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if at_end and self.unfinished:
            block = b"\n"
        ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == ord("\n"))
        if not len(ends):
            self.unfinished += block
            return []
        last_end = int(ends[-1]) + 1
        lines = []
        start = 0
        if self.unfinished:
            # the line begun in an earlier block ends in this one
            start = int(ends[0]) + 1
            lines.append(pa.array([self.unfinished + block[:start]], pa.binary()))
            ends = ends[1:]
        if len(ends):
            offsets = np.concatenate(([start], ends + 1)).astype(np.int32)
            view = pa.Array.from_buffers(
                pa.binary(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(block)]
            )
            lines.append(view)
        self.unfinished = block[last_end:]
        return lines


def _lines_to_table(raw: pa.ChunkedArray, start: int, stats: LineStats) -> pa.Table:
    numbers = pa.array(range(start + 1, start + len(raw) + 1), pa.int64())
    text: pa.Array | pa.ChunkedArray
    try:
        text = raw.cast(pa.string())
    except pa.ArrowInvalid:
        # rare: some line is not UTF-8; decode this block line by line to mark it
        decoded = []
        for value in raw.to_pylist():
            try:
                decoded.append(value.decode("utf-8"))
            except UnicodeDecodeError as error:
                shown = value.decode("utf-8", errors="replace")
                decoded.append(f"{INVALID_UTF8_MARKER}byte {error.start}: {shown}")
        text = pa.array(decoded, pa.string())
    records = pa.table({"_row_number": numbers, "_line": text})
    # a blank line cannot start with "{": only the other lines are checked for blankness
    not_an_object = pc.invert(pc.starts_with(text, "{"))
    if pc.any(not_an_object).as_py():
        frame = pl.from_arrow(records)
        assert isinstance(frame, pl.DataFrame)
        blank = frame["_line"].str.strip_chars().str.len_bytes() == 0
        stats.blank_lines += int(blank.sum())
        records = frame.filter(~blank).to_arrow()
    # several record batches: DuckDB scans an Arrow table one batch per thread
    return parallel_batches(records)


def parallel_batches(records: pa.Table) -> pa.Table:
    """The same rows in batches of `PARALLEL_BATCH_ROWS`: DuckDB scans an Arrow table one
    batch per thread, so a single large batch would be read by one thread."""
    return pa.Table.from_batches(
        records.to_batches(max_chunksize=PARALLEL_BATCH_ROWS), schema=records.schema
    )


def records_from_python(items: list[Any]) -> pa.Table:
    """Small documents parsed in Python (YAML, balance JSON): one record per item."""
    lines = [json.dumps(item, default=_json_default, ensure_ascii=False) for item in items]
    return _records_table(list(range(1, len(lines) + 1)), lines)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def read_text(path: Path, gzipped: bool) -> str:
    """A whole (small) document as text; unreadable or non-UTF-8 files are rejected."""
    with open_text_bytes(path, gzipped) as handle:
        try:
            raw = handle.read()
        except (EOFError, OSError) as error:
            raise RejectedFile(f"truncated or unreadable file: {error}") from error
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RejectedFile(f"not UTF-8 text (byte {error.start}: {error.reason})") from error


def load_json_document(path: Path, gzipped: bool) -> Any:
    text = read_text(path, gzipped)
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as error:
        raise RejectedFile(f"malformed JSON document: {error}") from error


class _DecimalSafeLoader(yaml.SafeLoader):
    """YAML with floats read as exact decimals (tolerances and rates are money)."""


def _decimal_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except ArithmeticError:
        return text


_DecimalSafeLoader.add_constructor("tag:yaml.org,2002:float", _decimal_float)


def load_yaml_document(path: Path, gzipped: bool) -> list[Any]:
    text = read_text(path, gzipped)
    try:
        return [doc for doc in yaml.load_all(text, Loader=_DecimalSafeLoader) if doc is not None]
    except yaml.YAMLError as error:
        raise RejectedFile(f"malformed YAML: {str(error).splitlines()[0]}") from error


def csv_records(path: Path, gzipped: bool) -> Iterator[pa.Table]:
    """CSV rows as JSON objects of their text cells, keyed by the header.

    A row with the wrong number of fields or broken quoting becomes a record that says
    what was wrong, so it is quarantined rather than lost or silently padded. Row
    numbers count data rows from 1 (the header is not a row).
    """
    text = read_text(path, gzipped)
    first_line = text.split("\n", 1)[0].rstrip("\r")
    if not first_line.strip():
        raise RejectedFile("empty CSV (no header)")
    separator = _separator(first_line)
    yield from read_ahead(_csv_rows(text, separator))


def read_ahead(batches: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """The same batches, each next one prepared on a worker thread while the caller lands
    the one before: Python's CSV parser holds the GIL, DuckDB's insert releases it, so
    the two share the machine's cores. One batch waits at most (memory stays bounded);
    an error of the reader is raised to the caller at the batch where it happened."""
    ready: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(("batch", batch)):
                    return
            offer(("end", None))
        except Exception as error:  # raised again in the consuming thread
            offer(("error", error))

    worker = threading.Thread(target=produce, name="read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = ready.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()  # the caller stopped early (e.g. its insert failed): let the worker go
        worker.join()


def csv_header(path: Path, gzipped: bool) -> list[str]:
    with open_text_bytes(path, gzipped) as handle:
        first = handle.readline().decode("utf-8-sig", errors="replace").rstrip("\r\n")
    return [name.strip() for name in next(csv.reader([first], delimiter=_separator(first)))]


def _separator(header_line: str) -> str:
    counts = {sep: header_line.count(sep) for sep in ",;\t"}
    return max(counts, key=lambda sep: counts[sep])


def _csv_rows(text: str, separator: str) -> Iterator[pa.Table]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
    header = [name.strip() for name in next(reader)]
    last_line = reader.line_num
    if len(set(header)) != len(header):
        raise RejectedFile("CSV header repeats a column name")
    physical: list[str] | None = None  # split only if some record is broken
    # smaller blocks than JSON lines': read_ahead parses the next while this one lands
    block_rows = max(1, BLOCK_ROWS // 4)
    block = _CsvBlock(header)
    width = len(header)
    row_number = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            # keep the physical lines the broken record swallowed: quarantined, not lost
            if physical is None:
                physical = text.splitlines(keepends=True)
            swallowed = "".join(physical[last_line : max(reader.line_num, last_line + 1)])
            last_line = reader.line_num
            row_number += 1
            block.broken(row_number, {CSV_ERROR_KEY: str(error), "text": swallowed})
        else:
            last_line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            row_number += 1
            if len(row) == width:
                block.rows.append(row)
            else:
                message = f"expected {width} fields, found {len(row)}"
                block.broken(row_number, {CSV_ERROR_KEY: message, "text": separator.join(row)})
        if row_number - block.first_row_number + 1 >= block_rows:
            yield block.table()
            block = _CsvBlock(header, row_number + 1)
    if row_number >= block.first_row_number:
        yield block.table()


# what Python's str.strip() removes: a cell of nothing but these is missing
_WHITESPACE = "".join(chr(code) for code in range(0x110000) if chr(code).isspace())


@dataclass
class _CsvBlock:
    """A block of consecutive CSV records from `first_row_number`: well-formed rows are
    turned into JSON objects by polars; the rare broken record is encoded on its own."""

    header: list[str]
    first_row_number: int = 1
    rows: list[list[str]] = field(default_factory=list)
    broken_numbers: list[int] = field(default_factory=list)
    broken_lines: list[str] = field(default_factory=list)

    def broken(self, row_number: int, record: dict[str, str]) -> None:
        self.broken_numbers.append(row_number)
        self.broken_lines.append(json.dumps(record, ensure_ascii=False))

    def table(self) -> pa.Table:
        cells = pl.DataFrame(
            self.rows,
            schema=[(f"c{index}", pl.String) for index in range(len(self.header))],
            orient="row",
        )
        present = [
            pl.when(pl.col(f"c{index}").str.strip_chars(_WHITESPACE) != "")
            .then(pl.col(f"c{index}"))
            .alias(name)
            for index, name in enumerate(self.header)
        ]
        # the well-formed rows' numbers: the block's span less the broken records'
        numbers = pl.int_range(
            self.first_row_number,
            self.first_row_number + len(self.rows) + len(self.broken_numbers),
            dtype=pl.Int64,
            eager=True,
        )
        if self.broken_numbers:
            numbers = numbers.filter(~numbers.is_in(self.broken_numbers))
        encoded = cells.select(
            numbers.alias("_row_number"),
            pl.struct(present).struct.json_encode().alias("_line"),
        ).to_arrow()
        well_formed = encoded.cast(RECORD_SCHEMA)
        if not self.broken_numbers:
            return parallel_batches(well_formed)
        return parallel_batches(
            pa.concat_tables([well_formed, _records_table(self.broken_numbers, self.broken_lines)])
        )


def parquet_records(path: Path) -> Iterator[pa.Table]:
    """Parquet rows as JSON objects, every value rendered as text."""
    try:
        lazy = pl.scan_parquet(path)
        columns = lazy.collect_schema().names()
        frame = lazy.select(pl.all().cast(pl.String)).collect()
    except Exception as error:
        raise RejectedFile(f"unreadable Parquet: {str(error).splitlines()[0]}") from error
    records = frame.with_row_index("_row_number", offset=1).select(
        pl.col("_row_number").cast(pl.Int64),
        pl.struct(columns).struct.json_encode().alias("_line"),
    )
    for offset in range(0, records.height, BLOCK_ROWS):
        yield parallel_batches(records.slice(offset, BLOCK_ROWS).to_arrow())
