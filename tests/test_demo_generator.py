"""The demo landing-folder generator: formats, determinism and an exact answer key.

Every check re-derives its figure from the written files (json/csv/duckdb parsing
here, not the generator's own code) and compares it with ground_truth.json.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import itertools
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest
import yaml

from cometrecon.demo import DemoSummary, write_demo
from cometrecon.demo.world import LEDGER_CONVENTIONS

WINDOW_START = datetime(2026, 5, 11, 8, tzinfo=UTC)
WINDOW_END = datetime(2026, 5, 11, 10, tzinfo=UTC)
MILLION = Decimal(1_000_000)
CLASSES = {
    "time_window_mismatch",
    "pricing_source_mismatch",
    "field_interpretation_gap",
    "usage_capture_gap",
    "account_specific_billing_issue",
    "unknown",
}
CAUSES = {
    "timezone_shift",
    "window_boundary",
    "stale_rate",
    "rate_missing_from_sheet",
    "cached_tokens_priced_as_input",
    "cache_writes_priced_as_input",
    "retry_amplification",
    "stream_after_disconnect",
    "untracked_job",
    "rounding",
    "minimum_charge",
    "account_discount",
    "unexplained_residual",
}


@dataclass(frozen=True)
class Demo:
    summary: DemoSummary
    landing: Path
    truth: dict[str, Any]


def _make(root: Path, seed: int = 42, attempts: int | None = None, **kw: Any) -> Demo:
    summary = write_demo(root, seed=seed, attempts=attempts, **kw)
    truth = json.loads(summary.ground_truth_path.read_text(encoding="utf-8"))
    return Demo(summary, summary.landing_dir, truth)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return _make(tmp_path_factory.mktemp("seed42"))


@pytest.fixture(scope="module")
def demo7(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return _make(tmp_path_factory.mktemp("seed7"), seed=7)


# ---- independent readers of the landing files ------------------------------------------


def _app_attempts(landing: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((landing / "app_requests").glob("*.jsonl*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as handle:
            rows.extend(json.loads(line) for line in handle)
    return rows


def _gateway_rows(landing: Path) -> list[dict[str, Any]]:
    """Every gateway row in new-api field names; CLI records keep their own fields."""
    rows: list[dict[str, Any]] = []
    for path in sorted((landing / "gateway_logs").iterdir()):
        text = path.read_text(encoding="utf-8")
        if text.startswith('{"success"'):
            for item in json.loads(text)["data"]["items"]:
                rows.append({**item, "_shape": "page"})
        elif text.startswith("id,"):
            for item in csv.DictReader(text.splitlines()):
                for key in (
                    "id",
                    "created_at",
                    "type",
                    "quota",
                    "prompt_tokens",
                    "completion_tokens",
                    "user_id",
                    "use_time",
                    "channel",
                ):
                    item[key] = int(item[key])
                rows.append({**item, "_shape": "csv"})
        else:
            for line in text.splitlines():
                record = json.loads(line)
                created = datetime.fromisoformat(record["time"])
                rows.append(
                    {
                        **record,
                        "created_at": int(created.timestamp()),
                        "_shape": "cli",
                        "type": 2 if record["type"] == "consume" else 5,
                    }
                )
    return rows


def _catalog(landing: Path) -> dict[str, dict[str, Decimal]]:
    path = landing / "pricing" / "catalog_2026-05-11T1108Z.json"
    document = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal, parse_int=Decimal)
    entries = document["data"] if isinstance(document, dict) else document
    return {e["id"]: e["pricing"] for e in entries}


def _other(row: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(row["other"], parse_float=Decimal, parse_int=Decimal)
    return parsed


def _dimensions(row: dict[str, Any]) -> tuple[int, int, int, int]:
    """(input, cache read, cache write, output) of a gateway row with `other`."""
    other = _other(row)
    cache = int(other.get("cache_tokens", 0))
    write = int(other.get("cache_creation_tokens", 0))
    prompt = int(row["prompt_tokens"])
    base = prompt if other.get("usage_semantic") == "anthropic" else prompt - cache - write
    return base, cache, write, int(row["completion_tokens"])


def _list_cost(row: dict[str, Any], catalog: dict[str, dict[str, Decimal]]) -> Decimal:
    base, cache, write, output = _dimensions(row)
    price = catalog[row["model_name"]]
    micro = (
        base * price["input"]
        + cache * price.get("cache_read", price["input"])
        + write * price.get("cache_write", price["input"])
        + output * price["output"]
    )
    return micro / MILLION


def _in_window(moment: datetime) -> bool:
    return WINDOW_START <= moment < WINDOW_END


def _created(row: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(row["created_at"]), tz=UTC)


def _focus(landing: Path) -> list[dict[str, str]]:
    with (landing / "billing" / "focus_2026-05.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _amounts(truth: dict[str, Any]) -> dict[str, Decimal]:
    return {a["cause"]: Decimal(a["amount_usd"]) for a in truth["attribution"]}


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ---- tests --------------------------------------------------------------------------------


def test_layout_sidecars_and_ground_truth_outside_landing(demo: Demo) -> None:
    landing = demo.landing
    assert demo.summary.ground_truth_path == landing.parent / "ground_truth.json"
    assert not list(landing.rglob("ground_truth*"))
    for stream in (
        "gateway_logs",
        "app_requests",
        "usage_ledger",
        "billing",
        "pricing",
        "contracts",
        "incidents",
        "changes",
    ):
        assert any((landing / stream).iterdir()), stream
    sidecar = json.loads((landing / "usage_ledger" / "llm_usage_hourly.sidecar.json").read_text())
    assert sidecar["timezone"] == "Europe/Berlin"
    with (landing / "usage_ledger" / "llm_usage_hourly.csv").open() as handle:
        assert "timezone" not in next(csv.reader(handle))
    captures = sorted((landing / "pricing").glob("*.capture.json"))
    assert [p.name for p in captures] == [
        "catalog_2026-05-10.capture.json",
        "catalog_2026-05-11T1108Z.capture.json",
    ]
    for capture in captures:
        document = json.loads(capture.read_text())
        assert set(document) >= {"source_url", "captured_at", "captured_by", "account_context"}
        assert capture.with_name(capture.name.replace(".capture.json", ".json")).exists()
    assert json.loads(captures[1].read_text())["captured_at"] == "2026-05-11T11:08:00Z"
    names = {p.name for p in (landing / "gateway_logs").iterdir()}
    assert "log_export_2026-05-11T09.csv" in names
    assert "cometapi_logs_2026-05-11T11.jsonl" in names
    assert {f"log_self_2026-05-11T{h:02d}.json" for h in (6, 7, 8, 10)} <= names


def test_same_seed_is_byte_identical(demo: Demo, tmp_path: Path) -> None:
    again = _make(tmp_path / "again")
    assert _digest(again.summary.out_dir) == _digest(demo.summary.out_dir)


def test_other_seed_keeps_counts_but_changes_amounts(demo: Demo, demo7: Demo) -> None:
    for key in ("logical_requests", "retried_requests", "failed_requests"):
        assert demo7.truth["counts"][key] == demo.truth["counts"][key]
    a42, a7 = _amounts(demo.truth), _amounts(demo7.truth)
    assert sum(a42[c] != a7[c] for c in CAUSES) >= 9
    assert demo.truth["paths"] != demo7.truth["paths"]


def test_window_counts_from_app_logs(demo: Demo) -> None:
    """12,450 / 317 / 42 counted straight from the JSON lines with DuckDB."""
    pattern = str(demo.landing / "app_requests" / "*.jsonl*")
    con = duckdb.connect()
    logical, retried, failed = con.execute(
        f"""
        with a as (
            select request_id, attempt::int as attempt,
                   sent_at::varchar::timestamptz as sent_at,
                   try_cast(http_status as int) as status,
                   client_disconnected::boolean as disconnected,
                   usage is null or usage::varchar = 'null' as no_usage
            from read_json('{pattern}', format = 'newline_delimited',
                           columns = {{request_id: 'VARCHAR', attempt: 'INTEGER',
                                       sent_at: 'VARCHAR', http_status: 'VARCHAR',
                                       client_disconnected: 'BOOLEAN', usage: 'JSON'}})
        ),
        r as (
            select request_id, min(sent_at) as first_sent, max(attempt) as attempts,
                   arg_max(not (status between 200 and 299) or status is null
                           or disconnected or no_usage, attempt) as failed
            from a group by request_id
        )
        select count(*), count(*) filter (attempts > 1), count(*) filter (failed)
        from r
        where first_sent >= '2026-05-11 08:00:00+00' and first_sent < '2026-05-11 10:00:00+00'
        """
    ).fetchone() or (0, 0, 0)
    assert (logical, retried, failed) == (12_450, 317, 42)
    counts = demo.truth["counts"]
    assert (counts["logical_requests"], counts["retried_requests"], counts["failed_requests"]) == (
        12_450,
        317,
        42,
    )


def test_app_log_shape(demo: Demo) -> None:
    attempts = _app_attempts(demo.landing)
    assert len(attempts) == demo.summary.app_attempts
    formats = {a["api_format"] for a in attempts}
    assert formats == {"openai_chat", "openai_responses", "anthropic_messages", "gemini"}
    offsets = {a["sent_at"][-6:] if not a["sent_at"].endswith("Z") else "Z" for a in attempts}
    assert offsets == {"Z", "+02:00"}
    assert all(len(a["sent_at"].split(".")[1]) in (4, 9) for a in attempts)  # .mmmZ / .mmm+hh:mm
    timed_out = [a for a in attempts if a["error"] and a["error"]["error"]["code"] == "timeout"]
    assert timed_out and all(
        a["client_disconnected"] and a["usage"] is None and a["cometapi_request_id"]
        for a in timed_out
    )
    assert any(a["cometapi_request_id"] is None for a in attempts)
    assert {a["http_status"] for a in attempts} >= {200, 400, 429, None}
    invalid = {a["request_id"] for a in attempts if a["http_status"] == 400}
    assert all(a["attempt"] == 1 for a in attempts if a["request_id"] in invalid)
    cut = [a for a in attempts if a["stream"] and a["client_disconnected"]]
    assert cut and all(a["usage"] is None and a["http_status"] == 200 for a in cut)
    claude = next(a for a in attempts if a["api_format"] == "anthropic_messages" and a["usage"])
    assert "x-api-key" in claude["request_headers"]
    assert {"cache_read_input_tokens", "cache_creation_input_tokens"} <= set(claude["usage"])
    gemini = [a["usage"] for a in attempts if a["api_format"] == "gemini" and a["usage"]]
    assert any("thoughtsTokenCount" in u for u in gemini)
    assert any("api_key" in a for a in attempts)


def test_planted_secrets_are_in_the_raw_files(demo: Demo) -> None:
    planted = demo.truth["planted_secrets"]
    blob = b"".join(p.read_bytes() for p in sorted(demo.landing.rglob("*")) if p.is_file())
    for group in ("api_keys", "bearer_tokens", "emails", "prompt_sentences"):
        assert planted[group], group
        for secret in planted[group]:
            assert secret.encode() in blob, secret
    for key in planted["api_keys"]:
        assert key.startswith("sk-") and len(key) == 43


def test_gateway_quota_follows_new_api_formula(demo: Demo) -> None:
    rows = _gateway_rows(demo.landing)
    assert len(rows) == demo.summary.gateway_rows
    consume = [r for r in rows if r["type"] == 2 and r["_shape"] != "cli"]
    errors = [r for r in rows if r["type"] == 5]
    assert errors and all(int(r["quota"]) == 0 for r in errors)
    minimum = 0
    for row in consume:
        other = _other(row)
        base, cache, write, output = _dimensions(row)
        exact = (
            (
                base
                + cache * other["cache_ratio"]
                + write * other.get("cache_creation_ratio", Decimal(0))
                + output * other["completion_ratio"]
            )
            * other["model_ratio"]
            * other["group_ratio"]
        )
        quota = int(exact.to_integral_value(rounding=ROUND_HALF_UP))
        if quota <= 0:
            quota, minimum = 1, minimum + 1
        assert quota == int(row["quota"]), row["request_id"]
    assert minimum > 0
    assert any(_other(r).get("usage_semantic") == "anthropic" for r in consume)
    ids = [int(r["id"]) for r in rows if r["_shape"] != "cli"]
    assert max(ids) < 1024 and len(set(ids)) < len(ids)
    assert len({r["request_id"] for r in rows}) == len(rows)
    cli = [r for r in rows if r["_shape"] == "cli"]
    assert cli and all(_created(r) >= datetime(2026, 5, 11, 11, tzinfo=UTC) for r in cli)
    for r in cli:
        assert Decimal(str(r["cost_usd"])) == Decimal(r["quota"]) / 500_000
    assert any(r["token_name"] == "batch-backfill" for r in rows)
    assert any("@northwind-demo.example" in r["content"] for r in consume)


def test_focus_lines_equal_gateway_quota_and_billed(demo: Demo) -> None:
    rows = _gateway_rows(demo.landing)
    per_hour: dict[tuple[str, str], int] = defaultdict(int)
    for r in rows:
        if r["type"] == 2:
            hour = _created(r).replace(minute=0, second=0).strftime("%Y-%m-%dT%H:%M:%SZ")
            per_hour[(hour, r.get("model_name") or r["model"])] += int(r["quota"])
    focus = _focus(demo.landing)
    usage = {
        (f["ChargePeriodStart"], f["SkuId"]): Decimal(f["BilledCost"])
        for f in focus
        if f["ChargeCategory"] == "Usage" and not f["ChargeClass"]
    }
    assert usage == {k: Decimal(q) / 500_000 for k, q in per_hour.items()}
    assert {f["ChargeCategory"] for f in focus} == {"Usage", "Adjustment"}
    assert sum(f["ChargeClass"] == "Correction" for f in focus) == 1
    billed = sum(
        (
            Decimal(f["BilledCost"])
            for f in focus
            if _in_window(datetime.fromisoformat(f["ChargePeriodStart"]))
        ),
        Decimal(0),
    )
    assert billed == Decimal(demo.truth["paths"]["billed"])
    gateway = (
        sum(
            (Decimal(int(r["quota"])) for r in rows if r["type"] == 2 and _in_window(_created(r))),
            Decimal(0),
        )
        / 500_000
    )
    assert gateway == Decimal(demo.truth["paths"]["gateway"])
    assert billed - gateway == _amounts(demo.truth)["unexplained_residual"]
    balance = json.loads(
        (demo.landing / "billing" / "balance_query_2026-05-11.json").read_text(),
        parse_float=Decimal,
    )
    used = sum((e["quota_used"] for e in balance["daily_quota"]["2026-05-11"]), Decimal(0))
    assert used == sum((Decimal(q) for q in per_hour.values()), Decimal(0)) / 500_000
    usage_doc = json.loads(
        (demo.landing / "billing" / "billing_usage_2026-05-11.json").read_text(),
        parse_float=Decimal,
    )
    assert usage_doc["total_usage"] == used * 100


def test_forecast_from_ledger_and_rate_sheet(demo: Demo) -> None:
    with (demo.landing / "pricing" / "rate_sheet.csv").open() as handle:
        sheet = {(r["model"], r["dimension"]): Decimal(r["rate"]) for r in csv.DictReader(handle)}
    assert {d for _, d in sheet} == {"input", "output"}
    with (demo.landing / "usage_ledger" / "llm_usage_hourly.csv").open() as handle:
        ledger = list(csv.DictReader(handle))
    berlin = ZoneInfo("Europe/Berlin")

    def cost(rows: list[dict[str, str]]) -> Decimal:
        return sum(
            (
                (
                    int(r["input_tokens"]) * sheet[(r["model"], "input")]
                    + int(r["output_tokens"]) * sheet[(r["model"], "output")]
                )
                / MILLION
                for r in rows
            ),
            Decimal(0),
        )

    as_read = [
        r
        for r in ledger
        if _in_window(datetime.fromisoformat(r["bucket_start"]).replace(tzinfo=UTC))
    ]
    aligned = [
        r
        for r in ledger
        if _in_window(datetime.fromisoformat(r["bucket_start"]).replace(tzinfo=berlin))
    ]
    truth = demo.truth
    assert cost(as_read) == Decimal(truth["paths"]["forecast"])
    assert cost(aligned) - cost(as_read) == _amounts(truth)["timezone_shift"]
    assert truth["ledger"]["true_utc_offset"] == "+02:00"
    stale = truth["injected"]["stale_rate"]
    assert sheet[(stale["model"], stale["dimension"])] == Decimal(stale["sheet_rate"])
    assert Decimal(stale["sheet_rate"]) != Decimal(stale["verified_rate"])
    catalog = _catalog(demo.landing)
    verified = sum(
        (
            (
                int(r["input_tokens"]) * catalog[r["model"]]["input"]
                + int(r["output_tokens"]) * catalog[r["model"]]["output"]
            )
            / MILLION
            for r in aligned
        ),
        Decimal(0),
    )
    assert verified - cost(aligned) == _amounts(truth)["stale_rate"]


def test_ledger_holds_final_successful_attempts(demo: Demo) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    expected: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for a in _app_attempts(demo.landing):
        usage = a["usage"]
        if usage is None or a["http_status"] != 200 or a["client_disconnected"]:
            continue
        if a["api_format"] == "openai_chat":
            tokens = (
                usage["prompt_tokens"],
                usage["prompt_tokens_details"]["cached_tokens"],
                usage["completion_tokens"],
            )
        elif a["api_format"] == "openai_responses":
            tokens = (
                usage["input_tokens"],
                usage["input_tokens_details"]["cached_tokens"],
                usage["output_tokens"],
            )
        elif a["api_format"] == "anthropic_messages":
            read = usage["cache_read_input_tokens"]
            tokens = (
                usage["input_tokens"] + read + usage["cache_creation_input_tokens"],
                read,
                usage["output_tokens"],
            )
        else:
            tokens = (
                usage["promptTokenCount"],
                usage.get("cachedContentTokenCount", 0),
                usage["candidatesTokenCount"] + usage.get("thoughtsTokenCount", 0),
            )
        bucket = datetime.fromisoformat(a["sent_at"]).astimezone(berlin)
        key = (bucket.strftime("%Y-%m-%d %H:00:00"), a["tenant"], a["model"])
        for i, value in enumerate((*tokens, 1)):
            expected[key][i] += value
    with (demo.landing / "usage_ledger" / "llm_usage_hourly.csv").open() as handle:
        actual = {
            (r["bucket_start"], r["tenant"], r["model"]): [
                int(r["input_tokens"]),
                int(r["cached_tokens"]),
                int(r["output_tokens"]),
                int(r["request_count"]),
            ]
            for r in csv.DictReader(handle)
        }
    assert actual == dict(expected)


# ---- ledger conventions (docs/attribution.md, step 4) ------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
DEFAULT_CONVENTION = {
    "input_tokens": "includes_cache_reads_and_writes",
    "cached_tokens": "reads",
    "output_tokens": "reasoning_once",
    "request_count": "logical_requests",
}
# Demo worlds that, with the default demo (`demo`), use every value of every column.
CONVENTION_WORLDS: dict[str, dict[str, Any]] = {
    "excl_reads_twice": {
        "seed": 11,
        "ledger_convention": "input_tokens=excludes_cache,cached_tokens=reads,"
        "output_tokens=reasoning_twice",
        "sheet_prices_cache_reads": True,
        "declare_convention": True,
    },
    "writes_absent_omitted_attempts": {
        "seed": 12,
        "ledger_convention": "input_tokens=includes_cache_writes,cached_tokens=absent,"
        "output_tokens=reasoning_omitted,request_count=attempts",
    },
    "reads_readswrites_attempts": {
        "seed": 13,
        "ledger_convention": {
            "input_tokens": "includes_cache_reads",
            "cached_tokens": "reads_and_writes",
            "request_count": "attempts",
        },
        "declare_convention": True,
    },
    "writes_readswrites_sheet": {
        "seed": 14,
        "ledger_convention": "input_tokens=includes_cache_writes,cached_tokens=reads_and_writes",
        "sheet_prices_cache_reads": True,
    },
}
CONVENTION_CASES = ["default", *CONVENTION_WORLDS]
CONVENTION_CAUSES = (
    "cached_tokens_priced_as_input",
    "cache_reads_omitted",
    "cache_writes_priced_as_input",
    "cache_writes_priced_as_cache_reads",
    "cache_writes_omitted",
    "reasoning_tokens_double_counted",
    "reasoning_tokens_omitted",
    "attempts_counted_as_requests",
)
# the demo before the split: cached_tokens_priced_as_input held reads and writes at input
OLD_CACHED_TOKENS_PRICED_AS_INPUT = {42: Decimal("-38.452828425"), 7: Decimal("-37.9277586")}


def _expected_convention(options: dict[str, Any]) -> dict[str, str]:
    spec = options.get("ledger_convention")
    if isinstance(spec, str):
        spec = dict(item.split("=") for item in spec.split(","))
    return {**DEFAULT_CONVENTION, **(spec or {})}


@pytest.fixture(scope="module")
def convention_demos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Demo]:
    return {
        name: _make(tmp_path_factory.mktemp(name), attempts=4000, **options)
        for name, options in CONVENTION_WORLDS.items()
    }


def _case(name: str, request: pytest.FixtureRequest) -> tuple[Demo, dict[str, Any]]:
    if name == "default":
        return request.getfixturevalue("demo"), {}
    return request.getfixturevalue("convention_demos")[name], CONVENTION_WORLDS[name]


def _canonical(landing: Path) -> dict[tuple[str, str, str], dict[str, int]]:
    """Per ledger bucket (local bucket_start, tenant, model), from the app log alone: B, R,
    W, O, Z, N of the final successful attempts and A, every app attempt of the bucket."""
    buckets: dict[tuple[str, str, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys("BRWOZNA", 0)
    )
    for a in _app_attempts(landing):
        bucket = datetime.fromisoformat(a["sent_at"]).astimezone(BERLIN)
        entry = buckets[(bucket.strftime("%Y-%m-%d %H:00:00"), a["tenant"], a["model"])]
        entry["A"] += 1
        usage = a["usage"]
        if usage is None or a["http_status"] != 200 or a["client_disconnected"]:
            continue
        fmt = a["api_format"]
        if fmt == "openai_chat":
            read, write = usage["prompt_tokens_details"]["cached_tokens"], 0
            base = usage["prompt_tokens"] - read
            output = usage["completion_tokens"]
            reasoning = usage["completion_tokens_details"]["reasoning_tokens"]
        elif fmt == "openai_responses":
            read, write = usage["input_tokens_details"]["cached_tokens"], 0
            base = usage["input_tokens"] - read
            output = usage["output_tokens"]
            reasoning = usage["output_tokens_details"]["reasoning_tokens"]
        elif fmt == "anthropic_messages":
            read, write = usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]
            base, output, reasoning = usage["input_tokens"], usage["output_tokens"], 0
        else:
            read, write = usage.get("cachedContentTokenCount", 0), 0
            base = usage["promptTokenCount"] - read
            reasoning = usage.get("thoughtsTokenCount", 0)
            output = usage["candidatesTokenCount"] + reasoning
        for key, value in zip("BRWOZ", (base, read, write, output, reasoning), strict=True):
            entry[key] += value
        entry["N"] += 1
    return {key: entry for key, entry in buckets.items() if entry["N"]}


def _predicted_row(convention: dict[str, str], q: dict[str, int]) -> dict[str, str]:
    """The ledger's CSV cells for a bucket under a convention (docs/attribution.md's table)."""
    input_tokens = {
        "excludes_cache": q["B"],
        "includes_cache_reads": q["B"] + q["R"],
        "includes_cache_writes": q["B"] + q["W"],
        "includes_cache_reads_and_writes": q["B"] + q["R"] + q["W"],
    }[convention["input_tokens"]]
    cached = {"reads": str(q["R"]), "reads_and_writes": str(q["R"] + q["W"]), "absent": ""}[
        convention["cached_tokens"]
    ]
    output = {
        "reasoning_once": q["O"],
        "reasoning_twice": q["O"] + q["Z"],
        "reasoning_omitted": q["O"] - q["Z"],
    }[convention["output_tokens"]]
    requests = q["A"] if convention["request_count"] == "attempts" else q["N"]
    return {
        "input_tokens": str(input_tokens),
        "cached_tokens": cached,
        "output_tokens": str(output),
        "request_count": str(requests),
    }


def _ledger_rows(landing: Path) -> list[dict[str, str]]:
    with (landing / "usage_ledger" / "llm_usage_hourly.csv").open() as handle:
        return list(csv.DictReader(handle))


def _sheet(landing: Path) -> dict[tuple[str, str], Decimal]:
    with (landing / "pricing" / "rate_sheet.csv").open() as handle:
        return {(r["model"], r["dimension"]): Decimal(r["rate"]) for r in csv.DictReader(handle)}


def _aligned(bucket_start: str) -> bool:
    return _in_window(datetime.fromisoformat(bucket_start).replace(tzinfo=BERLIN))


def test_convention_worlds_use_every_value_of_every_column() -> None:
    used = [DEFAULT_CONVENTION] + [_expected_convention(o) for o in CONVENTION_WORLDS.values()]
    for column, candidates in LEDGER_CONVENTIONS.items():
        assert {c[column] for c in used} == set(candidates), column


@pytest.mark.parametrize("name", CONVENTION_CASES)
def test_ledger_rows_are_what_the_convention_predicts(
    name: str, request: pytest.FixtureRequest
) -> None:
    demo, options = _case(name, request)
    convention = _expected_convention(options)
    canonical = _canonical(demo.landing)
    actual = {
        (r["bucket_start"], r["tenant"], r["model"]): {c: r[c] for c in convention}
        for r in _ledger_rows(demo.landing)
    }
    assert actual == {key: _predicted_row(convention, q) for key, q in canonical.items()}
    if convention["output_tokens"] != "reasoning_once":  # the worlds do have reasoning
        assert any(q["Z"] for q in canonical.values())
    if convention["request_count"] == "attempts":
        assert any(q["A"] > q["N"] for q in canonical.values())
    sidecar = json.loads(
        (demo.landing / "usage_ledger" / "llm_usage_hourly.sidecar.json").read_text()
    )
    declared = bool(options.get("declare_convention"))
    assert sidecar.get("convention") == (convention if declared else None)
    ledger = demo.truth["ledger"]
    assert ledger["convention"] == convention
    assert ledger["convention_declared"] is declared
    assert ledger["convention_confidence"] == ("verified" if declared else "inferred")
    sheet_dimensions = {d for _, d in _sheet(demo.landing)}
    assert sheet_dimensions == (
        {"input", "output", "input_cache_read"}
        if options.get("sheet_prices_cache_reads")
        else {"input", "output"}
    )


@pytest.mark.parametrize("name", CONVENTION_CASES)
def test_convention_ground_truth_closes_and_follows_the_formulas(
    name: str, request: pytest.FixtureRequest
) -> None:
    """Steps 1 to 4 recomputed from the files: the forecast prices every ledger column at
    face value, the pricing causes, and each convention cause of the table from the app
    log's canonical quantities at the catalog's rates; the waterfall closes exactly."""
    demo, options = _case(name, request)
    convention = _expected_convention(options)
    truth = demo.truth
    sheet, catalog = _sheet(demo.landing), _catalog(demo.landing)
    canonical = _canonical(demo.landing)
    paths = {k: Decimal(v) for k, v in truth["paths"].items()}
    amounts = _amounts(truth)

    def verified(model: str, dimension: str) -> Decimal:
        key = {"input_cache_read": "cache_read", "input_cache_write": "cache_write"}
        price = catalog[model].get(key.get(dimension, dimension))
        return Decimal(price) if price is not None else sheet.get((model, dimension), Decimal(0))

    columns = {
        "input_tokens": "input",
        "cached_tokens": "input_cache_read",
        "output_tokens": "output",
    }
    forecast = aligned_sheet = stale = missing = Decimal(0)
    expected: dict[str, Decimal] = defaultdict(Decimal)
    a = convention["input_tokens"] in ("includes_cache_reads", "includes_cache_reads_and_writes")
    b = convention["input_tokens"] in ("includes_cache_writes", "includes_cache_reads_and_writes")
    c_r = convention["cached_tokens"] in ("reads", "reads_and_writes")
    c_w = convention["cached_tokens"] == "reads_and_writes"
    d = {"reasoning_once": 0, "reasoning_twice": 1, "reasoning_omitted": -1}[
        convention["output_tokens"]
    ]
    for r in _ledger_rows(demo.landing):
        model = r["model"]
        at_sheet = sum(
            (int(r[c] or 0) * sheet.get((model, dim), Decimal(0)) / MILLION)
            for c, dim in columns.items()
        )
        if _in_window(datetime.fromisoformat(r["bucket_start"]).replace(tzinfo=UTC)):
            forecast += at_sheet
        if not _aligned(r["bucket_start"]):
            continue
        aligned_sheet += at_sheet
        for c, dim in columns.items():
            quantity = int(r[c] or 0)
            if (model, dim) in sheet:
                stale += quantity * (verified(model, dim) - sheet[(model, dim)]) / MILLION
            else:
                missing += quantity * verified(model, dim) / MILLION
        q = canonical[(r["bucket_start"], r["tenant"], model)]
        rate_in, rate_cr = verified(model, "input"), verified(model, "input_cache_read")
        rate_cw, rate_out = verified(model, "input_cache_write"), verified(model, "output")
        if a:
            expected["cached_tokens_priced_as_input"] += q["R"] * (
                rate_cr - rate_in - c_r * rate_cr
            )
        elif not c_r:
            expected["cache_reads_omitted"] += q["R"] * rate_cr
        if b:
            expected["cache_writes_priced_as_input"] += q["W"] * (rate_cw - rate_in - c_w * rate_cr)
        elif c_w:
            expected["cache_writes_priced_as_cache_reads"] += q["W"] * (rate_cw - rate_cr)
        else:
            expected["cache_writes_omitted"] += q["W"] * rate_cw
        if d == 1:
            expected["reasoning_tokens_double_counted"] -= q["Z"] * rate_out
        elif d == -1:
            expected["reasoning_tokens_omitted"] += q["Z"] * rate_out
        if convention["request_count"] == "attempts":
            expected["attempts_counted_as_requests"] += 0  # no label is priced per request
    assert forecast == paths["forecast"]
    assert aligned_sheet - forecast == amounts["timezone_shift"]
    assert stale == amounts["stale_rate"] != 0
    assert missing == amounts["rate_missing_from_sheet"]
    if options.get("sheet_prices_cache_reads") or convention["cached_tokens"] == "absent":
        assert missing == 0
    else:
        assert missing > 0
    claimed = {c: amounts[c] for c in CONVENTION_CAUSES if c in amounts}
    assert claimed == {c: v / MILLION for c, v in expected.items()}
    for row in truth["attribution"]:
        if row["cause"] in CONVENTION_CAUSES:
            assert row["confidence"] == truth["ledger"]["convention_confidence"]
            assert row["variance_class"] == "field_interpretation_gap"

    total = paths["forecast"] + sum(amounts.values(), Decimal(0))
    assert total == paths["billed"]
    provider = ("rounding", "minimum_charge", "account_discount", "unexplained_residual")
    steps = sum((v for c, v in amounts.items() if c not in provider), Decimal(0))
    assert paths["forecast"] + steps == paths["recomputed"]
    assert truth["checks"]["equals_billed"] and truth["checks"]["waterfall_reaches_recomputed"]
    assert truth["checks"]["other_parser_mistake"] == "0"


@pytest.mark.parametrize("seed", [42, 7])
def test_default_convention_splits_the_old_cached_tokens_cause_exactly(
    seed: int, request: pytest.FixtureRequest
) -> None:
    """The default demo's old cached_tokens_priced_as_input (the ledgered attempts minus the
    aligned ledger's input and output, at verified rates) is now rate_missing_from_sheet +
    cached_tokens_priced_as_input + cache_writes_priced_as_input, to the last digit."""
    demo = request.getfixturevalue("demo" if seed == 42 else "demo7")
    catalog = _catalog(demo.landing)
    canonical = _canonical(demo.landing)
    old = Decimal(0)
    for r in _ledger_rows(demo.landing):
        if not _aligned(r["bucket_start"]):
            continue
        price = catalog[r["model"]]
        q = canonical[(r["bucket_start"], r["tenant"], r["model"])]
        correct = (
            q["B"] * price["input"]
            + q["R"] * price["cache_read"]
            + q["W"] * price.get("cache_write", 0)
            + q["O"] * price["output"]
        )
        as_input = (
            int(r["input_tokens"]) * price["input"] + int(r["output_tokens"]) * price["output"]
        )
        old += (correct - as_input) / MILLION
    amounts = _amounts(demo.truth)
    split = (
        amounts["rate_missing_from_sheet"]
        + amounts["cached_tokens_priced_as_input"]
        + amounts["cache_writes_priced_as_input"]
    )
    assert split == old == OLD_CACHED_TOKENS_PRICED_AS_INPUT[seed]
    assert {c for c in CONVENTION_CAUSES if c in amounts} == {
        "cached_tokens_priced_as_input",
        "cache_writes_priced_as_input",
    }
    assert demo.truth["ledger"]["convention_confidence"] == "inferred"


def test_a_convention_changes_only_the_ledger_and_the_rate_sheet(
    convention_demos: dict[str, Demo], tmp_path: Path
) -> None:
    options = CONVENTION_WORLDS["excl_reads_twice"]
    plain = _make(tmp_path / "plain", seed=options["seed"], attempts=4000)
    before = _digest(plain.landing)
    after = _digest(convention_demos["excl_reads_twice"].landing)
    assert set(before) == set(after)
    assert {path for path in before if before[path] != after[path]} == {
        "usage_ledger/llm_usage_hourly.csv",
        "usage_ledger/llm_usage_hourly.sidecar.json",
        "pricing/rate_sheet.csv",
    }


def test_a_bad_convention_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="input_tokens"):
        write_demo(tmp_path, ledger_convention="input_tokens=includes_everything")
    with pytest.raises(ValueError, match="COLUMN=VALUE"):
        write_demo(tmp_path, ledger_convention="tokens=reads")


def test_capture_gaps_and_boundary_from_joined_streams(demo: Demo) -> None:
    """Join gateway rows to app attempts on the request id and price the gaps."""
    catalog = _catalog(demo.landing)
    app = {
        a["cometapi_request_id"]: a for a in _app_attempts(demo.landing) if a["cometapi_request_id"]
    }
    gaps: dict[str, Decimal] = defaultdict(Decimal)
    boundary = recomputed = Decimal(0)
    for row in _gateway_rows(demo.landing):
        if row["type"] != 2 or row["_shape"] == "cli":
            continue
        attempt = app.get(row["request_id"])
        billed_at = _created(row)
        sent_at = datetime.fromisoformat(attempt["sent_at"]) if attempt else billed_at
        cost = _list_cost(row, catalog)
        if _in_window(billed_at):
            recomputed += cost
            if not _in_window(sent_at):
                boundary += cost
        elif _in_window(sent_at):
            boundary -= cost
        if not _in_window(sent_at):
            continue
        if attempt is None:
            assert row["token_name"] == "batch-backfill"
            gaps["untracked_job"] += cost
        elif attempt["usage"] is None and attempt["stream"] and attempt["http_status"] == 200:
            gaps["stream_after_disconnect"] += cost
        elif attempt["usage"] is None:
            assert attempt["error"]["error"]["type"] == "client_timeout"
            gaps["retry_amplification"] += cost
    amounts = _amounts(demo.truth)
    for cause in ("untracked_job", "stream_after_disconnect", "retry_amplification"):
        assert gaps[cause] == amounts[cause] > 0, cause
    assert boundary == amounts["window_boundary"]
    assert recomputed == Decimal(demo.truth["paths"]["recomputed"])


@pytest.mark.parametrize("which", ["demo", "demo7"])
def test_attribution_closes_exactly(which: str, request: pytest.FixtureRequest) -> None:
    truth = request.getfixturevalue(which).truth
    rows = truth["attribution"]
    assert {r["variance_class"] for r in rows} == CLASSES
    assert {r["cause"] for r in rows} == CAUSES
    paths = {k: Decimal(v) for k, v in truth["paths"].items()}
    total = paths["forecast"] + sum((Decimal(r["amount_usd"]) for r in rows), Decimal(0))
    assert total == paths["billed"]
    for row in rows:
        assert Decimal(row["amount_usd"]) != 0 and row["evidence_count"] > 0, row["cause"]
    amounts = _amounts(truth)
    steps = (
        "timezone_shift",
        "stale_rate",
        "rate_missing_from_sheet",
        "cached_tokens_priced_as_input",
        "cache_writes_priced_as_input",
        "retry_amplification",
        "stream_after_disconnect",
        "untracked_job",
        "window_boundary",
    )
    assert paths["forecast"] + sum(amounts[c] for c in steps) == paths["recomputed"]
    assert amounts["account_discount"] < 0 < amounts["retry_amplification"]
    assert amounts["cached_tokens_priced_as_input"] < 0 < amounts["rate_missing_from_sheet"]
    assert amounts["cache_writes_priced_as_input"] > 0
    group = Decimal(truth["injected"]["group_ratio"])
    assert amounts["account_discount"] == (group - 1) * paths["recomputed"]


def test_small_attempts_run(tmp_path: Path) -> None:
    small = _make(tmp_path / "small", seed=3, attempts=3000)
    attempts = _app_attempts(small.landing)
    assert 2400 <= len(attempts) <= 3600
    truth = small.truth
    total = Decimal(truth["paths"]["forecast"]) + sum(
        (Decimal(r["amount_usd"]) for r in truth["attribution"]), Decimal(0)
    )
    assert total == Decimal(truth["paths"]["billed"])
    assert truth["counts"]["logical_requests"] > 0


def test_days_spread_history(tmp_path: Path) -> None:
    spread = _make(tmp_path / "days", seed=5, attempts=4000, days=2)
    assert spread.truth["traffic"] == {
        "start_utc": "2026-05-09T12:00:00Z",
        "end_utc": "2026-05-11T12:00:00Z",
    }
    app_files = list((spread.landing / "app_requests").glob("*.jsonl*"))
    assert len(app_files) > 24
    captured = json.loads(
        (spread.landing / "pricing" / "catalog_2026-05-08.capture.json").read_text()
    )["captured_at"]
    assert captured < spread.truth["traffic"]["start_utc"]


# ---- the checklist's answer keys --------------------------------------------------------

LOOKBACK = 15 * 60  # seconds: the duplicate rule's look-back


def _requests(attempts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per logical request: first sent, tenant, first attempt's body, attempts."""
    requests: dict[str, dict[str, Any]] = {}
    for a in sorted(attempts, key=lambda a: (a["request_id"], a["attempt"])):
        sent = datetime.fromisoformat(a["sent_at"])
        entry = requests.setdefault(
            a["request_id"], {"first_sent": sent, "tenant": a["tenant"], "attempts": []}
        )
        entry["first_sent"] = min(entry["first_sent"], sent)
        if a["attempt"] == 1:
            entry["body"] = json.dumps(a["request_body"], sort_keys=True)
        entry["attempts"].append(a)
    return requests


