"""Run every committed Great Expectations checkpoint against the warehouse.

The suites live in the file context under `expectations/gx/` (one suite per concern and
table, stored as JSON). Each failed expectation becomes an `ExpectationFailure` naming
the concern, the table, the counts, a few sample keys and the incidents it touches; an
incident touched by any failure is blocked: its reports are not written.

`summary.json` records the warehouse state the gate ran on; `cometrecon report` reuses
that result while the warehouse is unchanged (the gate's time grows with the warehouse).

A checkpoint named `<name>.rebuilt` checks the same suite as `<name>` on the rows the
last incremental build rebuilt, copied once into a scratch table (`REBUILT_ROWS`) before
the suites read it and dropped after. The nightly runs those in place of the
whole-table ones when every other row passed an earlier gate (`rebuilt_only`); every
other caller, and a build that recomputed everything, runs the whole-table ones.
"""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from cometrecon.paths import project_dir, project_files_digest

REBUILT = ".rebuilt"
REBUILT_ROWS_SCHEMA = "gate_scope"
# the scratch table each `.rebuilt` asset reads: the rows of the requests the last build
# rebuilt (its change list, kind joined_request), within the time span the change list
# gives them (literal bounds, so the scan skips the row groups of other days). Copied
# once because every expectation of a suite is a query of its own: against a query
# asset each one scanned the key of the whole history again.
REBUILT_ROWS = {
    "fct_attempt_charges_rebuilt": """
        select charges.*
        from marts.fct_attempt_charges as charges
        semi join intermediate.int_attempt_changes_detected as changes
            on
                charges.logical_request_id = changes.change_key
                and changes.change_kind = 'joined_request'
        where charges.change_anchor_at between {earliest} and {latest}
    """,
}
MAX_SAMPLES = 5
MAX_SAMPLE_FIELDS = 8


@dataclass(frozen=True)
class ExpectationFailure:
    concern: str
    suite: str
    table: str
    expectation: str
    description: str
    unexpected_count: int | None
    element_count: int | None
    sample_keys: list[dict[str, str]]
    # None: the failure cannot be tied to incidents, so it touches every incident
    incident_ids: list[str] | None
    error: str | None = None

    def touches(self, incident_id: str) -> bool:
        return self.incident_ids is None or incident_id in self.incident_ids

    def line(self) -> str:
        counted = (
            f"{self.unexpected_count} unexpected"
            + (f" of {self.element_count}" if self.element_count is not None else "")
            if self.unexpected_count is not None
            else "could not be evaluated"
        )
        samples = "; ".join(
            ", ".join(f"{k}={v}" for k, v in sample.items()) for sample in self.sample_keys
        )
        text = f"FAILED {self.suite} [{self.expectation} on {self.table}]: {self.description} -- {counted}"
        if samples:
            text += f"; e.g. {samples}"
        if self.error:
            text += f"; error: {self.error}"
        return text


@dataclass
class GateResult:
    suites: int
    expectations: int
    seconds: float
    data_docs_index: Path
    failures: list[ExpectationFailure] = field(default_factory=list)
    per_concern: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    reused: bool = False
    """Read back from `summary.json` of an earlier run on the same warehouse state."""
    rebuilt_only: bool = False
    """The history-scale tables were checked on the rows the last build rebuilt."""

    @property
    def passed(self) -> bool:
        return not self.failures

    def failures_for(self, incident_id: str) -> list[ExpectationFailure]:
        return [f for f in self.failures if f.touches(incident_id)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "passed" if self.passed else "failed",
            "suites": self.suites,
            "expectations": self.expectations,
            "seconds": round(self.seconds, 3),
            "data_docs": str(self.data_docs_index),
            "scope": "rebuilt_rows" if self.rebuilt_only else "whole_warehouse",
            "per_concern": {
                concern: {"suites": s, "expectations": e, "failed": f}
                for concern, (s, e, f) in sorted(self.per_concern.items())
            },
            "failed_expectations": [asdict(f) for f in self.failures],
        }

    @classmethod
    def reused_from(cls, summary: dict[str, Any]) -> GateResult:
        """The result an earlier run saved as `summary.json` (see `as_dict`)."""
        return cls(
            suites=int(summary["suites"]),
            expectations=int(summary["expectations"]),
            seconds=float(summary["seconds"]),
            data_docs_index=Path(summary["data_docs"]),
            failures=[ExpectationFailure(**f) for f in summary["failed_expectations"]],
            per_concern={
                concern: (counts["suites"], counts["expectations"], counts["failed"])
                for concern, counts in summary["per_concern"].items()
            },
            reused=True,
        )

    def summary_lines(self) -> list[str]:
        counts = (
            f"{self.suites} suites, {self.expectations} expectations, "
            f"{len(self.failures)} failed in {self.seconds:.1f} s"
        )
        lines = [
            f"validation: reused the gate's result on this unchanged warehouse ({counts})"
            if self.reused
            else f"validation: {counts}"
            + (" (history-scale tables: the rows this build rebuilt)" if self.rebuilt_only else "")
        ]
        for concern, (suites, expectations, failed) in sorted(self.per_concern.items()):
            state = "all passed" if not failed else f"{failed} FAILED"
            lines.append(
                f"  {concern:<18} {suites:>2} suites {expectations:>3} expectations  {state}"
            )
        lines.extend(f"  {failure.line()}" for failure in self.failures)
        lines.append(f"Data Docs: {self.data_docs_index}")
        return lines


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _samples(result: dict[str, Any], keys: list[str]) -> list[dict[str, str]]:
    """A few offending rows: their keys and the offending value (or the whole query row)."""
    indexed = result.get("partial_unexpected_index_list") or result.get("unexpected_index_list")
    rows = (result.get("details") or {}).get("unexpected_rows") or []
    samples = []
    for row in (indexed if indexed is not None else rows)[:MAX_SAMPLES]:
        if isinstance(row, dict):
            chosen = dict(list(row.items())[:MAX_SAMPLE_FIELDS]) if indexed is None else row
            samples.append({k: _text(v) for k, v in chosen.items()})
    return samples


