"""The GX-on-DuckDB shim: without it GX 1.x silently loses every result on DuckDB; with it
the same expectation counts exactly. Each case runs in a fresh interpreter, since the shim
patches a module global."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb

SCRIPT = """
import json, sys, warnings
warnings.simplefilter("ignore")
import great_expectations as gx, great_expectations.expectations as gxe
if sys.argv[2] == "shim":
    from cometrecon.validation import gx_duckdb
    gx_duckdb.install()
context = gx.get_context(mode="ephemeral")
source = context.data_sources.add_sql(
    name="w", connection_string="duckdb:///" + sys.argv[1],
    kwargs={"connect_args": {"read_only": True}})
batch = source.add_table_asset(name="t", table_name="t").add_batch_definition_whole_table("all")
suite = context.suites.add(gx.ExpectationSuite(name="s"))
suite.add_expectation(gxe.ExpectColumnValuesToBeBetween(column="x", min_value=0))
result = batch.get_batch().validate(suite)
outcome = result.results[0]
print(json.dumps({"success": result.success,
                  "unexpected": outcome.result.get("unexpected_count"),
                  "raised": bool((outcome.exception_info or {}).get("raised_exception"))}))
if sys.argv[2] == "shim":
    gx_duckdb.release(source)
    import duckdb
    duckdb.connect(sys.argv[1]).close()  # the file lock is free again
"""


def run(db: Path, mode: str) -> dict[str, object]:
    # a script file, not `python -c`: with pyspark installed (make test-spark), importing GX
    # under `-c` reaches pyspark's doctest guard, which exits the interpreter silently
    script = db.with_name(f"gx_{mode}.py")
    script.write_text(SCRIPT)
    completed = subprocess.run(
        [sys.executable, str(script), str(db), mode], capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_shim_makes_gx_count_on_duckdb(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table t as select range - 3 as x from range(10)")
    without = run(db, "plain")
    # the rolled-back connection empties the result: no count, just a failure
    assert without["success"] is False and without["unexpected"] is None
    assert run(db, "shim") == {"success": False, "unexpected": 3, "raised": False}
