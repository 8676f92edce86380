"""The pandas notebook `cometrecon run` is benchmarked against (a peer, not a test oracle):
an incident's variance waterfall computed by hand from a landing folder, with pandas alone.

    python bench/pandas_notebook.py LANDING_DIR [--incident ID]

What it computes: it reads every landing file the waterfall needs (app_requests JSON lines,
gzip or not; the three gateway log formats; catalogs, capture sidecars and the rate sheet;
the ledger, CSV or Parquet, and its sidecar; the FOCUS export; the incident YAML),
normalises them (UTC times; the four response formats' usage into input, cache read, cache
write, output and reasoning tokens; gateway quota and ratios), keeps one copy of each app
attempt and gateway request, joins them on the CometAPI request id, prices every billed
attempt at the catalog rate in force when it was sent, infers the ledger's column
conventions (least absolute residual) and walks docs/attribution.md's waterfall from the
forecast to the bill. Money is float64, printed as Decimal strings (6 places). Simplified:
an undeclared ledger offset is matched on request counts only; the alias seed is inlined;
balance, usage-total, contract and change files are not read (no step uses them). The last
line is `elapsed_seconds=<float>`: wall time from process start, imports included.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse  # noqa: E402
import gzip  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
from decimal import Decimal  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402

QUOTA_PER_USD = 500_000
ALIASES = {  # seeds/model_aliases.csv
    "claude-sonnet-4-5-20250929": "claude-sonnet-4-5",
    "claude-3-5-sonnet-latest": "claude-3-5-sonnet",
    "gpt-4o-mini-2024-07-18": "gpt-4o-mini",
    "gpt-4.1-2025-04-14": "gpt-4.1",
    "gemini-2.5-flash-latest": "gemini-2.5-flash",
}
LOG_TYPES = dict(enumerate(["unknown", "topup", "consume", "manage", "system", "error", "refund"]))
DIMS = ["input", "input_cache_read", "input_cache_write", "output", "request"]
EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
EVERY_TENANT = "(every tenant)"
# per api_format, the usage keys summed into each canonical quantity ("-key" subtracts):
# B input without cache, R cache reads, W cache writes, O output incl. reasoning, Z reasoning
USAGE = {
    "openai_chat": {
        "B": "prompt_tokens -prompt_tokens_details.cached_tokens",
        "R": "prompt_tokens_details.cached_tokens",
        "O": "completion_tokens",
        "Z": "completion_tokens_details.reasoning_tokens",
    },
    "openai_responses": {
        "B": "input_tokens -input_tokens_details.cached_tokens",
        "R": "input_tokens_details.cached_tokens",
        "O": "output_tokens",
        "Z": "output_tokens_details.reasoning_tokens",
    },
    "anthropic_messages": {
        "B": "input_tokens",
        "R": "cache_read_input_tokens",
        "W": "cache_creation_input_tokens",
        "O": "output_tokens",
    },
    "gemini": {
        "B": "promptTokenCount -cachedContentTokenCount",
        "R": "cachedContentTokenCount",
        "O": "candidatesTokenCount thoughtsTokenCount",
        "Z": "thoughtsTokenCount",
    },
}
RATIOS = ["model_ratio", "group_ratio", "completion_ratio", "cache_ratio", "cache_creation_ratio"]
GATEWAY_NUMBERS = [
    *["quota", "prompt_tokens", "completion_tokens", "cache_tokens", "cache_creation_tokens"],
    *RATIOS,
    *["model_price", "duration_ms"],
]
GATEWAY_COLUMNS = ["request_id", "billed_at", "type_name", "model_name", "usage_semantic"]
# column -> candidate conventions (the first is the default on a tie) -> coefficients
CONVENTIONS = {
    "input_tokens": {
        "excludes_cache": {"a": 0, "b": 0},
        "includes_cache_reads": {"a": 1, "b": 0},
        "includes_cache_writes": {"a": 0, "b": 1},
        "includes_cache_reads_and_writes": {"a": 1, "b": 1},
    },
    "cached_tokens": {
        "reads": {"cr": 1, "cw": 0},
        "reads_and_writes": {"cr": 1, "cw": 1},
        "absent": {"cr": 0, "cw": 0},
    },
    "output_tokens": {
        "reasoning_once": {"d": 0},
        "reasoning_twice": {"d": 1},
        "reasoning_omitted": {"d": -1},
    },
    "request_count": {"logical_requests": {"att": 0}, "attempts": {"att": 1}},
}
STEPS = [  # the waterfall, in the design's order; "=" marks a running total
    *("forecast", "timezone_shift", "stale_rate", "rate_missing_from_sheet", "alias_mismatch"),
    *("cached_tokens_priced_as_input", "cache_reads_omitted", "cache_writes_priced_as_input"),
    *("cache_writes_priced_as_cache_reads", "cache_writes_omitted"),
    *("reasoning_tokens_double_counted", "reasoning_tokens_omitted"),
    *("attempts_counted_as_requests", "other_parser_mistake", "missing_from_ledger"),
    *("retry_amplification", "stream_after_disconnect", "untracked_job"),
    *("other_unledgered_attempt", "window_boundary", "unexplained_recomputation_residual"),
    *("=recomputed", "rounding", "minimum_charge", "account_discount", "unpriced_usage"),
    *("=gateway", "credit_or_refund", "unexplained_residual", "=billed"),
]
CONVENTION_CAUSES = STEPS[5:13]
CAPTURE_GAPS = STEPS[15:19]


# ---------------------------------------------------------------- small helpers


def col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series(np.nan, index=df.index, dtype=object)


def num(df: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(col(df, name), errors="coerce")


def flag(values: pd.Series) -> pd.Series:
    """A boolean column that an outer join filled with NaN, NaN as False."""
    return values.astype("boolean").fillna(False).astype(bool)


def label_of(models: pd.Series) -> pd.Series:
    return models.replace(ALIASES)


def in_window(times: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    return times.between(start, end, inclusive="left")


def sums(values: pd.Series, where: pd.Series, by: pd.Series) -> pd.Series:
    return values.where(where, 0).groupby(by).sum()


# ---------------------------------------------------------------- reading


def read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def landing_files(landing: Path, stream: str) -> list[Path]:
    folder = landing / stream
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def is_json(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")


def json_objects(values: pd.Series) -> pd.DataFrame:
    """Flatten a column of parsed JSON objects (dicts or null) into columns, same index."""
    present = values.notna()
    flat = pd.json_normalize(values[present].tolist())
    return flat.set_axis(values.index[present]).reindex(values.index)


def json_strings(texts: pd.Series) -> pd.DataFrame:
    """Parse a column of JSON object strings at once, as JSON lines; same index."""
    lines = texts.fillna("{}").astype(str).str.replace("\n", " ", regex=False)
    lines = lines.where(lines.str.strip() != "", "{}")
    try:
        parsed = pd.read_json(io.StringIO("\n".join(lines)), lines=True, dtype=False)
    except ValueError:  # a value that is not JSON: the ratios of that row are unknown
        parsed = pd.json_normalize([_object_or_empty(text) for text in lines])
    return parsed.set_axis(texts.index)


def _object_or_empty(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def read_app_requests(landing: Path) -> pd.DataFrame:
    frames = []
    for path in landing_files(landing, "app_requests"):
        df = pd.read_json(io.BytesIO(read_bytes(path)), lines=True, dtype=False)
        usage, error = json_objects(df["usage"]), json_objects(col(df, "error"))
        keep = ["request_id", "attempt", "cometapi_request_id", "api_format", "model", "tenant"]
        out = df[keep].assign(
            sent_at=pd.to_datetime(df["sent_at"], utc=True, format="ISO8601"),
            completed_at=pd.to_datetime(df["completed_at"], utc=True, format="ISO8601"),
            http_status=num(df, "http_status"),
            disconnected=flag(col(df, "client_disconnected")),
            has_usage=df["usage"].notna(),
            error_type=col(error, "error.type"),
        )
        for q in "BRWOZ":
            out[q] = 0.0
        for api_format, quantities in USAGE.items():
            rows = out["api_format"] == api_format
            for q, keys in quantities.items():
                for key in keys.split():
                    name = key.lstrip("-")  # Gemini's counts may come wrapped in usageMetadata
                    value = num(usage, name).fillna(num(usage, f"usageMetadata.{name}"))
                    sign = -1 if key.startswith("-") else 1
                    out.loc[rows, q] += sign * value[rows].fillna(0)
        frames.append(out.assign(source=str(path)))
    return pd.concat(frames, ignore_index=True)


def normalize_gateway(df: pd.DataFrame) -> pd.DataFrame:
    """Either shape of gateway log row (new-api page or CSV; `cometapi logs` records)."""
    if "created_at" in df.columns:  # new-api: the ratios are in the `other` JSON string
        other = json_strings(col(df, "other"))
        df = df.drop(columns=[c for c in df.columns if c in other.columns]).join(other)
        df = df.assign(
            billed_at=pd.to_datetime(num(df, "created_at"), unit="s", utc=True),
            type_name=num(df, "type").map(LOG_TYPES),
            duration_ms=num(df, "total_ms").fillna(num(df, "use_time") * 1000),
            is_new_api=True,
        )
    else:  # records: ratios as fields; cache writes and usage semantics unknown
        df = df.rename(columns={"model": "model_name", "type": "type_name"}).assign(
            billed_at=pd.to_datetime(col(df, "time"), utc=True, format="ISO8601"),
            is_new_api=False,
        )
    out = df.reindex(columns=[*GATEWAY_COLUMNS, *GATEWAY_NUMBERS, "is_new_api"])
    out[GATEWAY_NUMBERS] = out[GATEWAY_NUMBERS].apply(pd.to_numeric, errors="coerce")
    return out


def read_gateway_logs(landing: Path) -> pd.DataFrame:
    frames = []
    for path in landing_files(landing, "gateway_logs"):
        data = read_bytes(path)
        if not is_json(data):
            df = pd.read_csv(io.BytesIO(data), dtype={"request_id": str, "other": str})
        else:
            try:
                doc: Any = json.loads(data)
            except ValueError:  # JSON lines
                doc = None
            if doc is None:
                df = pd.read_json(io.BytesIO(data), lines=True, dtype=False)
            else:  # a page {"data": {"items": [...]}}, {"data": [...]}, or a bare array
                items = doc.get("data", doc) if isinstance(doc, dict) else doc
                df = pd.DataFrame(items.get("items", []) if isinstance(items, dict) else items)
        frames.append(normalize_gateway(df).assign(source=str(path)))
    return pd.concat(frames, ignore_index=True)


def read_pricing(landing: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Catalog rates and rate sheet: label, dimension, usd (per token or call), valid_from."""
    catalogs, sheets = [], []
    fields = {"input": "input", "output": "output", "cache_read": "input_cache_read"}
    fields |= {"cache_write": "input_cache_write", "per_request": "request"}
    for path in landing_files(landing, "pricing"):
        data = read_bytes(path)
        if path.name.endswith(".capture.json"):
            continue
        if not is_json(data):
            sheet = pd.read_csv(io.BytesIO(data))
            sheets.append(
                sheet.assign(
                    label=label_of(sheet["model"]),
                    usd=num(sheet, "rate") / num(sheet, "unit_size"),
                    valid_from=pd.to_datetime(sheet["effective_from"], utc=True),
                )
            )
            continue
        doc = json.loads(data)
        entries = pd.json_normalize(doc["data"] if isinstance(doc, dict) else doc)
        capture = path.with_name(path.name.removesuffix(".json") + ".capture.json")
        captured = json.loads(capture.read_text())["captured_at"] if capture.exists() else None
        per_token = np.where(col(entries, "pricing.currency").str.contains("K Tokens"), 1e3, 1e6)
        for field, dimension in fields.items():
            unit = 1.0 if dimension == "request" else per_token
            rates = entries[["id"]].assign(
                label=label_of(entries["id"]),
                dimension=dimension,
                usd=num(entries, f"pricing.{field}") / unit,
                valid_from=pd.Timestamp(captured) if captured else EPOCH,
            )
            catalogs.append(rates.dropna(subset=["usd"]))
    columns = ["label", "dimension", "usd", "valid_from"]
    return pd.concat(catalogs)[columns], pd.concat(sheets)[columns]


