"""Property-based tests of the JSON lines reader, the usage-object parsing (ingest) and
the dimension mapping (the real dbt model): the reader cuts any bytes into the lines
`bytes.splitlines` finds, whatever its block size; parsing never raises on arbitrary
JSON, every line lands or is quarantined, quantities are never negative, and an
attempt's dimensions add back to the provider's own total."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from conftest import BIN
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ingest import app_requests, readers
from ingest.fields import INVALID_UTF8_MARKER, typed_rows_sql

PROJECT = Path(__file__).resolve().parents[1]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
any_json = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
usage_keys = st.sampled_from(
    [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "input_tokens",
        "output_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
        "promptTokenCount",
        "candidatesTokenCount",
        "thoughtsTokenCount",
        "cachedContentTokenCount",
        "usageMetadata",
        "prompt_tokens_details",
        "input_tokens_details",
    ]
)
usage_like = st.dictionaries(usage_keys, json_scalars | any_json, max_size=6)


def attempt_line(usage: Any, api_format: str) -> str:
    return json.dumps(
        {
            "request_id": "r",
            "attempt": 1,
            "sent_at": "2026-05-11T08:00:00Z",
            "api_format": api_format,
            "model": "m",
            "usage": usage,
        }
    )


line_pieces = st.sampled_from(
    [
        b"{",
        b"}",
        b'"a":1',
        b" ",
        b"\t",
        b"\n",
        b"\r",
        b"\r\n",
        b"\xc3\xa9",
        b"\xff",
        b"\xef\xbb\xbf",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(line_pieces, max_size=40).map(b"".join),
    st.integers(min_value=1, max_value=9),
    st.integers(min_value=1, max_value=4),
    st.booleans(),
)
def test_json_lines_reader_finds_the_lines_splitlines_finds_at_any_block_size(
    data: bytes, block_bytes: int, block_rows: int, gzipped: bool
) -> None:
    lines = data.splitlines()
    if lines:  # the first line's byte order mark is not part of the record
        lines[0] = lines[0].removeprefix(b"\xef\xbb\xbf")
    expected = []
    for number, line in enumerate(lines, start=1):
        if not line.strip(b" \t"):
            continue  # blank: counted, not a record
        try:
            text = line.decode("utf-8") + "\n"
        except UnicodeDecodeError:
            text = INVALID_UTF8_MARKER
        expected.append((number, text))
    saved = readers.READ_BLOCK_BYTES, readers.BLOCK_ROWS
    readers.READ_BLOCK_BYTES, readers.BLOCK_ROWS = block_bytes, block_rows
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "lines.jsonl"
            path.write_bytes(gzip.compress(data) if gzipped else data)
            stats = readers.LineStats()
            tables = list(readers.json_lines(path, gzipped, stats))
    finally:
        readers.READ_BLOCK_BYTES, readers.BLOCK_ROWS = saved
    found = [
        (number, INVALID_UTF8_MARKER if text.startswith(INVALID_UTF8_MARKER) else text)
        for table in tables
        for number, text in zip(
            table["_row_number"].to_pylist(), table["_line"].to_pylist(), strict=True
        )
    ]
    assert found == expected
    assert stats.blank_lines == len(lines) - len(expected)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(any_json | usage_like, st.sampled_from(app_requests.API_FORMATS)),
        min_size=1,
        max_size=25,
    )
)
def test_parsing_never_raises_and_every_line_lands_or_is_quarantined(
    cases: list[tuple[Any, str]],
) -> None:
    lines = [attempt_line(usage, api_format) for usage, api_format in cases]
    _batch = pa.table(
        {"_row_number": pa.array(range(1, len(lines) + 1), pa.int64()), "_line": lines}
    )
    with duckdb.connect() as con:
        rows = con.execute(typed_rows_sql(app_requests.TABLE, "_batch"), {"salt": "s"}).fetchall()
    assert len(rows) == len(lines)
    columns = [f.name for f in app_requests.TABLE.fields]
    for row in rows:
        record = dict(
            zip(["_row_number", *columns, "_error_column", "_error_reason"], row, strict=True)
        )
        if record["_error_reason"] is None:
            # a landed row's token counts are non-negative integers
            for name in columns:
                if name.startswith("usage_") and name not in (
                    "usage_structure_json",
                    "usage_shape",
                ):
                    assert record[name] is None or (
                        isinstance(record[name], int) and record[name] >= 0
                    )
        else:
            assert record["_error_column"]


counts = st.integers(min_value=0, max_value=2_000_000)


@st.composite
def valid_usage(draw: st.DrawFn) -> tuple[str, dict[str, Any], int]:
    """A usage object of one format and the provider's own total of billable tokens."""
    api_format = draw(st.sampled_from(app_requests.API_FORMATS))
    prompt, output, cached, extra = draw(counts), draw(counts), draw(counts), draw(counts)
    cached = min(cached, prompt)
    if api_format == "openai_chat":
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": output,
            "total_tokens": prompt + output,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": min(extra, output)},
        }
        return api_format, usage, prompt + output
    if api_format == "openai_responses":
        usage = {
            "input_tokens": prompt,
            "output_tokens": output,
            "total_tokens": prompt + output,
            "input_tokens_details": {"cached_tokens": cached},
            "output_tokens_details": {"reasoning_tokens": min(extra, output)},
        }
        return api_format, usage, prompt + output
    if api_format == "anthropic_messages":
        usage = {
            "input_tokens": prompt,
            "output_tokens": output,
            "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": extra,
        }
        return api_format, usage, prompt + output + cached + extra
    usage = {
        "promptTokenCount": prompt,
        "cachedContentTokenCount": cached,
        "candidatesTokenCount": output,
        "thoughtsTokenCount": extra,
        "totalTokenCount": prompt + output + extra,
    }
    return api_format, usage, prompt + output + extra


