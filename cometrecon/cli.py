"""The `cometrecon` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cometrecon.lock import WarehouseBusy, warehouse_lock
from cometrecon.paths import default_reports_dir, project_dir, warehouse_path

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_FAILED = 2


def _ingest(landing_dir: Path, db_path: Path) -> int:
    from ingest.loader import ingest

    report = ingest(landing_dir, db_path, project_dir())
    return EXIT_REJECTED if report.rejected else EXIT_OK


def command_ingest(args: argparse.Namespace) -> int:
    db_path = Path(args.db) if args.db else warehouse_path()
    with warehouse_lock(db_path, args.wait):
        return _ingest(Path(args.landing_dir), db_path)


def command_run(args: argparse.Namespace) -> int:
    from cometrecon.dbt_runner import run_dbt

    db_path = Path(args.db) if args.db else warehouse_path()
    with warehouse_lock(db_path, args.wait):
        ingest_status = _ingest(Path(args.landing_dir), db_path)
        if run_dbt(["build"], db_path) != 0:
            print("cometrecon run: dbt build failed (see above)", file=sys.stderr)
            return EXIT_FAILED
        print(f"warehouse: {db_path}")
        _write_reports(db_path, Path(args.reports))
    if ingest_status != EXIT_OK:
        print(
            "cometrecon run: some files were rejected (see REJECTED lines above)", file=sys.stderr
        )
    return ingest_status


def _write_reports(db_path: Path, reports_dir: Path, incident_id: str | None = None) -> None:
    from cometrecon.reports import write_all_incidents, write_incident_outputs

    written = (
        {incident_id: write_incident_outputs(db_path, incident_id, reports_dir)}
        if incident_id
        else write_all_incidents(db_path, reports_dir)
    )
    if not written:
        print(
            "no incident definitions landed: no reports written (add a YAML file under incidents/)"
        )
    for incident, paths in written.items():
        print(f"reports for {incident}:")
        for path in paths:
            print(f"  {path}")


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
            _write_reports(db_path, Path(args.reports), args.incident_id)
    except KeyError as error:
        print(f"cometrecon report: {error.args[0]}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def command_demo(args: argparse.Namespace) -> int:
    from cometrecon.demo import write_demo

    out_dir = Path(args.out_dir)
    summary = write_demo(out_dir, seed=args.seed, attempts=args.attempts)
    print(summary)
    return EXIT_OK


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

    report = sub.add_parser(
        "report", help="write one incident's record, support packet, closure and report"
    )
    report.add_argument("incident_id")
    _add_warehouse_arguments(report)
    report.set_defaults(handler=command_report)

    demo = sub.add_parser("demo", help="write a demo landing folder and its ground truth")
    demo.add_argument("out_dir", help="writes OUT_DIR/landing/ and OUT_DIR/ground_truth.json")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument(
        "--attempts", type=int, default=None, help="scale the demo to about N attempts"
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


if __name__ == "__main__":
    raise SystemExit(main())