@pytest.mark.parametrize("which", ["demo", "demo7"])
def test_bodies_unique_except_queue_replays(which: str, request: pytest.FixtureRequest) -> None:
    demo = request.getfixturevalue(which)
    requests = _requests(_app_attempts(demo.landing))
    for entry in requests.values():  # retries resend the same body
        assert len({json.dumps(a["request_body"]) for a in entry["attempts"]}) == 1
    by_body: dict[tuple[str, str], list[tuple[datetime, str]]] = defaultdict(list)
    for request_id, entry in requests.items():
        by_body[(entry["tenant"], entry["body"])].append((entry["first_sent"], request_id))
    flagged: dict[str, str] = {}
    for group in by_body.values():
        group.sort()
        for (earlier_at, earlier), (later_at, later) in itertools.pairwise(group):
            assert (later_at - earlier_at).total_seconds() <= LOOKBACK, "accidental duplicate"
            if _in_window(later_at):
                flagged[later] = earlier
    truth = demo.truth
    replays = truth["injected"]["queue_replays"]
    assert 10 <= replays["count"] <= 30
    assert flagged == {p["request_id"]: p["replay_of"] for p in replays["pairs"]}
    assert truth["usage_validation"]["duplicate_client_requests"] == len(flagged)
    # total distinct bodies: one per request but the replays
    assert len({(e["tenant"], e["body"]) for e in requests.values()}) == len(requests) - len(
        flagged
    )
    assert any(not _in_window(requests[e]["first_sent"]) for e in flagged.values())
    for later in flagged:  # existing single-attempt successes: no count or cost changed
        (attempt,) = requests[later]["attempts"]
        assert attempt["http_status"] == 200 and attempt["usage"] is not None


