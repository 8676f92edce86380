"""Ingestion: every stream and format lands, bad input is quarantined or rejected with a
reason, nothing is lost, loads are idempotent and atomic, and no secret lands."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from landing_builder import BAD_ATTEMPT_LINES, GOOD_ATTEMPTS, PLANTED, write_all

from ingest import app_requests, loader, readers
from ingest.loader import HashAhead, LoadReport, file_sha256, ingest
from ingest.sanitize import redact, redact_sql
from ingest.source import SourceFile

PROJECT = Path(__file__).resolve().parents[1]


def run_ingest(landing: Path, db: Path) -> tuple[LoadReport, str]:
    out = io.StringIO()
    report = ingest(landing, db, PROJECT, out=out)
    return report, out.getvalue()


@pytest.fixture()
def landed(tmp_path: Path) -> tuple[Path, Path, LoadReport, str]:
    landing = tmp_path / "landing"
    write_all(landing)
    db = tmp_path / "wh.duckdb"
    report, printed = run_ingest(landing, db)
    return landing, db, report, printed


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


def test_every_stream_lands_with_expected_counts(
    landed: tuple[Path, Path, LoadReport, str],
) -> None:
    _, db, report, _ = landed
    assert not report.rejected
    counts = dict(
        query(db, "select source_path, rows_landed from raw._ingest_files where status = 'landed'")
    )
    assert counts == {
        "app_requests/attempts.jsonl.gz": len(GOOD_ATTEMPTS),
        "billing/balance_2026-05-11.json": 2,
        "billing/billing_usage.json": 1,
        "billing/focus_2026-05.csv": 2,
        "changes/changes.csv": 2,
        "contracts/cometapi.yaml": 3,  # 1 contract + 2 endpoints
        "gateway_logs/cli_logs.jsonl": 1,
        "gateway_logs/export.csv": 3,
        "gateway_logs/log_self_p1.json": 5,
        "incidents/inc.yaml": 1,
        "pricing/catalog_2026-05-11.json": 2,
        "pricing/rate_sheet.csv": 2,
        "usage_ledger/ledger.csv": 2,
    }


def test_rows_read_equal_landed_plus_quarantined(
    landed: tuple[Path, Path, LoadReport, str],
) -> None:
    _, db, report, printed = landed
    for outcome in report.files:
        assert outcome.rows_read == outcome.rows_landed + outcome.rows_quarantined, outcome
    # and the raw tables hold exactly those rows
    landed_rows = query(
        db,
        "select count(*) from raw.app_requests where _source_path = 'app_requests/attempts.jsonl.gz'",
    )[0][0]
    quarantined_rows = query(
        db,
        "select count(*) from raw.app_requests__quarantine where _source_path = 'app_requests/attempts.jsonl.gz'",
    )[0][0]
    assert (landed_rows, quarantined_rows) == (len(GOOD_ATTEMPTS), len(BAD_ATTEMPT_LINES))
    assert "read 13  landed 6  quarantined 7  skipped 1" in printed


def test_bad_rows_are_quarantined_with_column_and_reason(
    landed: tuple[Path, Path, LoadReport, str],
) -> None:
    _, db, _, _ = landed
    rows = query(
        db,
        "select _row_number, error_column, error_reason from raw.app_requests__quarantine order by 1",
    )
    assert len(rows) == len(BAD_ATTEMPT_LINES)
    for (_, column, reason), (_, expected_column, fragment) in zip(
        rows, BAD_ATTEMPT_LINES, strict=True
    ):
        assert column == expected_column
        assert fragment in reason
    # line numbers are the file's own, blank line included
    assert rows[0][0] == len(GOOD_ATTEMPTS) + 2
    other = dict(query(db, "select error_column, error_reason from raw.usage_ledger__quarantine"))
    assert other == {"input_tokens": "negative token count", "$": "expected 9 fields, found 3"}
    focus = query(db, "select error_column, error_reason from raw.focus_charges__quarantine")
    assert focus == [
        ("charge_period_start", "cannot read 2026-05-11 08:00:00 as a timestamp with a UTC offset")
    ]
    rates = query(db, "select error_column, error_reason from raw.rate_sheet__quarantine")
    assert rates == [("dimension", "unknown billable dimension")]
    gateway = query(db, "select error_column, error_reason from raw.gateway_logs__quarantine")
    assert gateway == [("prompt_tokens", "cannot read 12.5 as an integer")]


def test_typed_values_are_exact(landed: tuple[Path, Path, LoadReport, str]) -> None:
    _, db, _, _ = landed
    sent, offset, fingerprint, headers = query(
        db,
        "select sent_at, sent_at_offset, credential_fingerprint, request_header_names "
        "from raw.app_requests where request_id = 'req-0001'",
    )[0]
    assert str(sent) == "2026-05-11 08:01:02.120000+00:00"
    assert offset == "+02:00"
    assert fingerprint and len(fingerprint) == 64
    assert headers == ["authorization", "content-type"]
    billed, currency, extensions = query(
        db,
        "select billed_cost, billing_currency, extensions_json from raw.focus_charges order by charge_period_start desc",
    )[0]
    assert billed == Decimal("12.345678") and currency == "USD"
    assert json.loads(extensions) == {"x_GroupRatio": "owner [REDACTED_EMAIL]"}
    assert query(db, "select quota_used_usd from raw.balance_daily_quota order by 1") == [
        (Decimal("10.5"),),
        (Decimal("2105.234088"),),
    ]
    ratio, semantic, status = query(
        db,
        "select model_ratio, usage_semantic, other_status from raw.gateway_logs where request_id = 'cid-0001'",
    )[0]
    assert ratio == Decimal("0.075") and semantic is None and status == "valid"
    # `other` keys without a column of their own are kept (redacted); `admin_info` never
    extra = dict(
        query(
            db,
            "select request_id, other_extra_json from raw.gateway_logs where request_id like 'cid-000%'",
        )
    )
    assert extra["cid-0001"] is None
    assert json.loads(extra["cid-0004"]) == {
        "task_id": "task-77",
        "pre_consumed": 1500,
        "quota_delta": -262,
        "note": "owner [REDACTED_EMAIL]",
    }
    # an `other` that is not JSON keeps the billed row, with its ratios unknown
    assert query(db, "select other_status, quota from raw.gateway_logs where log_type = 5") == [
        ("invalid", 0)
    ]
    assert query(
        db, "select log_type, record_shape from raw.gateway_logs where request_id = 'cid-0100'"
    ) == [(2, "cli_record")]
    assert query(db, "select timezone, timezone_source from raw.usage_ledger limit 1") == [
        ("Europe/Berlin", "sidecar")
    ]
    assert query(
        db,
        "select input_usd_per_unit, captured_at::varchar from raw.pricing_catalog where model_id = 'gpt-4o-mini'",
    ) == [(Decimal("0.15"), "2026-05-11 11:08:00+00")]
    document = json.loads(query(db, "select document_json from raw.api_contracts")[0][0])
    assert document["x_reviewer_note"] == "kept though unknown"


def test_secrets_and_content_never_reach_the_warehouse(
    landed: tuple[Path, Path, LoadReport, str],
) -> None:
    _, db, _, _ = landed
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    for name, value in PLANTED.items():
        assert value.encode() not in stored, f"planted {name} reached the warehouse"
    # fingerprints did land
    assert (
        query(db, "select count(distinct credential_fingerprint) from raw.app_requests")[0][0] == 2
    )


def test_unreadable_files_are_rejected_and_the_rest_loads(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_all(landing)
    bad = landing / "app_requests"
    (bad / "empty.jsonl").write_bytes(b"")
    (bad / "truncated.jsonl.gz").write_bytes(gzip.compress(b'{"a": 1}\n' * 5000)[:-40])
    (bad / "latin1.csv").write_bytes("request_id,model\nr1,caf\xe9\n".encode("latin-1"))
    (landing / "billing" / "notes.txt").write_text("just some words\n")
    report, printed = run_ingest(landing, tmp_path / "wh.duckdb")
    rejected = {f.relative_path: f.reason for f in report.rejected}
    assert rejected == {
        "app_requests/empty.jsonl": "empty file",
        "app_requests/latin1.csv": "app_requests expects JSON lines, found csv",
        "app_requests/truncated.jsonl.gz": rejected["app_requests/truncated.jsonl.gz"],
        "billing/notes.txt": "unrecognised format (not JSON, JSON lines, CSV, Parquet or YAML)",
    }
    assert (
        "truncated" in rejected["app_requests/truncated.jsonl.gz"]
        or "gzip" in rejected["app_requests/truncated.jsonl.gz"]
    )
    assert "REJECTED   app_requests/empty.jsonl: empty file" in printed
    landed_files = [f for f in report.files if f.status == "landed"]
    assert len(landed_files) == 13
    # a rejected file lands no row at all
    assert query(
        tmp_path / "wh.duckdb",
        "select count(*) from raw.app_requests where _source_path like '%truncated%'",
    ) == [(0,)]


def test_a_ledger_sidecar_declares_its_conventions_and_a_bad_one_is_rejected(
    tmp_path: Path,
) -> None:
    """A sidecar may declare what each ledger column holds (docs/attribution.md): the
    declaration lands beside every row of its file; an unknown column or value rejects that
    file with a reason naming it, and the other ledger lands."""
    folder = tmp_path / "landing" / "usage_ledger"
    folder.mkdir(parents=True)
    header = "bucket_start,bucket_minutes,tenant,model,input_tokens,cached_tokens,output_tokens,request_count,ledger_source\n"
    (folder / "declared.csv").write_text(
        header + "2026-05-11 10:00:00,30,acme,gpt-4o,100,20,50,2,sheet\n"
    )
    (folder / "declared.sidecar.json").write_text(
        json.dumps(
            {
                "timezone": "Asia/Kolkata",
                "convention": {
                    "input_tokens": "includes_cache_reads",
                    "output_tokens": "reasoning_twice",
                },
            }
        )
    )
    (folder / "wrong.csv").write_text(
        header + "2026-05-11 10:00:00,30,acme,gpt-4o,100,20,50,2,sheet\n"
    )
    (folder / "wrong.sidecar.yaml").write_text("convention:\n  cached_tokens: reads_plus_writes\n")
    report, _ = run_ingest(tmp_path / "landing", tmp_path / "wh.duckdb")
    rejected = {f.relative_path: f.reason for f in report.rejected}
    assert list(rejected) == ["usage_ledger/wrong.csv"]
    assert "cached_tokens='reads_plus_writes'" in rejected["usage_ledger/wrong.csv"]
    assert "reads, reads_and_writes, absent" in rejected["usage_ledger/wrong.csv"]
    assert query(
        tmp_path / "wh.duckdb",
        "select timezone, declared_input_tokens_convention, declared_cached_tokens_convention, "
        "declared_output_tokens_convention, declared_request_count_convention from raw.usage_ledger",
    ) == [("Asia/Kolkata", "includes_cache_reads", None, "reasoning_twice", None)]


def test_a_failure_mid_file_leaves_no_partial_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    (landing / "app_requests").mkdir(parents=True)
    line = json.dumps(GOOD_ATTEMPTS[0]) + "\n"
    payload = gzip.compress((line * 3000).encode())
    (landing / "app_requests" / "big.jsonl.gz").write_bytes(payload[: len(payload) - 8])
    # small blocks, so several batches land inside the transaction before the error
    monkeypatch.setattr(readers, "READ_BLOCK_BYTES", 64 * 1024)
    monkeypatch.setattr(readers, "BLOCK_ROWS", 100)
    report, _ = run_ingest(landing, tmp_path / "wh.duckdb")
    assert [f.status for f in report.files] == ["rejected"]
    assert query(tmp_path / "wh.duckdb", "select count(*) from raw.app_requests") == [(0,)]
    assert query(tmp_path / "wh.duckdb", "select count(*) from raw.app_requests__quarantine") == [
        (0,)
    ]


def _landed_rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every raw table's rows, less what differs between two loads (load id and times)."""
    per_load = ("_load_id", "_loaded_at", "load_id", "recorded_at", "started_at", "finished_at")
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'raw' order by 1"
            ).fetchall()
        ]
        rows = {}
        for table in tables:
            columns = ", ".join(
                f'"{row[0]}"'
                for row in con.execute(
                    "select column_name from duckdb_columns() where schema_name = 'raw' "
                    "and table_name = ? order by column_index",
                    [table],
                ).fetchall()
                if row[0] not in per_load
            )
            rows[table] = con.execute(f"select {columns} from raw.{table} order by all").fetchall()
    return rows


