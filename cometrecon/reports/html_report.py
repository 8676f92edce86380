"""report.html: one self-contained page (no CDN; charts are inline SVG from matplotlib)."""

from __future__ import annotations

import html
import io
from datetime import UTC, datetime
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import dates as mdates
from matplotlib.figure import Figure

from cometrecon.reports.evidence import IncidentEvidence
from cometrecon.reports.narrative import final_statement, material, open_unknowns, usd
from cometrecon.reports.review import contract_rows, remediation_rows, timeline_rows, usage_rows

plt.rcParams.update(
    {"svg.fonttype": "none", "font.size": 9, "figure.dpi": 100, "svg.hashsalt": "cometrecon"}
)
COLORS = {
    "up": "#c0392b",
    "down": "#27ae60",
    "total": "#34495e",
    "window": "#f5b041",
    "buffer": "#fdebd0",
}


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def waterfall_chart(evidence: IncidentEvidence) -> str:
    steps = [(a.cause.replace("_", " "), a.amount_usd) for a in material(evidence)]
    labels = ["forecast", *[name for name, _ in steps], "billed"]
    figure, axis = plt.subplots(figsize=(9, 3.8))
    running = evidence.paths["forecast"]
    axis.bar(0, float(running), color=COLORS["total"])
    for position, (_, amount) in enumerate(steps, start=1):
        bottom = running if amount >= 0 else running + amount
        axis.bar(
            position,
            float(abs(amount)),
            bottom=float(bottom),
            color=COLORS["up" if amount >= 0 else "down"],
        )
        axis.annotate(
            usd(amount),
            (position, float(max(running, running + amount))),
            ha="center",
            va="bottom",
            fontsize=7,
        )
        running += amount
    axis.bar(len(labels) - 1, float(evidence.paths["billed"]), color=COLORS["total"])
    axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axis.set_ylabel("USD")
    axis.set_title("From forecast to billed, by cause")
    axis.grid(axis="y", alpha=0.3)
    return _svg(figure)


def _x(moment: datetime) -> float:
    return float(mdates.date2num(moment))


def hourly_chart(evidence: IncidentEvidence) -> str:
    # one more edge at the end, so the last hour's step is drawn to its end
    edges = [h.hour_start for h in evidence.hourly] + [evidence.buffered_end]
    hours = mdates.date2num(edges)
    figure, axis = plt.subplots(figsize=(9, 3.5))
    axis.axvspan(
        _x(evidence.buffered_start),
        _x(evidence.buffered_end),
        color=COLORS["buffer"],
        label="window ± buffer",
    )
    axis.axvspan(
        _x(evidence.window_start),
        _x(evidence.window_end),
        color=COLORS["window"],
        alpha=0.35,
        label="incident window",
    )
    series = (
        (
            "forecast (ledger as read × rate sheet)",
            [h.forecast_usd for h in evidence.hourly],
            "#7f8c8d",
        ),
        (
            "expected (our logs × verified rates)",
            [h.recomputed_usd for h in evidence.hourly],
            "#2980b9",
        ),
        ("gateway per-request log", [h.gateway_usd for h in evidence.hourly], "#8e44ad"),
        (
            "billed (FOCUS)",
            [h.billed_usd if h.billed_usd is not None else Decimal(0) for h in evidence.hourly],
            "#c0392b",
        ),
    )
    for label, values, color in series:
        points = [float(v) for v in values]
        if points:
            points.append(points[-1])
        axis.step(hours, points, where="post", label=label, color=color, linewidth=1.6)
    axis.set_ylabel("USD per hour (UTC)")
    axis.set_title("Expected versus billed per hour")
    axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=3, frameon=False)
    axis.grid(alpha=0.3)
    axis.xaxis.set_major_locator(mdates.HourLocator(tz=UTC))
    axis.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UTC))
    axis.set_xlabel(f"{evidence.window_start:%Y-%m-%d}, UTC")
    return _svg(figure)


