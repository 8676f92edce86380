"""The bad-input corpus: real ingest on every case of tests/bad_inputs/.

Each case folder holds a tiny landing folder (`landing/<stream>/<file>`) and, beside it,
`expected.json`: the outcome a careful tool gives that input (one clear line per rejected
file, every bad row quarantined with its column and reason, nothing lost, the rest of the
folder loaded). See tests/bad_inputs/README.md for the schema. A case whose current
behaviour falls short carries `"xfail": "<why>"` and is a strict expected failure, so
the day ingest is fixed the case turns red until its marker is removed.
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict, cast, get_origin, get_type_hints

import duckdb
import pytest

from ingest.loader import STREAMS, FileOutcome, LoadReport, ingest
from ingest.warehouse import RAW_SCHEMA

PROJECT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "bad_inputs"
SALT = "bad-input-corpus"

Status = Literal["landed", "rejected", "unchanged", "sidecar", "ignored"]


class FileExpectation(TypedDict):
    status: Status
    reason_contains: NotRequired[str]
    format: NotRequired[str]
    rows_read: NotRequired[int]
    rows_landed: NotRequired[int]
    rows_quarantined: NotRequired[int]
    rows_skipped: NotRequired[int]


class QuarantineExpectation(TypedDict):
    table: str
    file: str
    row: int
    column: str
    reason_contains: str
    raw_text_contains: NotRequired[str]


class LandedExpectation(TypedDict):
    sql: str
    equals: list[list[Any]]


class Expected(TypedDict):
    description: str
    xfail: NotRequired[str]
    files: dict[str, FileExpectation]
    quarantine: NotRequired[list[QuarantineExpectation]]
    landed: NotRequired[list[LandedExpectation]]


def _keys(kind: type, where: str, entry: object) -> None:
    """Fail loudly on a typo in expected.json instead of silently checking less."""
    assert isinstance(entry, dict), f"{where}: expected an object"
    hints = get_type_hints(kind, include_extras=True)
    required = {key for key, hint in hints.items() if get_origin(hint) is not NotRequired}
    unknown = set(entry) - set(hints)
    missing = required - set(entry)
    assert not unknown and not missing, f"{where}: unknown keys {unknown}, missing keys {missing}"


def load_expected(case: Path) -> Expected:
    raw = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    _keys(Expected, f"{case.name}/expected.json", raw)
    for path, entry in raw["files"].items():
        _keys(FileExpectation, f"{case.name}: files[{path}]", entry)
    for number, entry in enumerate(raw.get("quarantine", [])):
        _keys(QuarantineExpectation, f"{case.name}: quarantine[{number}]", entry)
    for number, entry in enumerate(raw.get("landed", [])):
        _keys(LandedExpectation, f"{case.name}: landed[{number}]", entry)
    return cast(Expected, raw)


def corpus_cases() -> list[Any]:
    params = []
    for case in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        expected = load_expected(case)
        marks = []
        if "xfail" in expected:
            marks.append(pytest.mark.xfail(reason=expected["xfail"], strict=True))
        params.append(pytest.param(case, expected, id=case.name, marks=marks))
    return params


def jsonable(value: object) -> object:
    """A query result in the terms expected.json can state (exact decimals as text)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def check_file(path: str, got: FileOutcome, want: FileExpectation, printed: str) -> None:
    where = f"{path}: {got}"
    assert got.status == want["status"], where
    if "reason_contains" in want:
        assert want["reason_contains"] in got.reason, where
    if "format" in want:
        assert got.detected_format == want["format"], where
    for count in ("rows_read", "rows_landed", "rows_quarantined", "rows_skipped"):
        if count in want:
            assert getattr(got, count) == want[count], f"{count} of {where}"
    if got.status == "rejected":
        # one clear line: the file and the reason, on a single line of the output
        assert "\n" not in got.reason and got.reason, where
        lines = [line for line in printed.splitlines() if line.startswith(f"  REJECTED   {path}:")]
        assert lines == [f"  REJECTED   {path}: {got.reason}"], printed


def check_registry(con: duckdb.DuckDBPyConnection, report: LoadReport) -> None:
    """raw._ingest_files records every file of the load as the report tells it; a sidecar
    is recorded on the row of the file it describes."""
    rows = con.execute(
        f"select source_path, status, rows_read, rows_landed, rows_quarantined, rows_skipped, "
        f"sidecar_path from {RAW_SCHEMA}._ingest_files where load_id = ?",
        [report.load_id],
    ).fetchall()
    registry = {row[0]: row[1:6] for row in rows}
    sidecars = {row[6] for row in rows if row[6]}
    for outcome in report.files:
        path = outcome.relative_path
        if outcome.status == "ignored":
            continue
        if outcome.status == "sidecar":
            assert path in sidecars, f"sidecar {path} is on no file's registry row"
            continue
        assert path in registry, f"{outcome.status} file {path} is missing from the registry"
        assert registry[path] == (
            outcome.status,
            outcome.rows_read,
            outcome.rows_landed,
            outcome.rows_quarantined,
            outcome.rows_skipped,
        ), outcome