def test_files_landing_at_once_land_what_landing_in_order_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    write_all(landing)
    # a copy, next in folder order, lands beside its original: it must still be "already
    # landed", not land twice
    pages = sorted((landing / "gateway_logs").glob("*.json"))
    copy = f"{pages[0].stem}_copy.json"
    (landing / "gateway_logs" / copy).write_bytes(pages[0].read_bytes())
    (landing / "app_requests" / "broken.jsonl.gz").write_bytes(b"\x1f\x8b\x08 not gzip")
    loads = {}
    for workers in (1, 2):
        monkeypatch.setattr(loader, "LOAD_WORKERS", workers)
        db = tmp_path / f"wh_{workers}.duckdb"
        report, printed = run_ingest(landing, db)
        outcomes = [(f.relative_path, f.status, f.reason, f.rows_landed) for f in report.files]
        loads[workers] = (outcomes, printed.splitlines()[1:-1], _landed_rows(db))
    in_order, at_once = loads[1], loads[2]
    assert at_once[0] == in_order[0]
    assert at_once[1] == in_order[1]  # the same lines, in folder order
    assert at_once[2] == in_order[2]
    statuses = {path: (status, reason) for path, status, reason, _ in at_once[0]}
    assert statuses[f"gateway_logs/{copy}"] == (
        "unchanged",
        f"same content already landed as gateway_logs/{pages[0].name}",
    )
    assert statuses["app_requests/broken.jsonl.gz"][0] == "rejected"
    assert sum(len(rows) for rows in at_once[2].values()) > 50