def timeline_chart(evidence: IncidentEvidence) -> str:
    """Hourly billed and expected spend with the changes, alerts and cause onsets on it."""
    edges = [h.hour_start for h in evidence.hourly] + [evidence.buffered_end]
    hours = mdates.date2num(edges)
    figure, axis = plt.subplots(figsize=(9, 3.2))
    axis.axvspan(
        _x(evidence.window_start), _x(evidence.window_end), color=COLORS["window"], alpha=0.25
    )
    for label, values, color in (
        ("expected", [h.recomputed_usd for h in evidence.hourly], "#2980b9"),
        ("billed", [h.billed_usd or Decimal(0) for h in evidence.hourly], "#c0392b"),
    ):
        points = [float(v) for v in values]
        if points:
            points.append(points[-1])
        axis.step(hours, points, where="post", label=label, color=color, linewidth=1.4)
    low, high = _x(evidence.buffered_start), _x(evidence.buffered_end)
    top = axis.get_ylim()[1]
    for number, event in enumerate(e for e in evidence.timeline if e["event_kind"] != "window"):
        at = _x(event["event_at"])
        if not low <= at <= high:
            continue
        onset = event["event_kind"] == "cause_onset"
        axis.axvline(
            at,
            color=COLORS["up"] if onset else "#555555",
            linestyle="-" if onset else "--",
            linewidth=1.2,
        )
        axis.annotate(
            str(event["event"]).replace("_", " "),
            (at, top * (0.95 - 0.12 * (number % 4))),
            fontsize=7,
            rotation=0,
            xytext=(3, 0),
            textcoords="offset points",
            color=COLORS["up"] if onset else "#333333",
        )
    axis.set_xlim(low, high)
    axis.set_ylabel("USD per hour (UTC)")
    axis.set_title("Timeline: changes (dashed) and cause onsets (red) against hourly spend")
    axis.legend(fontsize=7, loc="upper left", frameon=False)
    axis.grid(alpha=0.3)
    axis.xaxis.set_major_locator(mdates.HourLocator(tz=UTC))
    axis.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=UTC))
    return _svg(figure)


