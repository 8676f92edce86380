"""Incident outputs: the record, support packet, closure checklist and report are written
for the demo incident, match the marts, validate, render in real Chromium, and carry no
secret or prompt."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from PIL import Image

from cometrecon.reports.record import validate_record

INCIDENT = "INC-2026-05-11-001"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def demo(demo_warehouse: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    built = demo_warehouse(42)
    assert built["run"].returncode == 0, built["run"].stdout[-2000:]
    return built


def outputs(demo: dict[str, Any]) -> Path:
    return Path(demo["reports"]) / INCIDENT


def no_float(text: str) -> Any:
    raise AssertionError(f"a JSON float in the record: {text}")


def test_run_writes_every_output_and_prints_their_paths(demo: dict[str, Any]) -> None:
    folder = outputs(demo)
    for name in ("reconciliation_record.json", "support_packet.md", "closure.md", "report.html"):
        assert (folder / name).stat().st_size > 500, name
        assert str(folder / name) in demo["run"].stdout


def test_record_validates_and_matches_the_marts(demo: dict[str, Any]) -> None:
    text = (outputs(demo) / "reconciliation_record.json").read_text()
    record = json.loads(text, parse_float=no_float)  # money is never a JSON number
    validate_record(record)
    with duckdb.connect(str(demo["db"]), read_only=True) as con:
        marts = {
            cause: amount
            for cause, amount in con.execute(
                "select cause, amount_usd from marts.fct_variance_attribution where incident_id = ?",
                [INCIDENT],
            ).fetchall()
        }
    assert {a["cause"]: Decimal(a["amount_usd"]) for a in record["attribution"]} == marts
    paths = {p["path"]: Decimal(p["amount_usd"]) for p in record["computation_paths"]}
    truth = {k: Decimal(v) for k, v in demo["truth"]["paths"].items()}
    assert paths == truth  # exact, to the last digit
    rollup = record["usage_rollup"]
    assert (
        rollup["request_count"],
        rollup["retried_request_count"],
        rollup["failed_request_count"],
    ) == (12450, 317, 42)
    assert (
        Decimal(record["computed_charge"]["variance_amount"]) == truth["billed"] - truth["forecast"]
    )
    assert [c["met"] for c in record["closure"]] == [True, True, True, False, False]
    assert record["incident_window_utc"] == {
        "start": "2026-05-11T08:00:00Z",
        "end": "2026-05-11T10:00:00Z",
    }


def test_a_broken_record_fails_the_schema(demo: dict[str, Any]) -> None:
    record = json.loads((outputs(demo) / "reconciliation_record.json").read_text())
    record["attribution"][0]["amount_usd"] = 12.5
    with pytest.raises(Exception, match=r"12\.5"):
        validate_record(record)


def test_final_statement_has_the_real_figures(demo: dict[str, Any]) -> None:
    record = json.loads((outputs(demo) / "reconciliation_record.json").read_text())
    statement = record["final_statement"]
    assert statement.startswith(
        "Between 08:00 and 10:00 UTC on 2026-05-11, the CometAPI bill was $14.87 above the "
        "forecast (forecast $103.56, billed $118.43)."
    )
    assert "timezone shift +$55.23" in statement and "retry amplification +$12.37" in statement
    assert "account discount -$28.91 (awaiting confirmation)" in statement
    # the three parts add up to the variance, to the cent
    parts = re.findall(
        r"(?:Our own side|The provider's side|Unexplained) ([+-]?)\$([0-9,]+\.[0-9]{2})", statement
    )
    total = sum(
        Decimal(amount.replace(",", "")) * (-1 if sign == "-" else 1) for sign, amount in parts
    )
    assert len(parts) == 3 and total == Decimal("14.87")
    assert statement in (outputs(demo) / "closure.md").read_text()


def test_support_packet_has_exactly_the_checklist_fields(demo: dict[str, Any]) -> None:
    packet = (outputs(demo) / "support_packet.md").read_text()
    headings = re.findall(r"^## (.+)$", packet, flags=re.MULTILINE)
    assert headings == [
        "Account identifier",
        "Incident window (UTC)",
        "Affected endpoint paths",
        "Affected service or model labels",
        "Request IDs or charge-line IDs",
        "Sanitized usage rollup",
        "Pricing source URL and capture time",
        "Expected charge calculation summary",
        "Provider-side charge being questioned",
        "Exact question",
    ]
    question = packet.strip().splitlines()[-1]
    assert question.startswith("Could you confirm") and question.endswith("?")
    assert "cometapi-acct-1042" in packet and "/v1/messages" in packet


def test_closure_lists_each_criterion(demo: dict[str, Any]) -> None:
    closure = (outputs(demo) / "closure.md").read_text()
    rows = [
        line
        for line in closure.splitlines()
        if (line.startswith("| ") and " | yes | " in line) or " | no | " in line
    ]
    assert len(rows) == 5
    assert "Needs sign-off from finops-reviewer" in closure


def test_outputs_carry_no_secret_or_prompt(demo: dict[str, Any]) -> None:
    planted = [value for values in demo["truth"]["planted_secrets"].values() for value in values]
    for path in outputs(demo).iterdir():
        text = path.read_text()
        for secret in planted:
            assert secret not in text, f"{secret!r} in {path.name}"
        assert not re.search(r"sk-[A-Za-z0-9]{10,}", text), path.name
        assert not re.search(r"(?i)bearer\s+[A-Za-z0-9]", text), path.name
        assert not re.search(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", text), path.name


def test_validation_outputs_carry_no_secret_or_prompt(demo: dict[str, Any]) -> None:
    planted = [value for values in demo["truth"]["planted_secrets"].values() for value in values]
    files = [
        p
        for p in (Path(demo["reports"]) / "_validation").rglob("*")
        if p.is_file() and p.suffix in (".html", ".json")
    ]
    assert any(p.name == "index.html" for p in files) and any(p.suffix == ".json" for p in files)
    for path in files:
        text = path.read_text(errors="replace")
        for secret in planted:
            assert secret not in text, f"{secret!r} in {path}"
        assert not re.search(r"sk-[A-Za-z0-9]{10,}", text), path
        assert not re.search(r"(?i)bearer\s+[A-Za-z0-9]", text), path


def test_report_is_self_contained(demo: dict[str, Any]) -> None:
    page = (outputs(demo) / "report.html").read_text()
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']https?://""", page)
    assert page.count("<svg") == 4
    for chart in ("waterfall", "hourly", "paths", "timeline"):
        assert f'id="chart-{chart}"><svg' in page


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is installed by `make test` (make chromium)"
)
def test_report_renders_in_headless_chromium(demo: dict[str, Any], tmp_path: Path) -> None:
    page = outputs(demo) / "report.html"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, *flags, "--window-size=1200,2600", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    record = json.loads((outputs(demo) / "reconciliation_record.json").read_text())
    assert record["final_statement"].replace("$", "$") in dom.replace("&amp;", "&")
    image = Image.open(shot).convert("RGB")
    colors = image.getcolors(maxcolors=1 << 20) or []
    present = {rgb for count, rgb in colors if count > 30}

    def drawn(hex_color: str) -> bool:
        target = tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
        return any(
            sum(abs(a - b) for a, b in zip(rgb, target, strict=True)) < 12 for rgb in present
        )

    # each chart has colors only it uses: waterfall bars, hourly lines, path bars
    assert drawn("#c0392b") and drawn("#27ae60"), "waterfall did not draw"
    assert drawn("#2980b9"), "hourly chart did not draw"
    assert drawn("#8e44ad") and drawn("#7f8c8d"), "paths chart did not draw"