def test_a_file_out_of_memory_beside_another_lands_again_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    write_all(landing)
    expected, _ = run_ingest(landing, tmp_path / "in_order.duckdb")
    first_app_file = sorted((landing / "app_requests").iterdir())[0]
    real_records = app_requests.records
    attempts = []

    def out_of_memory_once(source: SourceFile) -> Iterator[tuple[object, pa.Table]]:
        attempts.append((source.path.name, threading.current_thread().name))
        if source.path == first_app_file and len(attempts) == 1:
            raise duckdb.OutOfMemoryException("failed to allocate data of size 16.0 MiB")
        yield from real_records(source)

    monkeypatch.setattr(app_requests, "records", out_of_memory_once)
    db = tmp_path / "wh.duckdb"
    report, printed = run_ingest(landing, db)
    # tried beside another file on a load worker, then again alone on the loading thread
    assert attempts[0] == (first_app_file.name, attempts[0][1])
    assert attempts[0][1].startswith("load")
    assert (first_app_file.name, threading.current_thread().name) in attempts[1:]
    outcomes = [(f.relative_path, f.status, f.rows_landed) for f in report.files]
    assert outcomes == [(f.relative_path, f.status, f.rows_landed) for f in expected.files]
    assert printed.count(first_app_file.name) == 1
    registry = query(
        db,
        "select status, rows_landed from raw._ingest_files where source_path = "
        f"'app_requests/{first_app_file.name}'",
    )
    landed = next(f for f in expected.files if f.relative_path.endswith(first_app_file.name))
    assert registry == [("landed", landed.rows_landed)]