def paths_chart(evidence: IncidentEvidence) -> str:
    names = ["forecast", "recomputed", "gateway", "billed"]
    figure, axis = plt.subplots(figsize=(6, 3))
    values = [float(evidence.paths[name]) for name in names]
    bars = axis.bar(names, values, color=["#7f8c8d", "#2980b9", "#8e44ad", "#c0392b"])
    for bar, name in zip(bars, names, strict=True):
        axis.annotate(
            usd(evidence.paths[name]),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    axis.set_ylabel("USD")
    axis.set_title("Computation paths side by side")
    axis.grid(axis="y", alpha=0.3)
    return _svg(figure)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# disagreements first: they are what the reader is looking for
STATUS_ORDER = {"disagrees": 0, "assumption": 1, "not_observed": 2, "agrees": 3}

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1000px;color:#222}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
.statement{font-size:1.05rem;background:#f4f6f7;border-left:4px solid #34495e;padding:.8rem 1rem}
table{border-collapse:collapse;width:100%;font-size:.85rem} td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;overflow-wrap:anywhere;min-width:5.5em}
th{background:#f4f6f7} .chart svg{max-width:100%;height:auto} .muted{color:#666;font-size:.8rem}
"""


def report_html(evidence: IncidentEvidence, run_id: str) -> str:
    attribution_rows = [
        [
            a.variance_class,
            a.cause,
            usd(a.amount_usd),
            f"{a.evidence_count:,}",
            a.confidence,
            a.action,
        ]
        for a in evidence.attribution
    ]
    path_rows = [
        [
            p.path_a,
            p.path_b,
            usd(p.amount_a_usd),
            usd(p.amount_b_usd),
            usd(p.residual_usd),
            "" if p.residual_percent is None else f"{p.residual_percent}%",
            "yes" if p.is_within_tolerance else "no",
        ]
        for p in evidence.path_pairs
    ]
    source_rows = [
        [
            s["type"],
            str(s["url"] or ""),
            s["captured_at"].strftime("%Y-%m-%dT%H:%M:%SZ") if s["captured_at"] else "",
            s["purpose"],
        ]
        for s in evidence.source_documents
    ]
    label_rows = [
        [
            label["service_label"],
            f"{label['billed_attempts']:,}",
            usd(label["recomputed_usd"] or Decimal(0)),
            label["rate_confidence"],
            str(label["rate_source_url"] or ""),
        ]
        for label in evidence.service_labels
    ]
    unknown_rows = [
        [u["assumption"], u["owner"], u["next_action"]] for u in open_unknowns(evidence)
    ]
    confidence_rows = [[k, v] for k, v in evidence.confidence.items()]
    contract_table = [
        [
            r["contract_item"],
            r["item"],
            r["documented_value"] or "(not documented)",
            r["observed_value"] or "(not observed)",
            f"{r['evidence_count']:,}",
            r["status"],
            r["linked_cause"] or "",
        ]
        for r in sorted(
            contract_rows(evidence), key=lambda r: STATUS_ORDER.get(str(r["status"]), 9)
        )
    ]
    usage_table = [
        [
            r["checklist_item"],
            f"{r['check_count']:,}" + (f" of {r['out_of']:,}" if r["out_of"] is not None else ""),
            r["evidence"],
            r["confidence"],
        ]
        for r in usage_rows(evidence)
    ]
    timeline_table = [
        [
            f"{r['event_at']:%Y-%m-%d %H:%M}",
            r["event_kind"],
            r["event"],
            r["detail"],
            r["likely_trigger"] or "",
            r["confidence"] or "",
        ]
        for r in timeline_rows(evidence)
    ]
    remediation_table = [
        [r["checklist_item"], r["called_for_by"], r["evidence"], r["owner"]]
        for r in remediation_rows(evidence)
    ]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(evidence.incident_id)}: CometAPI reconciliation</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(evidence.incident_id)}: CometAPI spend reconciliation</h1>
<p class="statement" id="final-statement">{html.escape(final_statement(evidence))}</p>
<p class="muted">Run {html.escape(run_id)} · window {evidence.window_start:%Y-%m-%d %H:%M}–{evidence.window_end:%H:%M} UTC
(buffer {evidence.buffer_minutes} min) · finance timezone {html.escape(evidence.finance_timezone or "UTC")} ·
owner {html.escape(evidence.owner or "unassigned")} · finance reviewer {html.escape(evidence.finance_reviewer or "unassigned")}</p>
<h2>Waterfall from forecast to billed</h2><div class="chart" id="chart-waterfall">{waterfall_chart(evidence)}</div>
{_table(["class", "cause", "amount", "evidence", "confidence", "action"], attribution_rows)}
<h2>Expected versus billed per hour</h2><div class="chart" id="chart-hourly">{hourly_chart(evidence)}</div>
<h2>Computation paths</h2><div class="chart" id="chart-paths">{paths_chart(evidence)}</div>
{_table(["path a", "path b", "a", "b", "residual", "residual %", "within tolerance"], path_rows)}
<h2>Evidence</h2>
{_table(["service label", "billed attempts", "expected", "rate confidence", "pricing source"], label_rows)}
<p></p>{_table(["figure", "confidence"], confidence_rows)}
<p></p>{_table(["source", "location", "captured at", "purpose"], source_rows)}
<h2>Open unknowns</h2>
{_table(["assumption", "owner", "next action"], unknown_rows)}
<h2 id="contract">Contract verification</h2>
{_table(["contract item", "item", "documented", "observed", "evidence", "status", "can explain"], contract_table)}
<h2 id="usage-validation">Usage validation</h2>
{_table(["checklist item", "count", "evidence", "confidence"], usage_table)}
<h2 id="timeline">Timeline</h2><div class="chart" id="chart-timeline">{timeline_chart(evidence)}</div>
{_table(["UTC", "kind", "event", "detail", "likely trigger", "confidence"], timeline_table)}
<h2 id="remediation">Remediation plan</h2>
{_table(["item", "called for by", "evidence", "owner"], remediation_table)}
</body></html>
"""