def raw_table_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    found = con.execute(
        "select table_name from information_schema.tables where table_schema = ?", [RAW_SCHEMA]
    ).fetchall()
    return {name for (name,) in found}


def check_conservation(con: duckdb.DuckDBPyConnection, report: LoadReport) -> None:
    """Per file: read = landed + quarantined, and the raw tables hold exactly those rows
    (none at all for a file that did not land)."""
    existing = raw_table_names(con)
    for outcome in report.files:
        assert outcome.rows_read == outcome.rows_landed + outcome.rows_quarantined, outcome
        if not outcome.stream:
            continue
        counts = {"landed": 0, "quarantined": 0}
        for table in STREAMS[outcome.stream].TABLES:
            for name, kind in (
                (table.table, "landed"),
                (f"{table.table}__quarantine", "quarantined"),
            ):
                if name in existing:
                    found = con.execute(
                        f"select count(*) from {RAW_SCHEMA}.{name} where _source_path = ?",
                        [outcome.relative_path],
                    ).fetchone()
                    counts[kind] += found[0] if found else 0
        if outcome.status == "landed":
            want = {"landed": outcome.rows_landed, "quarantined": outcome.rows_quarantined}
        else:
            want = {"landed": 0, "quarantined": 0}
        assert counts == want, f"raw rows {counts} for {outcome}"


def quarantined_rows(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int, str, str, str]]:
    tables = con.execute(
        "select table_name from information_schema.tables "
        "where table_schema = ? and table_name like '%\\_\\_quarantine' escape '\\' order by 1",
        [RAW_SCHEMA],
    ).fetchall()
    rows: list[tuple[str, str, int, str, str, str]] = []
    for (name,) in tables:
        rows += con.execute(
            f"select ?, _source_path, _row_number, error_column, error_reason, raw_text "
            f"from {RAW_SCHEMA}.{name} order by _source_path, _row_number",
            [name.removesuffix("__quarantine")],
        ).fetchall()
    return rows


def check_quarantine(con: duckdb.DuckDBPyConnection, expected: list[QuarantineExpectation]) -> None:
    """Exactly the expected rows are quarantined, each with its column, reason and text."""
    actual = {(row[0], row[1], row[2]): row[3:] for row in quarantined_rows(con)}
    wanted = {(q["table"], q["file"], q["row"]): q for q in expected}
    assert sorted(actual) == sorted(wanted), f"quarantined rows: {actual}"
    for key, want in wanted.items():
        column, reason, raw_text = actual[key]
        assert column == want["column"], (key, column, reason)
        assert want["reason_contains"] in reason, (key, column, reason)
        assert raw_text, f"{key}: the original text was not kept"
        if "raw_text_contains" in want:
            assert want["raw_text_contains"] in raw_text, (key, raw_text)


def check_landed(con: duckdb.DuckDBPyConnection, expected: list[LandedExpectation]) -> None:
    for check in expected:
        rows = [jsonable(row) for row in con.execute(check["sql"]).fetchall()]
        assert rows == check["equals"], check["sql"]


@pytest.mark.parametrize(("case", "expected"), corpus_cases())
def test_bad_input_case(
    case: Path, expected: Expected, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMETRECON_FINGERPRINT_SALT", SALT)
    db = tmp_path / "wh.duckdb"
    out = io.StringIO()
    report = ingest(case / "landing", db, PROJECT, out=out)
    printed = out.getvalue()

    outcomes = {outcome.relative_path: outcome for outcome in report.files}
    assert sorted(outcomes) == sorted(expected["files"]), printed
    for path, want in expected["files"].items():
        check_file(path, outcomes[path], want, printed)

    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        check_conservation(con, report)
        check_registry(con, report)
        check_quarantine(con, expected.get("quarantine", []))
        check_landed(con, expected.get("landed", []))


def test_corpus_is_large_and_every_case_is_tiny() -> None:
    cases = [p for p in CORPUS.iterdir() if p.is_dir()]
    assert len(cases) >= 40
    for case in cases:
        assert (case / "expected.json").is_file(), case
        assert (case / "landing").is_dir(), case
        for path in case.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert path.stat().st_size <= 4096, f"{path} is not tiny"