def read_ledger(landing: Path) -> pd.DataFrame:
    frames = []
    for path in landing_files(landing, "usage_ledger"):
        if ".sidecar." in path.name:
            continue
        data = read_bytes(path)
        parquet = data[:4] == b"PAR1"
        df = pd.read_parquet(io.BytesIO(data)) if parquet else pd.read_csv(io.BytesIO(data))
        sidecar: dict[str, Any] = {}
        for suffix in (".sidecar.json", ".sidecar.yaml"):
            side = path.with_name(path.name.split(".")[0] + suffix)
            if side.exists():
                sidecar = yaml.safe_load(side.read_text()) or {}
        text = df["bucket_start"].astype(str)
        as_read = pd.to_datetime(text.str.slice(0, 19)).dt.tz_localize("UTC")
        has_offset = text.str.slice(19).str.contains(r"[+\-Z]", regex=True)
        zone = col(df, "timezone").fillna(sidecar.get("timezone") or "")
        utc = pd.Series(pd.NaT, index=df.index, dtype="datetime64[us, UTC]")
        utc[has_offset] = pd.to_datetime(text[has_offset], utc=True, format="ISO8601")
        for tz in zone[~has_offset & (zone != "")].unique():  # once per zone, not per row
            rows = ~has_offset & (zone == tz)
            local = as_read[rows].dt.tz_localize(None)
            local = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
            utc[rows] = local.dt.tz_convert("UTC")
        declared = sidecar.get("convention") or {}
        frames.append(
            df.assign(
                label=label_of(df["model"]),
                tenant_key=col(df, "tenant").fillna(EVERY_TENANT),
                ledger_source=col(df, "ledger_source").fillna(str(path)),
                bucket_minutes=num(df, "bucket_minutes").fillna(60),
                as_read=as_read,
                utc=utc,
                needs_offset=utc.isna() & (zone == ""),
                **{f"declared_{c}": declared.get(c) for c in CONVENTIONS},
            )
        )
    return pd.concat(frames, ignore_index=True)