def test_the_hourly_amounts_are_every_hour_of_the_buffered_window(demo: dict[str, Any]) -> None:
    from cometrecon.reports.evidence import load_evidence

    evidence = load_evidence(Path(demo["db"]), INCIDENT)
    with duckdb.connect(str(demo["db"]), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        per_hour = {
            relation: dict(
                con.execute(
                    f"select date_trunc('hour', billed_at), sum({amount}) from {relation} "
                    "group by 1"
                ).fetchall()
            )
            for relation, amount in (
                ("marts.fct_attempt_charges", "amount_usd"),
                ("intermediate.int_gateway_requests_deduplicated", "quota_usd"),
            )
        }
        start, end = con.execute(
            "select date_trunc('hour', buffered_start), buffered_end "
            "from marts.dim_incident_windows where incident_id = ?",
            [INCIDENT],
        ).fetchall()[0]
    hours = [hour.hour_start for hour in evidence.hourly]
    assert hours[0] == start and hours[-1] < end <= hours[-1] + (hours[1] - hours[0])
    assert len(hours) == len(set(hours)) > 2
    recomputed = per_hour["marts.fct_attempt_charges"]
    gateway = per_hour["intermediate.int_gateway_requests_deduplicated"]
    # from the whole tables, hour by hour: the first and last hours hold charges too
    assert recomputed.get(hours[0]) and recomputed.get(hours[-1])
    assert [h.recomputed_usd for h in evidence.hourly] == [recomputed.get(h, 0) for h in hours]
    assert [h.gateway_usd for h in evidence.hourly] == [gateway.get(h, 0) for h in hours]


HOSTILE_TEXT = "<script>alert(1)</script>|[x](javascript:y)\n# heading `code` *b* &lt;"
FORMULA = '=HYPERLINK("http://evil.example","click")'


def test_markdown_outputs_show_hostile_values_as_inert_text(demo: dict[str, Any]) -> None:
    """A label, endpoint, account, timeline event or owner from a landed file may hold
    Markdown, HTML, a line break or a spreadsheet formula: support_packet.md and
    closure.md escape every value so it reads as itself and starts nothing."""
    import dataclasses

    from cometrecon.reports.closure import closure_markdown
    from cometrecon.reports.evidence import load_evidence
    from cometrecon.reports.support_packet import support_packet

    evidence = load_evidence(demo["db"], "INC-2026-05-11-001")
    hostile = dataclasses.replace(
        evidence,
        provider=HOSTILE_TEXT,
        owner=FORMULA,
        account_ids=[HOSTILE_TEXT],
        endpoints=[FORMULA, HOSTILE_TEXT],
        service_labels=[{**evidence.service_labels[0], "service_label": HOSTILE_TEXT}],
        label_substitutions=[
            {
                "requested_label": FORMULA,
                "billed_label": HOSTILE_TEXT,
                "attempts": 1,
                "ledgered_attempts": 1,
                "cost_usd": Decimal("0.5"),
            }
        ],
        timeline=[{**evidence.timeline[0], "event": HOSTILE_TEXT, "detail": FORMULA}],
    )
    for text in (support_packet(hostile), closure_markdown(hostile)):
        assert "<script>" not in text and "\\<script\\>" in text
        assert not re.search(r"(?<!\\)\]\(javascript", text), "a live link"
        assert not re.search(r"(?<!\\)\|\[x", text), "an unescaped table pipe"
        assert not any(line.startswith(("=", "# heading")) for line in text.splitlines())
        assert "'=HYPERLINK" in text
