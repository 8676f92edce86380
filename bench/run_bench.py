"""`make bench`: time every stage of `cometrecon run` on scaled demo landing folders,
against the floor of DuckDB alone reading the same files, with peak memory.

    python bench/run_bench.py [--sizes 1000000,10000000] [--history-days 30]
                              [--history-attempts 1000000] [--out docs/benchmarks.md]
                              [--work DIR]

For each size: writes the demo landing folder (not timed), then runs the stages the way
`cometrecon run` does, each in its own process so its peak resident set (the whole
process tree, sampled every 50 ms from /proc) is its own: ingest, `dbt build`, the
validation gate, the reports (`cometrecon report` reuses the gate's result on the
unchanged warehouse, so the gate is timed once, as `cometrecon run` runs it). The floor is DuckDB alone creating one table from every
file of the same landing folder (read_json / read_csv / read_text, one pass). Then the
incremental case: one new day of the smallest size on a warehouse that already holds
`--history-days` days of `--history-attempts` attempts each (landed day by day, built
once with `cometrecon build`), against the same day on an empty warehouse, both via
`cometrecon nightly`. Writes the table to `--out` with the machine's cores and memory.
Nothing here is a test: no threshold fails the run.
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


def bench_size(size: int, work: Path, env: dict[str, str]) -> dict[str, Stage]:
    folder = work / f"d{size}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log = folder / "bench.log"
    print(f"{size:,} attempts: writing the demo landing folder (not timed)", flush=True)
    subprocess.run(
        [
            str(BIN / "cometrecon"),
            "demo",
            str(folder / "demo"),
            "--seed",
            "42",
            "--attempts",
            str(size),
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    landing = folder / "demo" / "landing"
    db = folder / "wh.duckdb"
    stage_env = {**env, "COMETRECON_DB": str(db), "COMETRECON_REPORTS": str(folder / "reports")}
    cometrecon = str(BIN / "cometrecon")
    stages = {
        "floor": timed(
            "floor",
            [sys.executable, "-c", FLOOR_SQL, str(landing), str(folder / "floor.duckdb")],
            stage_env,
            log,
        ),
        "ingest": timed("ingest", [cometrecon, "ingest", str(landing)], stage_env, log),
        "dbt build": timed("dbt build", [str(BIN / "dbt"), "build"], stage_env, log),
        "validation": timed("validation", [cometrecon, "validate"], stage_env, log),
        "reports": timed("reports", [cometrecon, "report", "INC-2026-05-11-001"], stage_env, log),
    }
    # a 10M-attempt folder and its warehouse take about 30 GB: free them for the next size
    (folder / "floor.duckdb").unlink(missing_ok=True)
    shutil.rmtree(folder / "demo", ignore_errors=True)
    db.unlink(missing_ok=True)
    shutil.rmtree(folder / "wh.duckdb.tmp", ignore_errors=True)
    return stages


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


def write_table(
    results: dict[int, dict[str, Stage]],
    incremental: tuple[Stage, Stage] | None,
    out: Path,
    history: str = "the history",
) -> str:
    lines = [
        "Written by `make bench` (`bench/run_bench.py`): the demo landing folder scaled to N",
        "attempts, each stage of `cometrecon run` in its own process (peak RSS of its whole",
        "process tree), and the floor: DuckDB alone creating one table from every file of the",
        "same folder, one pass (JSON lines as JSON values, CSV as text columns). Targets of the nightly issue on 2 cores: 10M attempts within",
        "2.5× the floor and under 4 GB; one new day on 30 days of history within 1.5× the same",
        "day on an empty warehouse.",
        "",
        f"Machine: {machine()}; measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "| attempts | floor (DuckDB reads every file once) | ingest | dbt build | validation | reports | whole run | run ÷ floor | peak RSS (largest stage) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size, stages in results.items():
        run = [stages[n] for n in ("ingest", "dbt build", "validation", "reports")]
        total = sum(s.seconds for s in run)
        floor = stages["floor"].seconds
        peak = max(s.peak_rss_mb for s in run)
        cells = " | ".join(f"{s.seconds:.1f} s ({s.peak_rss_mb / 1024:.2f} GB)" for s in run)
        lines.append(
            f"| {size:,} | {floor:.1f} s | {cells} | {total:.1f} s | {total / floor:.1f}× | {peak / 1024:.2f} GB |"
        )
    for size, stages in results.items():
        by_name = {n: stages[n] for n in ("ingest", "dbt build", "validation", "reports")}
        name, stage = max(by_name.items(), key=lambda item: item[1].seconds)
        share = stage.seconds / sum(s.seconds for s in by_name.values())
        lines.append(
            f"\nAt {size:,} attempts the dominant stage is {name} ({share:.0%} of the run)."
        )
    if incremental:
        on_history, empty = incremental
        lines += [
            "",
            "| incremental: one new day | seconds | peak RSS | ratio to the empty warehouse |",
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
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--history-days", type=int, default=30)
    parser.add_argument(
        "--history-attempts",
        type=int,
        default=1_000_000,
        help="attempts in each history day (the new day has the smallest --sizes)",
    )
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
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results = {size: bench_size(size, work, env) for size in sizes}
    new_day = min(sizes, default=1_000_000)
    incremental = (
        bench_incremental(new_day, args.history_days, args.history_attempts, work, env)
        if args.history_days
        else None
    )
    history = (
        f"{args.history_days} days × {args.history_attempts:,} attempts; the new day "
        f"has {new_day:,}"
    )
    print(write_table(results, incremental, Path(args.out), history))


if __name__ == "__main__":
    main()