def read_focus(landing: Path) -> pd.DataFrame:
    frames = []
    for path in landing_files(landing, "billing"):
        data = read_bytes(path)
        if not is_json(data):  # the JSON balance and usage totals are not waterfall inputs
            frames.append(pd.read_csv(io.BytesIO(data), dtype={"SkuId": str}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def read_incidents(landing: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in landing_files(landing, "incidents"):
        doc = yaml.safe_load(read_bytes(path))
        found.extend(doc if isinstance(doc, list) else [doc])
    return found


# ---------------------------------------------------------------- rates, attempts, prices


def rates_at(keys: pd.DataFrame, rates: pd.DataFrame) -> pd.Series:
    """Per row of keys (label, dimension, at): the rate in force at `at`, or before the first
    snapshot that one (assumed unchanged before its capture); NaN when none."""
    left = keys[["label", "dimension", "at"]].assign(_row=np.arange(len(keys))).sort_values("at")
    right = rates.sort_values("valid_from")
    hit = pd.merge_asof(left, right, left_on="at", right_on="valid_from", by=["label", "dimension"])
    first = right.drop_duplicates(["label", "dimension"]).rename(columns={"usd": "first"})
    hit = hit.merge(first[["label", "dimension", "first"]], on=["label", "dimension"], how="left")
    usd = hit["usd"].fillna(hit["first"]).set_axis(hit["_row"]).sort_index()
    return usd.set_axis(keys.index)


def prepare_attempts(app: pd.DataFrame) -> pd.DataFrame:
    """One copy per attempt; its request's chain; the final successful one is ledgered."""
    app = app.drop_duplicates(["request_id", "attempt"], keep="first")
    ok = app["http_status"].between(200, 299) & app["has_usage"] & ~app["disconnected"]
    chains = app.assign(ok_attempt=app["attempt"].where(ok)).groupby("request_id")
    return app.assign(
        label=label_of(app["model"]),
        attempts_in_request=chains["attempt"].transform("size"),
        is_final_success=app["attempt"] == chains["ok_attempt"].transform("max"),
    )


def prepare_gateway(logs: pd.DataFrame) -> pd.DataFrame:
    """Consume rows, one per request (the new-api copy first), tokens by dimension, and the
    exact quota its own ratios give."""
    gw = logs[logs["type_name"] == "consume"]
    gw = gw.sort_values(["is_new_api", "source"], ascending=[False, True], kind="stable")
    gw = gw[gw["request_id"].isna() | ~gw["request_id"].duplicated()].copy()
    read, write = gw["cache_tokens"].fillna(0), gw["cache_creation_tokens"].fillna(0)
    prompt = gw["prompt_tokens"].fillna(0)
    anthropic = gw["usage_semantic"] == "anthropic"  # prompt_tokens excludes the cache then
    gw["g_B"] = prompt.where(anthropic, (prompt - read - write).clip(lower=0))
    gw["g_R"], gw["g_W"], gw["g_O"] = read, write, gw["completion_tokens"].fillna(0)
    gw["billed_label"] = label_of(gw["model_name"])
    gw["model_price"] = gw["model_price"].where(gw["model_price"] >= 0)
    ratio = gw["model_ratio"] * gw["group_ratio"]
    tokens = gw["g_B"] + read * gw["cache_ratio"].fillna(0) + gw["g_O"] * gw["completion_ratio"]
    tokens += write * gw["cache_creation_ratio"].fillna(0)
    exact = (gw["model_price"] * QUOTA_PER_USD * gw["group_ratio"]).fillna(tokens * ratio)
    return gw.assign(
        has_ratios=exact.notna(),
        quota_usd=gw["quota"] / QUOTA_PER_USD,
        exact_usd=exact / QUOTA_PER_USD,
        is_minimum=(gw["quota"] == 1) & (exact.round() <= 0) & (ratio > 0),
    )


def join_attempts(app: pd.DataFrame, gw: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """Every billed attempt (app log, gateway log or both), why it is or is not in the
    ledger, and its cost at the billed label (and at the requested one)."""
    attempt_id = "app:" + app["request_id"] + "#" + app["attempt"].astype(str)
    app = app.assign(key=app["cometapi_request_id"].fillna(attempt_id))
    gw = gw.assign(key=gw["request_id"].fillna("gw:" + gw["source"] + gw.index.astype(str)))
    gw_columns = ["key", "billed_at", "billed_label", "has_ratios", "duration_ms", "model_price"]
    gw = gw[[*gw_columns, *RATIOS, "g_B", "g_R", "g_W", "g_O"]]
    j = app.merge(gw, on="key", how="outer", indicator=True)
    has_usage = flag(j["has_usage"])
    j = j[(j["_merge"] != "left_only") | has_usage].copy()
    has_usage, ledgered = has_usage[j.index], flag(j["is_final_success"])
    j["is_ledgered"], j["gw_ratios"] = ledgered, flag(j["has_ratios"])
    untracked, retried = j["_merge"] == "right_only", j["attempts_in_request"] > 1
    j["capture_status"] = np.select(
        [ledgered, untracked, retried, flag(j["disconnected"])],
        ["ledgered", "untracked_job", "retry_amplification", "stream_after_disconnect"],
        "other_unledgered_attempt",
    )
    j["requested_label"] = j["label"].fillna(j["billed_label"])
    j["priced_label"] = j["billed_label"].fillna(j["label"])
    took = pd.to_timedelta(j["duration_ms"].fillna(0), unit="ms")
    j["sent_at"] = j["sent_at"].fillna(j["billed_at"] - took)
    j["billed_at"] = j["billed_at"].fillna(j["completed_at"].where(has_usage))
    for q, dimension in zip("BRWO", DIMS, strict=False):  # the app's usage wins
        j[dimension] = j[q].where(has_usage, j[f"g_{q}"]).fillna(0)
    listed = set(catalog["label"])
    per_call = set(catalog.loc[catalog["dimension"] == "request", "label"])
    unlisted = ~j["priced_label"].isin(listed)
    j["per_call"] = j["priced_label"].isin(per_call) | (unlisted & (j["model_price"] > 0))
    j["request"] = j["per_call"].astype(int)
    j["cost"] = price(j, "priced_label", catalog)
    realiased = j["requested_label"].ne(j["priced_label"]) & j["requested_label"].isin(listed)
    j["cost_as_requested"] = j["cost"]
    if realiased.any():
        as_requested = price(j[realiased], "requested_label", catalog, by_gateway=False)
        j.loc[realiased, "cost_as_requested"] = as_requested
    return j


def price(j: pd.DataFrame, label: str, catalog: pd.DataFrame, by_gateway: bool = True) -> pd.Series:
    """Σ quantity × the catalog's rate in force when sent, per attempt; a label the catalog
    does not list is priced from the gateway's ratios (USD per 1M: input 2·model_ratio...)."""
    ids = ["row", label, "sent_at", "per_call"]
    long = j[ids[1:] + DIMS].reset_index(names="row")
    long = long.melt(ids, DIMS, var_name="dimension", value_name="q")
    long = long[long["q"] != 0].rename(columns={label: "label", "sent_at": "at"})
    usd = rates_at(long, catalog)
    if by_gateway:
        g = j.loc[long["row"]].set_axis(long.index)
        per_token = g["model_ratio"] * 2e-6
        ratios = [1, g["cache_ratio"], g["cache_creation_ratio"], g["completion_ratio"]]
        by_ratio = [per_token * r for r in ratios] + [g["model_price"]]
        which = [long["dimension"] == d for d in DIMS]
        usd = usd.fillna(pd.Series(np.select(which, by_ratio, np.nan), index=long.index))
    keep = ~long["per_call"] | (long["dimension"] == "request") | usd.notna()
    return sums(long["q"] * usd, keep, long["row"]).reindex(j.index, fill_value=0.0)


# ---------------------------------------------------------------- the ledger


def align_ledger(ledger: pd.DataFrame, app: pd.DataFrame) -> pd.DataFrame:
    """An undeclared offset: the whole-bucket shift from -12:00 to +14:00 whose request
    counts best match the app's final successful attempts."""
    if not ledger["needs_offset"].any():
        return ledger
    todo = ledger[ledger["needs_offset"]]
    step = int(todo["bucket_minutes"].min())
    ok = app[app["is_final_success"]]
    counts = ok.groupby(["label", ok["sent_at"].dt.floor(f"{step}min")]).size().rename("n")
    shifts = pd.DataFrame({"shift": pd.to_timedelta(np.arange(-720, 841, step), unit="min")})
    grid = todo.groupby(["label", "as_read"])["request_count"].sum().reset_index()
    grid = grid.merge(shifts, how="cross").assign(at=lambda g: g["as_read"] - g["shift"])
    grid = grid.merge(counts, left_on=["label", "at"], right_index=True, how="left")
    score = (grid["request_count"] - grid["n"].fillna(0)).abs().groupby(grid["shift"]).sum()
    ledger.loc[ledger["needs_offset"], "utc"] = todo["as_read"] - score.idxmin()
    return ledger


def match_buckets(ledger: pd.DataFrame, app: pd.DataFrame) -> pd.DataFrame:
    """Per ledger bucket: B, R, W, O, Z and N of the final successful attempts sent in it
    (tenant and label), A every attempt; read once per tenant, label and minute."""
    tenant = app["tenant"].fillna("").rename("tenant_key")
    keys = [tenant, app["label"], app["sent_at"].dt.floor("min").rename("minute")]
    final = app[[*"BRWOZ"]].where(app["is_final_success"], 0).assign(N=app["is_final_success"])
    minutes = final.groupby(keys).sum().assign(A=final.groupby(keys).size())
    minutes = minutes.reset_index()
    every = minutes.groupby(["label", "minute"])[[*"BRWOZNA"]].sum().reset_index()
    minutes = pd.concat([minutes, every.assign(tenant_key=EVERY_TENANT)])
    buckets = ledger.reset_index(names="bucket")[["bucket", "tenant_key", "label", "utc"]]
    pairs = buckets.merge(minutes, on=["tenant_key", "label"])
    minutes_long = ledger.loc[pairs["bucket"], "bucket_minutes"].to_numpy()
    end = pairs["utc"] + pd.to_timedelta(minutes_long, unit="min")
    pairs = pairs[(pairs["minute"] >= pairs["utc"]) & (pairs["minute"] < end)]
    matched = ledger.join(pairs.groupby("bucket")[[*"BRWOZNA"]].sum())
    return matched.fillna(dict.fromkeys("BRWOZNA", 0))


def infer_conventions(m: pd.DataFrame) -> pd.DataFrame:
    """Per ledger source × label, each column's convention: the candidate with the least
    Σ|ledger − predicted| (the first on a tie), unless the sidecar declares one."""
    predicted = {
        "input_tokens": [m.B, m.B + m.R, m.B + m.W, m.B + m.R + m.W],
        "cached_tokens": [m.R, m.R + m.W, m.R * 0],
        "output_tokens": [m.O, m.O + m.Z, m.O - m.Z],
        "request_count": [m.N, m.A],
    }
    groups = [m["ledger_source"], m["label"]]
    kept = pd.DataFrame(index=m.groupby(groups).size().index)
    for column, candidates in CONVENTIONS.items():
        ledgered = num(m, column).fillna(0)
        residuals = pd.concat([(ledgered - p).abs() for p in predicted[column]], axis=1)
        best = residuals.groupby(groups).sum().to_numpy().argmin(axis=1)
        names = pd.Series(list(candidates), dtype=object)
        declared = m.groupby(groups)[f"declared_{column}"].first()
        chosen = declared.where(declared.isin(names), names[best].to_numpy())
        coefficients = pd.DataFrame.from_dict(candidates, orient="index")
        kept = kept.join(coefficients.loc[chosen].set_axis(kept.index))
    return kept


# ---------------------------------------------------------------- the waterfall


def ledger_steps(ctx: dict[str, Any], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Forecast, timezone shift, stale and missing rates, per label; and the conventions'
    causes over the aligned buckets at verified rates."""
    ledger, sheet, catalog = ctx["matched"], ctx["sheet"], ctx["catalog"]
    unlisted = ~ledger["label"].isin(set(catalog["label"]))
    read_in = in_window(ledger["as_read"], start, end)
    aligned = in_window(ledger["utc"], start, end)
    rate: dict[str, pd.Series] = {}
    for dim in DIMS:  # the sheet's and the verified rate of each dimension at the true start
        keys = pd.DataFrame({"label": ledger["label"], "dimension": dim, "at": ledger["utc"]})
        keys["at"] = keys["at"].fillna(start)
        rate[f"sheet_{dim}"] = rates_at(keys, sheet)
        fallback = rate[f"sheet_{dim}"].where(unlisted, 0)  # a listed label leaves it out: 0
        rate[dim] = rates_at(keys, catalog).fillna(fallback).fillna(0)
    face = {"input": "input_tokens", "input_cache_read": "cached_tokens"}
    face |= {"output": "output_tokens", "request": "request_count"}
    by, steps = ledger["label"], pd.DataFrame()
    for dim, column in face.items():  # every column priced at face value
        q, sheet_rate = num(ledger, column).fillna(0), rate[f"sheet_{dim}"]
        add = {
            "forecast": sums(q * sheet_rate.fillna(0), read_in, by),
            "timezone_shift": sums(q * sheet_rate.fillna(0), aligned, by),
            "stale_rate": sums(q * (rate[dim] - sheet_rate), aligned & sheet_rate.notna(), by),
            "rate_missing_from_sheet": sums(q * rate[dim], aligned & sheet_rate.isna(), by),
            "aligned_verified": sums(q * rate[dim], aligned, by),
        }
        steps = steps.add(pd.DataFrame(add), fill_value=0)
    steps["timezone_shift"] -= steps["forecast"]
    steps["aligned_rows"] = aligned.groupby(by).sum()

    m = ledger.join(ctx["conventions"], on=["ledger_source", "label"])
    i, cr, cw, o, rq = (rate[d] for d in DIMS)
    read_term = m.R * (cr - m.a * i - m.cr * cr)
    write_term = m.W * (cw - m.b * i - m.cw * cr)
    causes = {
        "cached_tokens_priced_as_input": read_term.where(m.a == 1, 0),
        "cache_reads_omitted": read_term.where((m.a == 0) & (m.cr == 0), 0),
        "cache_writes_priced_as_input": write_term.where(m.b == 1, 0),
        "cache_writes_priced_as_cache_reads": write_term.where((m.b == 0) & (m.cw == 1), 0),
        "cache_writes_omitted": write_term.where((m.b == 0) & (m.cw == 0), 0),
        "reasoning_tokens_double_counted": (-m.Z * o).where(m.d > 0, 0),
        "reasoning_tokens_omitted": (m.Z * o).where(m.d < 0, 0),
        "attempts_counted_as_requests": ((m.N - m.A) * rq).where(m.att == 1, 0),
    }
    return steps.join(pd.DataFrame(causes)[aligned].groupby(by[aligned]).sum())


def attempt_steps(j: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Our own attempts, per requested label: the ledgered ones, the capture gap by cause,
    the window boundary and the recomputed total."""
    sent_in = in_window(j["sent_at"], start, end)
    billed_in = in_window(j["billed_at"], start, end)
    cost, by, ledgered = j["cost"], j["requested_label"], j["is_ledgered"] & sent_in
    steps = pd.DataFrame(
        {
            "ledgered_cost": sums(cost, ledgered, by),
            "alias_mismatch": sums(cost - j["cost_as_requested"], ledgered, by),
            "billed_not_sent": sums(cost, billed_in & ~sent_in, by),
            "sent_not_billed": sums(cost, sent_in & ~billed_in, by),
            "=recomputed": sums(cost, billed_in, by),
            "recomputed_with_ratios": sums(cost, billed_in & j["gw_ratios"], by),
        }
    )
    for status in CAPTURE_GAPS:
        steps[status] = sums(cost, sent_in & (j["capture_status"] == status), by)
    retry = j["capture_status"] == "retry_amplification"
    timeouts = sent_in & retry & (j["error_type"] == "client_timeout")
    steps["client_timeouts"] = sums(cost, timeouts, by)
    steps["window_boundary"] = steps.pop("billed_not_sent") - steps.pop("sent_not_billed")
    return steps


def provider_steps(ctx: dict[str, Any], start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The gateway's consume rows billed in the window, its refunds, the FOCUS lines."""
    gw, logs, focus = ctx["gateway"], ctx["logs"], ctx["focus"]
    g = gw[in_window(gw["billed_at"], start, end)]
    off, by = g["quota_usd"] - g["exact_usd"], g["billed_label"]
    steps = pd.DataFrame(
        {
            "=gateway": g["quota_usd"].groupby(by).sum(),
            "rounding": sums(off, g["has_ratios"] & ~g["is_minimum"], by),
            "minimum_charge": sums(off, g["is_minimum"], by),
            "exact_with_ratios": sums(g["exact_usd"], g["has_ratios"], by),
            "without_ratios": sums(g["quota_usd"], ~g["has_ratios"], by),
        }
    )
    refunds = logs[(logs["type_name"] == "refund") & in_window(logs["billed_at"], start, end)]
    refunds = refunds.drop_duplicates("request_id")
    refund_labels = label_of(refunds["model_name"]).fillna("unallocated")
    steps["refunded"] = (refunds["quota"].abs() / QUOTA_PER_USD).groupby(refund_labels).sum()
    if focus.empty:
        return steps.fillna(0).assign(
            credit_or_refund=lambda s: -s["refunded"],
            **{"=billed": lambda s: s["=gateway"] - s["refunded"]},
        )
    period_start = pd.to_datetime(focus["ChargePeriodStart"], utc=True)
    period_end = pd.to_datetime(focus["ChargePeriodEnd"], utc=True)
    cost = num(focus, "BilledCost")
    inside = (period_start >= start) & (period_end <= end) & (focus["BillingCurrency"] == "USD")
    credit = inside & ((focus["ChargeCategory"] == "Credit") | (cost < 0))
    by = label_of(focus["SkuId"]).fillna("unallocated")
    billed = {"=billed": sums(cost, inside, by), "credit_or_refund": sums(cost, credit, by)}
    return steps.join(pd.DataFrame(billed), how="outer").fillna(0)


def waterfall(ctx: dict[str, Any], start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    steps = ledger_steps(ctx, start, end)
    steps = steps.join(attempt_steps(ctx["joined"], start, end), how="outer")
    steps = steps.join(provider_steps(ctx, start, end), how="outer").fillna(0)
    # ledger semantics apply where the ledger has the label; where not, it is a capture gap
    has_ledger = steps["aligned_rows"] > 0
    explained = steps[CONVENTION_CAUSES].sum(axis=1)
    steps[CONVENTION_CAUSES] = steps[CONVENTION_CAUSES].where(has_ledger, 0)
    unexplained = steps["ledgered_cost"] - steps["aligned_verified"] - explained
    steps["other_parser_mistake"] = (unexplained - steps["alias_mismatch"]).where(has_ledger, 0)
    steps["missing_from_ledger"] = steps["ledgered_cost"].where(~has_ledger, 0)
    steps["alias_mismatch"] = steps["alias_mismatch"].where(has_ledger, 0)
    walked = steps[STEPS[: STEPS.index("unexplained_recomputation_residual")]].sum(axis=1)
    steps["unexplained_recomputation_residual"] = steps["=recomputed"] - walked
    steps["account_discount"] = steps["exact_with_ratios"] - steps["recomputed_with_ratios"]
    unpriced = steps["=recomputed"] - steps["recomputed_with_ratios"]
    steps["unpriced_usage"] = steps["without_ratios"] - unpriced
    steps["unexplained_residual"] = steps["=billed"] - steps["=gateway"] - steps["credit_or_refund"]
    return steps[[*STEPS, "client_timeouts"]].sum()


def usd(value: float) -> str:
    return str(Decimal(f"{value:.6f}") + 0)  # + 0: never "-0.000000"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("--incident")
    args = parser.parse_args()
    landing: Path = args.landing

    app = prepare_attempts(read_app_requests(landing))
    logs = read_gateway_logs(landing)
    gateway = prepare_gateway(logs)
    catalog, sheet = read_pricing(landing)
    matched = match_buckets(align_ledger(read_ledger(landing), app), app)
    ctx = {
        "joined": join_attempts(app, gateway, catalog),
        "gateway": gateway,
        "logs": logs,
        "focus": read_focus(landing),
        "matched": matched,
        "conventions": infer_conventions(matched),
        "catalog": catalog,
        "sheet": sheet,
    }
    for incident in read_incidents(landing):
        if args.incident and incident["incident_id"] != args.incident:
            continue
        start, end = pd.Timestamp(incident["start_utc"]), pd.Timestamp(incident["end_utc"])
        total = waterfall(ctx, start, end)
        print(f"{incident['incident_id']}  [{start}, {end})")
        for step in STEPS:
            mark = "=" if step.startswith("=") else ("" if step == "forecast" else "+")
            print(f"  {mark:1} {step.lstrip('='):36} {usd(total[step]):>14}")
            if step == "retry_amplification":
                print(f"      of which client timeouts {usd(total['client_timeouts']):>25}")
    print(f"elapsed_seconds={time.perf_counter() - _STARTED:.3f}")


if __name__ == "__main__":
    main()