def test_usage_validation_from_files(demo: Demo) -> None:
    attempts = _app_attempts(demo.landing)
    requests = _requests(attempts)
    gateway = _gateway_rows(demo.landing)
    logged = {r["request_id"] for r in gateway}
    app_ids = {a["cometapi_request_id"] for a in attempts if a["cometapi_request_id"]}
    window = [a for r in requests.values() if _in_window(r["first_sent"]) for a in r["attempts"]]
    sent_at = {a["cometapi_request_id"]: datetime.fromisoformat(a["sent_at"]) for a in attempts}
    consume = [r for r in gateway if r["type"] == 2]
    billed_in = [r for r in consume if _in_window(_created(r))]
    app_tokens = {r["token_name"] for r in consume if r["request_id"] in app_ids}
    crossing = sum(
        _in_window(sent_at[r["request_id"]]) != _in_window(_created(r))
        for r in consume
        if r["request_id"] in sent_at
    )
    expected = {
        "successful_requests": 12_408,
        "failed_requests": 42,
        "retried_requests": 317,
        "scheduled_jobs_in_window": len({r["token_name"] for r in billed_in} - app_tokens),
        "request_ids_only_in_gateway_log": sum(r["request_id"] not in app_ids for r in billed_in),
        "request_ids_only_in_app_log": sum(a["cometapi_request_id"] not in logged for a in window),
        "streams_logged_only_at_start": sum(
            a["stream"] and (a["client_disconnected"] or a["completed_at"] is None) for a in window
        ),
        "requests_crossing_window_boundary": crossing,
        "billed_records_without_charge_line": 0,
    }
    usage = demo.truth["usage_validation"]
    assert {k: usage[k] for k in expected} == expected
    assert usage["scheduled_jobs_in_window"] == 1
    assert usage["request_ids_only_in_app_log"] == 15  # connection errors only
    boundary = next(a for a in demo.truth["attribution"] if a["cause"] == "window_boundary")
    assert usage["requests_crossing_window_boundary"] == boundary["evidence_count"]


