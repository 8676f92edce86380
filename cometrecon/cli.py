"""The `cometrecon` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cometrecon.lock import WarehouseBusy, warehouse_lock
from cometrecon.paths import default_reports_dir, project_dir, warehouse_path

if TYPE_CHECKING:
    from cometrecon.demo.world import LedgerConvention
    from cometrecon.validation import GateResult

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_FAILED = 2
EXIT_BLOCKED = 3
VALIDATION_DIR = "_validation"


def _ingest(landing_dir: Path, db_path: Path) -> int:
    from ingest.loader import ingest

    report = ingest(landing_dir, db_path, project_dir())
    return EXIT_REJECTED if report.rejected else EXIT_OK


def command_ingest(args: argparse.Namespace) -> int:
    db_path = Path(args.db) if args.db else warehouse_path()
    with warehouse_lock(db_path, args.wait):
        return _ingest(Path(args.landing_dir), db_path)


def command_run(args: argparse.Namespace) -> int:
    from cometrecon.dbt_runner import WarmDbt, build_warehouse
    from cometrecon.validation.gate import import_great_expectations_in_background

    db_path = Path(args.db) if args.db else warehouse_path()
    # dbt starts and parses the project while the files land; the gate's library loads
    # while dbt builds in its own process
    with warehouse_lock(db_path, args.wait), WarmDbt(db_path) as warm_dbt:
        ingest_status = _ingest(Path(args.landing_dir), db_path)
        import_great_expectations_in_background()
        if build_warehouse(db_path, warm=warm_dbt) != 0:
            print("cometrecon run: dbt build failed (see above)", file=sys.stderr)
            return EXIT_FAILED
        print(f"warehouse: {db_path}")
        report_status = _validate_and_report(db_path, Path(args.reports))
    if ingest_status != EXIT_OK:
        print(
            "cometrecon run: some files were rejected (see REJECTED lines above)", file=sys.stderr
        )
    return report_status if report_status != EXIT_OK else ingest_status


def command_build(args: argparse.Namespace) -> int:
    from cometrecon.dbt_runner import build_warehouse

    db_path = Path(args.db) if args.db else warehouse_path()
    with warehouse_lock(db_path, args.wait):
        if build_warehouse(db_path, full_refresh=args.full_refresh) != 0:
            print("cometrecon build: dbt build failed (see above)", file=sys.stderr)
            return EXIT_FAILED
    return EXIT_OK


def _validate(db_path: Path, reports_dir: Path, reuse: bool = False) -> GateResult:
    from cometrecon.validation import reusable_gate, run_gate

    out_dir = reports_dir / VALIDATION_DIR
    gate = (reuse and reusable_gate(db_path, out_dir)) or run_gate(db_path, out_dir)
    for line in gate.summary_lines():
        print(line)
    return gate


def _validate_and_report(
    db_path: Path, reports_dir: Path, incident_id: str | None = None, reuse_gate: bool = False
) -> int:
    """Run the gate (or reuse its result on an unchanged warehouse), then write every
    incident's outputs (or only its blocked record)."""
    from cometrecon.reports import write_all_incidents, write_incident_outputs

    gate = _validate(db_path, reports_dir, reuse=reuse_gate)
    failed: dict[str, str] = {}
    if incident_id:
        written = {incident_id: write_incident_outputs(db_path, incident_id, reports_dir, gate)}
    else:
        written, failed = write_all_incidents(db_path, reports_dir, gate)
    if not written and not failed:
        print(
            "no incident definitions landed: no reports written (add a YAML file under incidents/)"
        )
    blocked = [incident for incident in written if gate.failures_for(incident)]
    for incident, paths in written.items():
        state = " BLOCKED by validation: record only" if incident in blocked else ""
        print(f"reports for {incident}:{state}")
        for path in paths:
            print(f"  {path}")
    for incident, reason in failed.items():
        print(f"cometrecon: no outputs for incident {incident!r}: {reason}", file=sys.stderr)
    if failed:
        return EXIT_FAILED
    if not gate.passed:
        print(
            f"cometrecon: validation failed; blocked incidents: {', '.join(blocked) or 'none'} "
            f"(see FAILED lines above and the Data Docs at {gate.data_docs_index})",
            file=sys.stderr,
        )
        return EXIT_BLOCKED
    return EXIT_OK