def _incidents(
    result: dict[str, Any], incident_column: str | None, unexpected: int | None
) -> list[str] | None:
    """The incidents a failure touches, or None when it cannot be narrowed (all of them)."""
    if not incident_column or unexpected is None:
        return None
    rows = result.get("unexpected_index_list") or result.get("partial_unexpected_index_list")
    if rows is None:
        rows = (result.get("details") or {}).get("unexpected_rows") or []
    ids = {str(r[incident_column]) for r in rows if isinstance(r, dict) and r.get(incident_column)}
    # a truncated list may hide incidents: be conservative and touch every incident
    if not ids or len(rows) < unexpected:
        return None
    return sorted(ids)


def _failure(suite_name: str, meta: dict[str, Any], outcome: Any) -> ExpectationFailure:
    config = outcome.expectation_config
    result: dict[str, Any] = dict(outcome.result or {})
    error = None
    exception = outcome.exception_info or {}
    if exception.get("raised_exception"):
        error = str(exception.get("exception_message") or "exception")[:500]
    unexpected = result.get("unexpected_count", result.get("observed_value"))
    unexpected_count = int(unexpected) if isinstance(unexpected, int) else None
    keys = list(meta.get("key_columns") or [])
    return ExpectationFailure(
        concern=str(meta.get("concern", suite_name.split(".")[0])),
        suite=suite_name,
        table=str(meta.get("asset", "")),
        expectation=str(config.type),
        description=str(config.description or config.type),
        unexpected_count=unexpected_count,
        element_count=result.get("element_count"),
        sample_keys=_samples(result, keys),
        incident_ids=_incidents(result, meta.get("incident_column"), unexpected_count),
        error=error,
    )


def _environment(db_path: Path, out_dir: Path) -> dict[str, str]:
    return {
        "COMETRECON_GX_URL": f"duckdb:///{db_path.resolve()}",
        "COMETRECON_GX_RESULTS_DIR": str((out_dir / "results").resolve()),
        "COMETRECON_DATA_DOCS_DIR": str((out_dir / "data_docs").resolve()),
    }


def warehouse_state(db_path: Path) -> dict[str, Any]:
    """What a gate result holds for: the warehouse file and its write-ahead log as they
    stand (every write changes a size or a modification time) and the suites run."""
    warehouse = db_path.resolve()

    def stamp(path: Path) -> list[int] | None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        return [stat.st_size, stat.st_mtime_ns]

    return {
        "warehouse": str(warehouse),
        "file": stamp(warehouse),
        "write_ahead_log": stamp(warehouse.with_name(warehouse.name + ".wal")),
        "suites": project_files_digest("expectations"),
    }


def reusable_gate(db_path: Path, out_dir: Path) -> GateResult | None:
    """The complete gate result saved under `out_dir`, if it was computed on the warehouse
    exactly as it stands now; None when there is none or anything has changed since."""
    try:
        summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if summary.get("warehouse_state") != warehouse_state(db_path):
        return None
    return GateResult.reused_from(summary)


def selected_checkpoints(names: Iterable[str], rebuilt_only: bool) -> list[str]:
    """The checkpoints a gate runs: the whole-table ones; with `rebuilt_only`, a table's
    `.rebuilt` checkpoint in place of its whole-table one where it has one."""
    every = set(names)
    return sorted(
        name
        for name in every
        if (name.endswith(REBUILT) and rebuilt_only)
        or (not name.endswith(REBUILT) and not (rebuilt_only and name + REBUILT in every))
    )