@pytest.mark.parametrize("which", ["demo", "demo7"])
def test_contract_disagreements_from_files(which: str, request: pytest.FixtureRequest) -> None:
    demo = request.getfixturevalue(which)
    (path,) = (demo.landing / "contracts").glob("*.yaml")
    contract = yaml.safe_load(path.read_text(encoding="utf-8"))
    patterns = [
        re.compile("^" + re.sub(r"\{[^}]+\}", "[^/:]+", e["path"]) + "$")
        for e in contract["endpoints"]
    ]
    fields = {
        (e["api_format"], f.split(".")[0])
        for e in contract["endpoints"]
        for f in e["request_fields"]
    }
    usage_fields = {
        (e["api_format"], f) for e in contract["endpoints"] for f in e["response_usage_fields"]
    }
    found: set[tuple[str, str]] = set()
    retries: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for entry in _requests(_app_attempts(demo.landing)).values():
        if not _in_window(entry["first_sent"]):
            continue
        for a in entry["attempts"]:
            fmt = a["api_format"]
            if not any(p.match(a["endpoint"].split("?")[0]) for p in patterns):
                found.add(("endpoint_path", a["endpoint"].split("?")[0]))
            found |= {
                ("request_field", f"{fmt}: {k}")
                for k in a["request_body"]
                if (fmt, k) not in fields
            }
            root = "usageMetadata" if fmt == "gemini" else "usage"
            for key, value in (a["usage"] or {}).items():
                paths = (
                    [f"{root}.{key}.{s}" for s in value]
                    if isinstance(value, dict)
                    else [f"{root}.{key}"]
                )
                found |= {
                    ("response_usage_field", f"{fmt}: {p}")
                    for p in paths
                    if (fmt, p) not in usage_fields
                }
            if a["http_status"] and a["http_status"] >= 400:
                retries[a["http_status"]][0] += 1
                retries[a["http_status"]][1] += a["attempt"] < len(entry["attempts"])
    for status, (_, retried) in retries.items():
        if (status in contract["retryable_statuses"] and not retried) or (
            status in contract["non_retryable_statuses"] and retried
        ):
            found.add(("retry_policy", f"HTTP {status}"))
    assert demo.truth["contract_disagreements"] == [list(p) for p in sorted(found)]
    assert [
        "endpoint_path",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
    ] in demo.truth["contract_disagreements"]