def command_report(args: argparse.Namespace) -> int:
    db_path = Path(args.db) if args.db else warehouse_path()
    if not db_path.exists():
        print(
            f"cometrecon report: no warehouse at {db_path}; run `cometrecon run LANDING_DIR` first",
            file=sys.stderr,
        )
        return EXIT_FAILED
    try:
        with warehouse_lock(db_path, args.wait):
            return _validate_and_report(
                db_path, Path(args.reports), args.incident_id, reuse_gate=True
            )
    except KeyError as error:
        print(f"cometrecon report: {error.args[0]}", file=sys.stderr)
        return EXIT_FAILED


def command_validate(args: argparse.Namespace) -> int:
    db_path = Path(args.db) if args.db else warehouse_path()
    if not db_path.exists():
        print(f"cometrecon validate: no warehouse at {db_path}", file=sys.stderr)
        return EXIT_FAILED
    with warehouse_lock(db_path, args.wait):
        gate = _validate(db_path, Path(args.reports))
    return EXIT_OK if gate.passed else EXIT_BLOCKED


def command_nightly(args: argparse.Namespace) -> int:
    from datetime import date

    from cometrecon.nightly import last_finished_day, run_nightly
    from cometrecon.nightly_config import load_config

    db_path = Path(args.db) if args.db else warehouse_path()
    day = date.fromisoformat(args.date) if args.date else last_finished_day()
    config = load_config(args.config)
    with warehouse_lock(db_path, args.wait):
        return run_nightly(Path(args.landing_dir), db_path, Path(args.reports), day, config)


def command_export_parquet(args: argparse.Namespace) -> int:
    from cometrecon.parquet_export import export_raw_parquet

    db_path = Path(args.db) if args.db else warehouse_path()
    with warehouse_lock(db_path, args.wait):
        rows = export_raw_parquet(db_path, Path(args.out_dir))
    print(f"exported {len(rows)} raw tables ({sum(rows.values()):,} rows) to {args.out_dir}")
    return EXIT_OK


def command_spark_check(args: argparse.Namespace) -> int:
    from cometrecon.parquet_export import export_raw_parquet
    from cometrecon.spark_parity import (
        build_on_spark,
        compare_marts,
        spark_unavailable,
        summary_lines,
        write_record,
    )

    problem = spark_unavailable()
    if problem:
        print(f"cometrecon spark-check: {problem}", file=sys.stderr)
        return EXIT_FAILED
    db_path = Path(args.db) if args.db else warehouse_path()
    spark_dir = Path(args.spark_dir).resolve()
    with warehouse_lock(db_path, args.wait):
        rows = export_raw_parquet(db_path, spark_dir / "raw")
        print(f"exported {len(rows)} raw tables ({sum(rows.values()):,} rows) as Parquet")
        print(f"$ dbt build --target spark   (log: {spark_dir / 'dbt_build.log'})", flush=True)
        build = build_on_spark(spark_dir, spark_dir / "raw")
        if build.returncode != 0:
            tail = build.log_path.read_text(errors="replace").splitlines()[-40:]
            print("\n".join(tail), file=sys.stderr)
            print("cometrecon spark-check: dbt build on Spark failed", file=sys.stderr)
            return EXIT_FAILED
        comparisons = compare_marts(db_path, spark_dir / "warehouse")
    for line in summary_lines(comparisons, build):
        print(line)
    write_record(spark_dir / "spark_parity.json", comparisons, build)
    return EXIT_OK if all(item.identical for item in comparisons) else EXIT_REJECTED


def command_demo(args: argparse.Namespace) -> int:
    from cometrecon.demo import write_demo

    out_dir = Path(args.out_dir)
    summary = write_demo(
        out_dir,
        seed=args.seed,
        attempts=args.attempts,
        ledger_convention=args.ledger_convention,
        declare_convention=args.declare_convention,
        sheet_prices_cache_reads=args.sheet_prices_cache_reads,
        skewed_keys=args.skewed_keys,
    )
    print(summary)
    return EXIT_OK


