"""A dbt process started before it is needed (`python -m cometrecon.dbt_child`).

It imports dbt and parses the project (neither opens the warehouse) while its parent lands
the files, then runs the one dbt command its parent writes on standard input as a JSON
list of arguments, with the manifest it parsed, and exits with dbt's exit code (0 done,
1 a node failed, 2 dbt itself failed). An empty line (the parent gave up) ends it at once.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    from dbt.cli.main import dbtRunner

    parsed = dbtRunner().invoke(["parse", "--quiet"])
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    arguments = json.loads(line)
    # a failed parse is parsed (and reported) again by the command itself
    manifest = parsed.result if parsed.success else None
    result = dbtRunner(manifest=manifest).invoke(arguments)  # type: ignore[arg-type]
    if result.exception is not None:
        print(f"dbt: {result.exception}", file=sys.stderr)
        return 2
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