def test_same_file_again_lands_nothing_and_a_changed_file_supersedes(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_all(landing)
    an_hour_ago = time.time_ns() - 3600 * 10**9
    for path in landing.rglob("*"):
        os.utime(path, ns=(an_hour_ago, an_hour_ago))
    db = tmp_path / "wh.duckdb"
    run_ingest(landing, db)
    again, _ = run_ingest(landing, db)
    assert {f.status for f in again.files} <= {"unchanged", "sidecar"}
    assert {f.reason for f in again.files if f.status == "unchanged"} == {
        "same size and modification time as the landed version"  # not read, not hashed
    }
    assert again.total("rows_landed") == 0
    ledger = landing / "usage_ledger" / "ledger.csv"
    ledger.write_text(ledger.read_text().replace("2210400", "2210500"))  # same size
    third, _ = run_ingest(landing, db)
    changed = [f for f in third.files if f.status == "landed"]
    assert [f.relative_path for f in changed] == ["usage_ledger/ledger.csv"]
    rows = query(
        db,
        "select input_tokens, _superseded_by is null as current from raw.usage_ledger "
        "where bucket_start_text = '2026-05-11 10:00:00' order by current",
    )
    assert rows == [(2210400, False), (2210500, True)]  # the old version stays, marked
    assert query(
        db,
        "select max(version) from raw._ingest_files where source_path = 'usage_ledger/ledger.csv'",
    ) == [(2,)]


def test_a_file_changed_just_after_landing_is_hashed_not_trusted_by_its_stat(
    tmp_path: Path,
) -> None:
    """The same size and modification time, but the file was landed within the clock's
    granularity of its last change: its content is compared, so the change is seen."""
    landing = tmp_path / "landing"
    write_all(landing)
    db = tmp_path / "wh.duckdb"
    run_ingest(landing, db)
    ledger = landing / "usage_ledger" / "ledger.csv"
    landed_stat = ledger.stat()
    ledger.write_text(ledger.read_text().replace("2210400", "2210500"))
    os.utime(ledger, ns=(landed_stat.st_atime_ns, landed_stat.st_mtime_ns))
    again, _ = run_ingest(landing, db)
    assert [f.relative_path for f in again.files if f.status == "landed"] == [
        "usage_ledger/ledger.csv"
    ]
    assert {f.reason for f in again.files if f.status == "unchanged"} == {
        "same sha256 already landed"
    }


def test_format_is_detected_from_content_not_name(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "usage_ledger").mkdir(parents=True)
    (landing / "usage_ledger" / "ledger.json").write_text(
        "bucket_start,bucket_minutes,timezone,tenant,model,input_tokens,output_tokens,request_count\n"
        "2026-05-11T10:00:00+02:00,60,,acme,m,10,5,1\n"
    )
    (landing / "app_requests").mkdir(parents=True)
    (landing / "app_requests" / "log.txt").write_text(
        json.dumps(GOOD_ATTEMPTS[0]) + "\n" + json.dumps(GOOD_ATTEMPTS[1]) + "\n"
    )
    report, _ = run_ingest(landing, tmp_path / "wh.duckdb")
    formats = {f.relative_path: f.detected_format for f in report.files}
    assert formats == {"app_requests/log.txt": "json_lines", "usage_ledger/ledger.json": "csv"}
    assert query(
        tmp_path / "wh.duckdb", "select timezone_source, bucket_start_offset from raw.usage_ledger"
    ) == [("offset", "+02:00")]


def test_paths_outside_the_landing_folder_are_not_read(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "changes").mkdir(parents=True)
    outside = tmp_path / "outside.csv"
    outside.write_text("changed_at,kind\n2026-05-11T07:55:00Z,secret\n")
    (landing / "changes" / "link.csv").symlink_to(outside)
    report, _ = run_ingest(landing, tmp_path / "wh.duckdb")
    assert [(f.relative_path, f.status) for f in report.files] == [("changes/link.csv", "rejected")]
    assert query(tmp_path / "wh.duckdb", "select count(*) from raw.changes") == [(0,)]


def test_csv_export_lands_block_by_block_with_row_numbers_blank_cells_and_broken_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "BLOCK_ROWS", 2)  # several blocks from six records
    landing = tmp_path / "landing"
    (landing / "gateway_logs").mkdir(parents=True)
    header = "created_at,type,model_name,quota,request_id,token_name,content\n"
    (landing / "gateway_logs" / "export.csv").write_text(
        header
        + "1778490000,consume,m,100,r1,prod,plain\n"
        + "1778490001,consume,m,200,r2,\u3000,\n"  # whitespace-only and empty cells
        + "\n"  # a blank line is skipped, not a record
        + '1778490002,consume,m,300,"r3"x,prod,c\n'  # broken quoting
        + "1778490003,consume,m,400,r4\n"  # too few fields
        + '1778490004,consume,m,500,r5,prod,"two\nlines, mail a@b.example"\n'
        + "1778490005,consume,m,600,r6,prod,last\n",
        encoding="utf-8",
    )
    db = tmp_path / "wh.duckdb"
    report, _ = run_ingest(landing, db)
    assert [(f.rows_read, f.rows_landed, f.rows_quarantined) for f in report.files] == [(6, 4, 2)]
    assert query(
        db,
        "select _row_number, request_id, quota, token_name, content "
        "from raw.gateway_logs order by _row_number",
    ) == [
        (1, "r1", 100, "prod", "plain"),
        (2, "r2", 200, None, None),
        (5, "r5", 500, "prod", "two\nlines, mail [REDACTED_EMAIL]"),
        (6, "r6", 600, "prod", "last"),
    ]
    assert query(
        db,
        "select _row_number, error_column, error_reason "
        "from raw.gateway_logs__quarantine order by _row_number",
    ) == [
        (3, "$", "',' expected after '\"'"),
        (4, "$", "expected 7 fields, found 5"),
    ]