@pytest.mark.parametrize("which", ["demo", "demo7"])
def test_onsets_and_remediation(which: str, request: pytest.FixtureRequest) -> None:
    truth = request.getfixturevalue(which).truth
    change = truth["injected"]["timeout_change"]
    onsets = truth["onsets"]
    assert set(onsets) == {"retry_amplification", "untracked_job"}
    retry = onsets["retry_amplification"]
    assert datetime.fromisoformat(retry["true_onset_utc"]) == datetime.fromisoformat(
        change["changed_at"]
    )
    assert (retry["trigger_changed_setting"], retry["trigger_deploy_id"]) == (
        change["key"],
        change["deploy_id"],
    )
    job = onsets["untracked_job"]
    assert _in_window(datetime.fromisoformat(job["true_onset_utc"]))
    assert job["trigger_changed_setting"] is None and job["trigger_deploy_id"] is None
    assert truth["remediation"] == sorted(
        [
            "replace_stale_rate_source",
            "add_parser_regression_test",
            "add_deployment_guard",
            "add_retry_budget",
            "add_reporting_alert",
            "prepare_support_packet",
        ]
    )


def test_skewed_keys_world_sends_one_tenant_one_label_one_template(tmp_path: Path) -> None:
    """`--skewed-keys` (the benchmark's skewed case): every app request comes from one
    tenant, for one label, with one prompt, so a tenant's requests share the few payloads
    the stream flag and the token cap make; the same world without it has many."""

    def bodies(skewed: bool) -> tuple[set[str], set[str], int, int]:
        folder = tmp_path / ("skewed" if skewed else "distinct")
        write_demo(folder, seed=5, attempts=3000, skewed_keys=skewed)
        query = f"""
            select
                json ->> 'tenant', json ->> 'model', (json -> 'request_body')::varchar
            from read_ndjson_objects('{folder}/landing/app_requests/*.jsonl*')
        """
        rows = duckdb.sql(query).fetchall()
        return (
            {row[0] for row in rows},
            {row[1] for row in rows},
            len({row[2] for row in rows}),
            len(rows),
        )

    tenants, labels, payloads, requests = bodies(skewed=True)
    assert len(tenants) == 1 and len(labels) == 1
    assert requests > 2000 and payloads <= 4
    tenants, labels, payloads, requests = bodies(skewed=False)
    assert len(tenants) > 1 and len(labels) > 1
    assert payloads > requests // 2
