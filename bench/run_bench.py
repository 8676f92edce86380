"""`make bench`: time `cometrecon run` on demo landing folders of several sizes, against
the floor (DuckDB alone reading the same files once) and a pandas notebook computing the
waterfall from the same files, with peak memory.

    python bench/run_bench.py [--cases small=30000,medium=300000,skewed=1000000:skewed,...]
                              [--history-days 30] [--history-attempts 1000000]
                              [--new-day-attempts 1000000] [--out docs/benchmarks.md]
                              [--work DIR]

Each case writes its demo landing folder (not timed; `:skewed` cases with
`--skewed-keys`: one tenant, one label, one templated prompt), then times in their own
processes, each with the peak resident set of its whole process tree (sampled every 50 ms
from /proc): the floor (DuckDB alone creating one table from every file, one pass:
read_json / read_csv / read_text), the pandas notebook (`bench/pandas_notebook.py`, up to
3M attempts) and `cometrecon run` on a fresh warehouse, whose stages are read from the
moments it prints their ends. The smallest case (up to 1M) is run again after one late file (the
gateway's last log page, held back from the first run) on the same warehouse. Then the
incremental case: one new day on a warehouse that already holds `--history-days` days of
`--history-attempts` attempts each (landed day by day, built once with `cometrecon
build`), against the same day on an empty warehouse, both via `cometrecon nightly`.
Writes one table to `--out` with the machine's cores and memory. Nothing here is a test:
no threshold fails the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass
class Stage:
    name: str
    seconds: float
    peak_rss_mb: float
    returncode: int


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _tree_rss_kb(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
        stack.extend(_children(current))
    return total


def timed(name: str, command: list[str], env: dict[str, str], log: Path) -> Stage:
    """Run a command; wall time and the peak RSS of its whole process tree."""
    peak = 0
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss_kb(process.pid))
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        returncode = process.wait()
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    stage = Stage(name, seconds, peak / 1024, returncode)
    print(
        f"  {name:<14} {seconds:8.1f} s  peak {stage.peak_rss_mb:8.0f} MB  rc={returncode}",
        flush=True,
    )
    return stage


FLOOR_SQL = """
import sys, duckdb
from pathlib import Path
con = duckdb.connect(sys.argv[2])
con.execute("set memory_limit = '3GB'")
for number, path in enumerate(sorted(p for p in Path(sys.argv[1]).rglob('*') if p.is_file())):
    name = path.name
    if '.jsonl' in name:
        reader = f"read_ndjson_objects('{path}')"
    elif name.endswith('.csv') or '.csv.' in name:
        reader = f"read_csv('{path}', union_by_name=true, all_varchar=true)"
    elif name.endswith('.json') or '.json.' in name:
        reader = f"read_json_objects('{path}', format='auto', maximum_object_size=1073741824)"
    else:
        reader = f"read_text('{path}')"
    con.execute(f"create table t{number} as select * from {reader}")