def test_read_ahead_hands_over_every_batch_and_the_readers_error_where_it_happened() -> None:
    def batches() -> Iterator[pa.Table]:
        for number in range(3):
            yield pa.table({"n": [number]})
        raise readers.RejectedFile("broken at the fourth block")

    received = []
    with pytest.raises(readers.RejectedFile, match="fourth block"):
        for batch in readers.read_ahead(batches()):
            received.append(batch["n"][0].as_py())
    assert received == [0, 1, 2]
    # a caller that stops early (its insert failed) lets the worker go: no thread left
    early = readers.read_ahead(pa.table({"n": [n]}) for n in range(100))
    assert next(early)["n"][0].as_py() == 0
    early.close()
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_a_file_changed_after_it_was_hashed_ahead_is_hashed_again(tmp_path: Path) -> None:
    path = tmp_path / "attempts.jsonl"
    path.write_text("first version\n")
    hash_ahead = HashAhead()
    try:
        hash_ahead.start(path)
        first = path.stat()
        assert hash_ahead.sha256(path, first.st_size, first.st_mtime_ns) == file_sha256(path)
        hash_ahead.start(path)
        hash_ahead._hashing[path].result()  # hashed before the change below
        path.write_text("second, longer version\n")
        second = path.stat()
        assert hash_ahead.sha256(path, second.st_size, second.st_mtime_ns) == (
            hashlib.sha256(b"second, longer version\n").hexdigest()
        )
    finally:
        hash_ahead.close()