def _copy_rebuilt_rows(db_path: Path) -> bool:
    """Fill the scratch tables of the `.rebuilt` assets; False (nothing copied) when the
    last build recomputed everything, whose rebuilt rows are every row."""
    with duckdb.connect(str(db_path)) as con:
        try:
            recomputed_all, *span = con.execute(
                "select count(*) filter (where change_kind = 'recompute_all') > 0, "
                "min(earliest_at) filter (where change_kind = 'joined_request')::varchar, "
                "max(latest_at) filter (where change_kind = 'joined_request')::varchar "
                "from intermediate.int_attempt_changes_detected"
            ).fetchone() or (True,)
        except duckdb.CatalogException:  # never built: nothing was rebuilt incrementally
            return False
        if recomputed_all:
            return False
        # no rebuilt request: null bounds, so the copy is empty
        earliest, latest = (
            f"timestamptz '{bound}'" if bound else "null::timestamptz" for bound in span
        )
        con.execute(f"create schema if not exists {REBUILT_ROWS_SCHEMA}")
        for table, rows in REBUILT_ROWS.items():
            bounded = rows.format(earliest=earliest, latest=latest)
            con.execute(f"create or replace table {REBUILT_ROWS_SCHEMA}.{table} as {bounded}")
    return True


def _drop_rebuilt_rows(db_path: Path) -> None:
    with duckdb.connect(str(db_path)) as con:
        con.execute(f"drop schema if exists {REBUILT_ROWS_SCHEMA} cascade")


def _quiet_known_warnings() -> None:
    # GX warns that per-asset schema names are deprecated, and SQLAlchemy that it cannot
    # reflect DuckDB list columns; neither affects the expectations run here
    warnings.filterwarnings("ignore", message="`schema_name` is deprecated")
    warnings.filterwarnings("ignore", message="Did not recognize type")


def import_great_expectations_in_background() -> threading.Thread:
    """Start importing Great Expectations (about 5 s of module loading) on a thread while
    the caller waits for something else, such as `dbt build` in its child process: the
    gate then finds the modules loaded. A failure here is left for the gate to raise."""

    def load() -> None:
        try:
            import great_expectations  # noqa: F401

            from cometrecon.validation import gx_duckdb  # noqa: F401
        except Exception:  # the gate imports it again and reports the error itself
            return

    _quiet_known_warnings()
    thread = threading.Thread(target=load, name="import-great-expectations", daemon=True)
    thread.start()
    return thread


def run_gate(
    db_path: Path,
    out_dir: Path,
    only: Iterable[str] | None = None,
    rebuilt_only: bool = False,
) -> GateResult:
    """Run every checkpoint (or those named in `only`) on the warehouse, read-only but
    for the `rebuilt_only` scratch tables (see the module's docstring).

    Writes validation results, the Data Docs site and `summary.json` under `out_dir`; a
    complete whole-warehouse run's summary names the warehouse state it ran on, for
    `reusable_gate`.
    """
    started = time.perf_counter()
    rebuilt_only = rebuilt_only and _copy_rebuilt_rows(db_path)
    state = warehouse_state(db_path) if only is None and not rebuilt_only else None
    os.environ.update(_environment(db_path, out_dir))
    _quiet_known_warnings()
    import great_expectations as gx

    from cometrecon.validation import gx_duckdb

    gx_duckdb.install()
    context = gx.get_context(mode="file", project_root_dir=project_dir() / "expectations")
    wanted = set(only) if only is not None else None
    failures: list[ExpectationFailure] = []
    per_concern: dict[str, tuple[int, int, int]] = {}
    suites = expectations = 0
    try:
        checkpoints = {checkpoint.name: checkpoint for checkpoint in context.checkpoints.all()}
        for name in selected_checkpoints(checkpoints, rebuilt_only):
            if wanted is not None and name not in wanted:
                continue
            outcome = checkpoints[name].run()
            for suite_result in outcome.run_results.values():
                suite_name = str(suite_result.suite_name)
                meta: dict[str, Any] = dict(context.suites.get(suite_name).meta or {})
                concern = str(meta.get("concern", suite_name.split(".")[0]))
                failed_here = [
                    _failure(suite_name, meta, r) for r in suite_result.results if not r.success
                ]
                failures.extend(failed_here)
                n_suites, n_expectations, n_failed = per_concern.get(concern, (0, 0, 0))
                per_concern[concern] = (
                    n_suites + 1,
                    n_expectations + len(suite_result.results),
                    n_failed + len(failed_here),
                )
                suites += 1
                expectations += len(suite_result.results)
        sites = context.build_data_docs()
    finally:
        gx_duckdb.release(context.data_sources.get("warehouse"))
        if rebuilt_only:
            _drop_rebuilt_rows(db_path)
    index = Path(str(sites.get("local_site", "")).removeprefix("file://"))
    result = GateResult(
        suites=suites,
        expectations=expectations,
        seconds=time.perf_counter() - started,
        data_docs_index=index,
        failures=failures,
        per_concern=per_concern,
        rebuilt_only=rebuilt_only,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(
        json.dumps({**result.as_dict(), "warehouse_state": state}, indent=2, default=str) + "\n",
        encoding="utf-8",
    )
    return result