con.close()
"""


@dataclass
class Case:
    """One benchmark case: a demo landing folder of about `attempts` attempts."""

    name: str
    attempts: int
    skewed: bool = False
    # hold the gateway's last log page back, then rerun with it (the smallest case)
    late_file: bool = False

    @property
    def label(self) -> str:
        keys = "skewed keys" if self.skewed else "distinct keys"
        return f"{self.name} ({self.attempts:,} attempts, {keys})"


DEFAULT_CASES = "small=30000,medium=300000,skewed=1000000:skewed,distinct=1000000,large=10000000"
NOTEBOOK_UP_TO = 3_000_000  # the pandas notebook holds every file in memory at once
RERUN_UP_TO = 1_000_000

# lines `cometrecon run` prints when a stage ends (the run is timed as one process; its
# stages are read from the time each line appears)
STAGE_MARKS = (
    ("ingest", "ingest done:"),
    ("dbt build", "warehouse: "),
    ("validation", "validation: "),
    ("reports", "reports for "),
)


def parse_cases(spec: str) -> list[Case]:
    """`name=attempts[:skewed],...` as cases."""
    cases = []
    for item in spec.split(","):
        if not item:
            continue
        name, _, rest = item.partition("=")
        attempts, _, flag = rest.partition(":")
        cases.append(Case(name, int(attempts), flag == "skewed"))
    return cases


def timed_run(command: list[str], env: dict[str, str], log: Path) -> tuple[Stage, dict[str, float]]:
    """`cometrecon run` as one process: its wall time and peak RSS, and the seconds each
    stage took, from the moments its end-of-stage lines were printed."""
    stage_ends: dict[str, float] = {}
    peak = 0
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT, text=True
        )
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss_kb(process.pid))
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            for stage, mark in STAGE_MARKS:
                if stage not in stage_ends and line.startswith(mark):
                    stage_ends[stage] = time.perf_counter() - started
        returncode = process.wait()
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    stages, previous = {}, 0.0
    for stage, _ in STAGE_MARKS:
        if stage in stage_ends:
            stages[stage] = stage_ends[stage] - previous
            previous = stage_ends[stage]
    run = Stage("cometrecon run", seconds, peak / 1024, returncode)
    print(
        f"  {run.name:<14} {seconds:8.1f} s  peak {run.peak_rss_mb:8.0f} MB  rc={returncode}  "
        + "  ".join(f"{name} {value:.1f} s" for name, value in stages.items()),
        flush=True,
    )
    return run, stages


@dataclass
class CaseResult:
    case: Case
    floor: Stage
    notebook: Stage | None
    run: Stage
    stages: dict[str, float]
    rerun: Stage | None  # after one new file, on the same warehouse


LATE_FILE = "gateway_logs/cometapi_logs_*T12.jsonl"  # the last page of the gateway's log


def warehouse_path(work: Path) -> Path:
    """Every case's fresh warehouse at one path, as a user's `cometrecon run` on its
    default warehouse: dbt keeps its partial parsing between runs (the path is part of
    the profile, and a new path means a full parse)."""
    return work / "warehouse" / "cometrecon.duckdb"


def remove_warehouse(db: Path) -> None:
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)
    shutil.rmtree(db.with_name(db.name + ".tmp"), ignore_errors=True)
    db.parent.mkdir(parents=True, exist_ok=True)


def parse_once(work: Path, env: dict[str, str]) -> None:
    """`dbt parse` against the benchmark's warehouse path (not timed): the first case is
    then timed as every later run is, with dbt's partial parsing state in place."""
    db = warehouse_path(work)
    remove_warehouse(db)
    subprocess.run(
        [str(BIN / "dbt"), "parse"],
        env={**env, "COMETRECON_DB": str(db)},
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def bench_case(case: Case, work: Path, env: dict[str, str]) -> CaseResult:
    folder = work / case.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log = folder / "bench.log"
    print(f"{case.label}: writing the demo landing folder (not timed)", flush=True)
    demo = [str(BIN / "cometrecon"), "demo", str(folder / "demo"), "--seed", "42"]
    demo += ["--attempts", str(case.attempts)] + (["--skewed-keys"] if case.skewed else [])
    subprocess.run(demo, check=True, env=env, stdout=subprocess.DEVNULL)
    landing = folder / "demo" / "landing"
    db = warehouse_path(work)
    remove_warehouse(db)
    stage_env = {**env, "COMETRECON_DB": str(db), "COMETRECON_REPORTS": str(folder / "reports")}
    floor = timed(
        "floor",
        [sys.executable, "-c", FLOOR_SQL, str(landing), str(folder / "floor.duckdb")],
        stage_env,
        log,
    )
    notebook = None
    if case.attempts <= NOTEBOOK_UP_TO:
        notebook = timed(
            "pandas notebook",
            [sys.executable, str(ROOT / "bench" / "pandas_notebook.py"), str(landing)],
            stage_env,
            log,
        )
    # the small case: the last gateway page arrives after the first run, which the
    # rerun then lands (everything else unchanged)
    late = sorted(landing.glob(LATE_FILE)) if case.late_file else []
    held = folder / "held"
    if late:
        held.mkdir()
        for path in late:
            path.rename(held / path.name)
    cometrecon = str(BIN / "cometrecon")
    run, stages = timed_run([cometrecon, "run", str(landing)], stage_env, log)
    rerun = None
    if late:
        for path in late:
            (held / path.name).rename(path)
        rerun, _ = timed_run([cometrecon, "run", str(landing)], stage_env, log)
    # a 10M-attempt folder and its warehouse take about 30 GB: free them for the next case
    (folder / "floor.duckdb").unlink(missing_ok=True)
    shutil.rmtree(folder / "demo", ignore_errors=True)
    remove_warehouse(db)
    return CaseResult(case, floor, notebook, run, stages, rerun)


def copy_captures_taken_before(landing: Path, night_folder: Path, before: date) -> None:
    """Copy the catalog captures of `landing` taken before `before` (their sidecar's
    `captured_at`), each with its catalog file, into `night_folder`'s pricing folder."""
    pricing = night_folder / "pricing"
    pricing.mkdir(parents=True, exist_ok=True)
    start = datetime(before.year, before.month, before.day, tzinfo=UTC)
    for sidecar in sorted((landing / "pricing").glob("*.capture.json")):
        captured_at = datetime.fromisoformat(json.loads(sidecar.read_text())["captured_at"])
        if captured_at < start:
            catalog = sidecar.with_name(sidecar.name.removesuffix(".capture.json") + ".json")
            for path in (catalog, sidecar):
                shutil.copy2(path, pricing / path.name)


def bench_incremental(
    size: int, history_days: int, history_attempts: int, work: Path, env: dict[str, str]
) -> tuple[Stage, Stage]:
    """One new day of `size` attempts on a warehouse holding `history_days` days of
    `history_attempts` attempts each, against the same day on an empty warehouse."""
    folder = work / "incremental"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log = folder / "bench.log"
    new_day = date(2026, 5, 11)
    full = folder / "full.duckdb"
    full_env = {**env, "COMETRECON_DB": str(full), "COMETRECON_REPORTS": str(folder / "reports")}
    print(
        f"incremental: {history_days} days of history at {history_attempts:,} attempts a day "
        "(written, landed and removed day by day; not timed)",
        flush=True,
    )
    for offset in range(history_days, 0, -1):
        day = new_day - timedelta(days=offset)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        day_folder = folder / "history" / f"{day}"
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path; from datetime import datetime; "
                "from cometrecon.demo import write_demo; "
                "write_demo(Path(sys.argv[1]), seed=int(sys.argv[2]), attempts=int(sys.argv[3]), "
                "start=datetime.fromisoformat(sys.argv[4]), days=1)",
                str(day_folder),
                str(offset),
                str(history_attempts),
                start.isoformat(),
            ],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            [str(BIN / "cometrecon"), "ingest", str(day_folder / "landing")],
            env=full_env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(day_folder)  # landed: the warehouse holds it now
    print("incremental: building the history (not timed)", flush=True)
    subprocess.run(
        [str(BIN / "cometrecon"), "build"], env=full_env, check=True, stdout=subprocess.DEVNULL
    )
    subprocess.run(
        [
            str(BIN / "cometrecon"),
            "demo",
            str(folder / "new"),
            "--seed",
            "42",
            "--attempts",
            str(size),
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    # the night before: as after 30 nightly runs, the history has passed the gate once, so
    # the timed night's gate reads only what its build rebuilt (docs/validation.md); and it
    # lands the catalog captures taken before the new day, which the new day's folder also
    # carries (a demo day holds the capture of the morning before its traffic): a capture
    # lands the night it is taken, so the timed night reprices only its own day
    night_before_folder = folder / "night_before"
    copy_captures_taken_before(folder / "new" / "landing", night_before_folder, before=new_day)
    night_before = subprocess.run(
        [
            str(BIN / "cometrecon"),
            "nightly",
            str(night_before_folder),
            "--date",
            f"{new_day - timedelta(days=1)}",
        ],
        env=full_env,
        check=False,
        stdout=subprocess.DEVNULL,
    )
    if night_before.returncode not in (0, 1):  # 1: a variance alert, still gated
        raise SystemExit(f"the night before failed (exit {night_before.returncode})")
    nightly = [
        str(BIN / "cometrecon"),
        "nightly",
        str(folder / "new" / "landing"),
        "--date",
        f"{new_day}",
    ]
    with_history = timed("day on history", nightly, full_env, log)
    empty_env = {
        **env,
        "COMETRECON_DB": str(folder / "empty.duckdb"),
        "COMETRECON_REPORTS": str(folder / "reports-empty"),
    }
    on_empty = timed("day on empty", nightly, empty_env, log)
    shutil.rmtree(folder / "new", ignore_errors=True)
    return with_history, on_empty


def machine() -> str:
    cores = os.cpu_count()
    with open("/proc/meminfo") as handle:
        total_kb = int(handle.readline().split()[1])
    return f"{cores} cores, {total_kb / 1024 / 1024:.1f} GiB RAM"


def _seconds(stage: Stage | None) -> str:
    if stage is None:
        return "–"
    failed = "" if stage.returncode == 0 else f" (exit {stage.returncode})"
    return f"{stage.seconds:.1f} s{failed}"


def _ratio(numerator: Stage, denominator: Stage | None) -> str:
    if denominator is None or denominator.seconds <= 0:
        return "–"
    return f"{numerator.seconds / denominator.seconds:.2f}×"


def write_table(
    results: list[CaseResult],
    incremental: tuple[Stage, Stage] | None,
    out: Path,
    history: str = "the history",
) -> str:
    lines = [
        f"Machine: {machine()}; measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `make bench`.",
        "",
        "| case | floor | pandas notebook | `cometrecon run` | run ÷ floor | run ÷ notebook | peak RSS | ingest · dbt build · validation · reports |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        parts = " · ".join(f"{result.stages.get(name, 0):.1f}" for name, _ in STAGE_MARKS)
        lines.append(
            f"| {result.case.label} | {_seconds(result.floor)} | {_seconds(result.notebook)} "
            f"| {_seconds(result.run)} | {_ratio(result.run, result.floor)} "
            f"| {_ratio(result.run, result.notebook)} | {result.run.peak_rss_mb / 1024:.2f} GB "
            f"| {parts} s |"
        )
    for result in results:
        if result.rerun is not None:
            lines.append(
                f"\nRerun of the {result.case.name} case after one new file (the gateway's last "
                f"log page, held back from the first run), on the same warehouse: "
                f"{_seconds(result.rerun)}, {_ratio(result.rerun, result.notebook)} the "
                "pandas notebook on the whole folder."
            )
    by_name = {result.case.name: result for result in results}
    if "skewed" in by_name and "distinct" in by_name:
        skewed, distinct = by_name["skewed"].run, by_name["distinct"].run
        lines.append(
            f"\nSkewed keys against distinct keys at the same size: "
            f"{_ratio(skewed, distinct)} ({_seconds(skewed)} against {_seconds(distinct)})."
        )
    if incremental:
        on_history, empty = incremental
        lines += [
            "",
            "| incremental: one new day (`cometrecon nightly`) | seconds | peak RSS | ratio to the empty warehouse |",
            "|---|---|---|---|",
            f"| on a warehouse holding {history} | {on_history.seconds:.1f} | {on_history.peak_rss_mb / 1024:.2f} GB | {on_history.seconds / empty.seconds:.2f}× |",
            f"| on an empty warehouse | {empty.seconds:.1f} | {empty.peak_rss_mb / 1024:.2f} GB | 1.00× |",
        ]
    table = "\n".join(lines) + "\n"
    out.write_text(with_latest_table(out.read_text() if out.exists() else "", table))
    return table


BLOCK_START = "<!-- make bench: latest table (rewritten by bench/run_bench.py) -->"
BLOCK_END = "<!-- make bench: end of latest table -->"


def with_latest_table(document: str, table: str) -> str:
    """The results document with its `make bench` block replaced by `table`; the notes
    written around it by hand stay. A document without the block gets it after its
    title."""
    block = f"{BLOCK_START}\n{table.strip()}\n{BLOCK_END}"
    if BLOCK_START in document and BLOCK_END in document:
        before, rest = document.split(BLOCK_START, 1)
        after = rest.split(BLOCK_END, 1)[1]
        return f"{before}{block}{after}"
    title, _, rest = document.partition("\n")
    if not title.startswith("# "):
        return f"# Benchmarks\n\n{block}\n\n{document}".rstrip() + "\n"
    return f"{title}\n\n{block}\n{rest}".rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cases",
        default=DEFAULT_CASES,
        help="name=attempts[:skewed],... (the smallest case up to 1M is also rerun after one "
        "late file)",
    )
    parser.add_argument("--history-days", type=int, default=30)
    parser.add_argument(
        "--history-attempts",
        type=int,
        default=1_000_000,
        help="attempts in each history day (0 days: no incremental case)",
    )
    parser.add_argument("--new-day-attempts", type=int, default=1_000_000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "results.md"))
    args = parser.parse_args()
    env = {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(ROOT),
    }
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cases = parse_cases(args.cases)
    # the smallest case (a typical incident) is rerun after one late file
    small = [case for case in cases if case.attempts <= RERUN_UP_TO]
    if small:
        min(small, key=lambda case: case.attempts).late_file = True
    parse_once(work, env)
    results = [bench_case(case, work, env) for case in cases]
    incremental = (
        bench_incremental(
            args.new_day_attempts, args.history_days, args.history_attempts, work, env
        )
        if args.history_days
        else None
    )
    history = (
        f"{args.history_days} days × {args.history_attempts:,} attempts; the new day "
        f"has {args.new_day_attempts:,}"
    )
    print(write_table(results, incremental, Path(args.out), history))


if __name__ == "__main__":
    main()