def test_sql_redaction_matches_the_python_redaction_and_skips_clean_text() -> None:
    texts = [
        "Authorization: BEARER abcdefghij and bearer  zyxwvu123",
        "key sk-abcdef123 in the middle",
        'json {"owner": "a.b+c@mail.example.org", "x": 1}',
        "nothing to hide: 3 @ 4 sk- bearer",
        "模型倍率 0.075，补全倍率 4",
        "",
    ]
    with duckdb.connect() as con:
        redacted = con.execute(
            f"select {redact_sql('text')} from unnest(?::VARCHAR[]) as t(text)", [texts]
        ).fetchall()
        assert [row[0] for row in redacted] == [redact(text) for text in texts]
        assert redacted[0][0] == "Authorization: Bearer [REDACTED] and Bearer [REDACTED]"
        assert con.execute(f"select {redact_sql('null::VARCHAR')}").fetchall() == [(None,)]


def test_parquet_ledger_lands_like_csv(tmp_path: Path) -> None:
    import polars as pl

    landing = tmp_path / "landing"
    (landing / "usage_ledger").mkdir(parents=True)
    frame = pl.DataFrame(
        {
            "bucket_start": [datetime(2026, 5, 11, 10), datetime(2026, 5, 11, 11)],
            "bucket_minutes": [60, 60],
            "timezone": ["America/New_York", "America/New_York"],
            "tenant": ["acme", "acme"],
            "model": ["gpt-4o-mini", "gpt-4o-mini"],
            "input_tokens": [100, -1],
            "output_tokens": [10, 1],
            "request_count": [3, 1],
        }
    )
    frame.write_parquet(landing / "usage_ledger" / "ledger.data")
    report, _ = run_ingest(landing, tmp_path / "wh.duckdb")
    (outcome,) = report.files
    assert (outcome.detected_format, outcome.rows_landed, outcome.rows_quarantined) == (
        "parquet",
        1,
        1,
    )
    assert query(
        tmp_path / "wh.duckdb",
        "select bucket_start_local::varchar, timezone, timezone_source from raw.usage_ledger",
    ) == [("2026-05-11 10:00:00", "America/New_York", "column")]