@settings(
    max_examples=3,
    # each example is a real ingest + dbt build: generate, never spend minutes shrinking
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(valid_usage(), min_size=20, max_size=40))
def test_dimensions_add_back_to_the_providers_total(
    tmp_path_factory: Any, attempts: list[tuple[str, dict[str, Any], int]]
) -> None:
    root = tmp_path_factory.mktemp("dims")
    landing = root / "landing" / "app_requests"
    landing.mkdir(parents=True)
    totals = {}
    with (landing / "attempts.jsonl").open("w") as handle:
        for number, (api_format, usage, total) in enumerate(attempts):
            record = json.loads(attempt_line(usage, api_format))
            record.update(
                request_id=f"r{number}", http_status=200, completed_at="2026-05-11T08:00:05Z"
            )
            handle.write(json.dumps(record) + "\n")
            totals[f"r{number}"] = total
    db = root / "wh.duckdb"
    env = {**os.environ, "COMETRECON_DB": str(db), "DO_NOT_TRACK": "1"}
    assert (
        subprocess.run(
            [str(BIN / "cometrecon"), "ingest", str(root / "landing")],
            env=env,
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    built = subprocess.run(
        [
            str(BIN / "dbt"),
            "build",
            "--select",
            "+fct_attempt_charges",
            "--exclude",
            "resource_type:test",
            "--target-path",
            str(root / "target"),
            "--log-path",
            str(root / "logs"),
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:]
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            """
            select app.logical_request_id, sum(usage.quantity), min(usage.quantity),
                   bool_and(usage.quantity_confidence = 'verified_from_response')
            from marts.fct_attempt_charges as usage
            join intermediate.int_attempts_joined as joined using (attempt_key)
            join intermediate.int_app_attempts_deduplicated as app on joined.app_attempt_key = app.attempt_key
            group by 1
            """
        ).fetchall()
    summed = {request: (total, minimum, verified) for request, total, minimum, verified in rows}
    for request, total in totals.items():
        if total == 0:
            assert request not in summed  # nothing billable, no dimension rows
            continue
        got_total, minimum, verified = summed[request]
        assert got_total == total, request
        assert minimum >= 0 and verified