def _ledger_convention(spec: str) -> LedgerConvention:
    from cometrecon.demo.world import LedgerConvention

    try:
        return LedgerConvention.parse(spec)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _add_warehouse_arguments(parser: argparse.ArgumentParser, reports: bool = True) -> None:
    parser.add_argument(
        "--db", help="DuckDB file (default: $COMETRECON_DB or warehouse/cometrecon.duckdb)"
    )
    if reports:
        parser.add_argument(
            "--reports", default=str(default_reports_dir()), help="where reports/<incident_id>/ go"
        )
    parser.add_argument(
        "--wait",
        type=float,
        default=None,
        help="seconds to wait for a busy warehouse (default 300)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cometrecon",
        description="Reconcile what CometAPI charged against what your own logs say you used.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="land every file of a landing folder into the warehouse")
    ingest.add_argument("landing_dir")
    _add_warehouse_arguments(ingest, reports=False)
    ingest.set_defaults(handler=command_ingest)

    run = sub.add_parser("run", help="ingest, dbt build, validate and report")
    run.add_argument("landing_dir")
    _add_warehouse_arguments(run)
    run.set_defaults(handler=command_run)

    build = sub.add_parser(
        "build",
        help="dbt build only: incremental, or a full refresh when the project changed",
    )
    build.add_argument(
        "--full-refresh", action="store_true", help="rebuild every incremental model from raw"
    )
    _add_warehouse_arguments(build, reports=False)
    build.set_defaults(handler=command_build)

    report = sub.add_parser(
        "report",
        help="write one incident's record, support packet, closure and report (the gate's "
        "result is reused while the warehouse is unchanged since `cometrecon validate`)",
    )
    report.add_argument("incident_id")
    _add_warehouse_arguments(report)
    report.set_defaults(handler=command_report)

    validate = sub.add_parser(
        "validate",
        help="run the Great Expectations gate on the warehouse (exit 3 when a suite fails)",
    )
    _add_warehouse_arguments(validate)
    validate.set_defaults(handler=command_validate)

    nightly = sub.add_parser(
        "nightly",
        help="reconcile the finished UTC day: exit 0 within tolerance, 1 variance alert, 2 failure",
    )
    nightly.add_argument("landing_dir")
    nightly.add_argument(
        "--date", help="the UTC day to reconcile, YYYY-MM-DD (default: yesterday in UTC)"
    )
    nightly.add_argument(
        "--config", help="TOML settings (default: $COMETRECON_CONFIG or cometrecon.toml)"
    )
    _add_warehouse_arguments(nightly)
    nightly.set_defaults(handler=command_nightly)

    export = sub.add_parser(
        "export-parquet", help="write every raw table as Parquet (OUT_DIR/<table>/)"
    )
    export.add_argument("out_dir")
    _add_warehouse_arguments(export, reports=False)
    export.set_defaults(handler=command_export_parquet)

    spark = sub.add_parser(
        "spark-check",
        help="build the project on Spark from this warehouse's raw data and compare every "
        "public mart with the DuckDB build (exit 1 when any differs)",
    )
    spark.add_argument(
        "--spark-dir",
        default=os.environ.get("COMETRECON_SPARK_DIR", str(project_dir() / "spark")),
        help="Spark's metastore, warehouse and raw Parquet (default: spark/)",
    )
    _add_warehouse_arguments(spark, reports=False)
    spark.set_defaults(handler=command_spark_check)

    demo = sub.add_parser("demo", help="write a demo landing folder and its ground truth")
    demo.add_argument("out_dir", help="writes OUT_DIR/landing/ and OUT_DIR/ground_truth.json")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument(
        "--attempts", type=int, default=None, help="scale the demo to about N attempts"
    )
    demo.add_argument(
        "--ledger-convention",
        type=_ledger_convention,
        default=None,
        metavar="SPEC",
        help="what each ledger column holds, e.g. input_tokens=excludes_cache,"
        "cached_tokens=reads,output_tokens=reasoning_twice,request_count=attempts "
        "(any subset; default input_tokens=includes_cache_reads_and_writes,cached_tokens=reads,"
        "output_tokens=reasoning_once,request_count=logical_requests)",
    )
    demo.add_argument(
        "--declare-convention",
        action="store_true",
        help="write the ledger's convention (all four columns) into its sidecar",
    )
    demo.add_argument(
        "--sheet-prices-cache-reads",
        action="store_true",
        help="add an input_cache_read row per model to the rate sheet (at the verified rate)",
    )
    demo.add_argument(
        "--skewed-keys",
        action="store_true",
        help="every app request from one tenant, for one label, with one templated prompt "
        "(the benchmark's skewed case)",
    )
    demo.set_defaults(handler=command_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except FileNotFoundError as error:
        print(f"cometrecon: {error}", file=sys.stderr)
        return EXIT_FAILED
    except WarehouseBusy as error:
        print(f"cometrecon: {error}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as error:
        print(f"cometrecon: {error}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