def test_cli_exit_code_says_a_file_was_rejected(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_all(landing)
    cli = [
        sys.executable,
        "-m",
        "cometrecon.cli",
        "ingest",
        str(landing),
        "--db",
        str(tmp_path / "wh.duckdb"),
    ]
    clean = subprocess.run(cli, capture_output=True, text=True, check=False)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    (landing / "billing" / "broken.json").write_text('{"total_usage": ')
    rejected = subprocess.run(cli, capture_output=True, text=True, check=False)
    assert rejected.returncode == 1
    assert "REJECTED   billing/broken.json: malformed JSON document" in rejected.stdout
    assert "unchanged  app_requests/attempts.jsonl.gz" in rejected.stdout
    missing = subprocess.run(
        [*cli[:4], str(tmp_path / "nope")], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 2
    assert "landing folder not found" in missing.stderr


REDACTION_SAMPLES = (
    "mail dana.whitfield@northwind-demo.example now",
    "x@y.co, user@sub.domain.org. and user@domain.comX1",
    "key Sk-ABCDEFGHijkl, sk-ant-api03-AbCdEfGh, SK-lower and sk%2DABCDEFGH12",
    "https://generativelanguage.googleapis.com/v1?key=AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "Authorization: Bearer abcdef123456.xyz and bearer\tTOKEN1234",
    "a@b..co and %%%a@b.co and plain text without secrets",
)


@pytest.mark.parametrize("text", REDACTION_SAMPLES)
def test_python_and_duckdb_redaction_agree_on_every_credential_shape(text: str) -> None:
    """Free text is redacted in SQL at ingest and in Python for quarantined rows: both
    engines must remove the same keys, tokens and addresses."""
    with duckdb.connect() as con:
        (in_sql,) = con.execute(
            f"select {redact_sql('t')} from (select ?::varchar as t)", [text]
        ).fetchone() or ("",)
    assert redact(text) == in_sql
    for secret in ("northwind-demo", "ABCDEFGH", "AIzaSy", "abcdef123456", "TOKEN1234"):
        assert secret not in in_sql


@pytest.mark.parametrize(
    "text",
    [
        "a" * 1_000_000,
        ("a" * 50 + "@") * 20_000,
        "a@" + "b." * 500_000 + "1",
        "x.y" * 300_000,
    ],
    ids=["no-at", "many-ats", "long-domain", "dotted"],
)
def test_redaction_of_a_megabyte_of_adversarial_text_finishes(text: str) -> None:
    """The e-mail pattern once backtracked quadratically (1 MB took about 40 minutes); it
    now reads each character a bounded number of times. Not timed: a regression would hang
    this test far past the suite's time, which is how it fails."""
    assert redact(text).count("[REDACTED_EMAIL]") <= text.count("@")


def test_the_sidecar_conventions_are_the_seeds_candidates_in_their_order() -> None:
    """A ledger sidecar is checked against ingest's list; the models choose among the
    `ledger_conventions` seed's candidates: one vocabulary, in one order of preference."""
    import csv

    from ingest.usage_ledger import CONVENTIONS

    with (PROJECT / "seeds" / "ledger_conventions.csv").open() as seed:
        rows = sorted(csv.DictReader(seed), key=lambda r: int(r["candidate_rank"]))
    from_seed: dict[str, list[str]] = {}
    for row in rows:
        from_seed.setdefault(row["ledger_column"], []).append(row["convention"])
    assert from_seed == {column: list(values) for column, values in CONVENTIONS.items()}


def test_special_files_and_link_loops_are_rejected_alone_and_the_rest_lands(
    tmp_path: Path,
) -> None:
    """A FIFO would block a reader forever and a loop of symbolic links has no target:
    each is that entry's REJECTED outcome, and every other file of the folder lands. Run in
    a child process with a deadline, so a regression fails instead of hanging the suite."""
    landing = tmp_path / "landing"
    write_all(landing)
    os.mkfifo(landing / "app_requests" / "stuck.jsonl")
    (landing / "changes" / "loop_a.csv").symlink_to("loop_b.csv")
    (landing / "changes" / "loop_b.csv").symlink_to("loop_a.csv")
    db = tmp_path / "wh.duckdb"
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "cometrecon"), "ingest", str(landing)],
        env={**os.environ, "COMETRECON_DB": str(db)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    out = completed.stdout
    assert "REJECTED   app_requests/stuck.jsonl: not a regular file" in out
    assert "REJECTED   changes/loop_a.csv: a loop of symbolic links" in out
    assert "REJECTED   changes/loop_b.csv: a loop of symbolic links" in out
    landed = query(db, "select count(*) from raw._ingest_files where status = 'landed'")
    assert landed == [(13,)]
