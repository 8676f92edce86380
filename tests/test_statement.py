"""The final statement a finance reviewer reads: its three parts add up to the variance to
the cent, whatever the signs, with no cause, one cause or many, and a whole UTC day is
written as a day."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from cometrecon.reports.evidence import Attribution, IncidentEvidence
from cometrecon.reports.narrative import final_statement

CLASS_OF = {
    "timezone_shift": "time_window_mismatch",
    "cached_tokens_priced_as_input": "field_interpretation_gap",
    "retry_amplification": "usage_capture_gap",
    "account_discount": "account_specific_billing_issue",
    "credit_or_refund": "account_specific_billing_issue",
    "rounding": "account_specific_billing_issue",
    "unexplained_residual": "unknown",
    "other_parser_mistake": "field_interpretation_gap",
}
STATUS_OF = {"account_discount": "unresolved", "unexplained_residual": "unresolved"}


def evidence(
    forecast: str,
    causes: dict[str, str],
    start: datetime = datetime(2026, 5, 11, 8, tzinfo=UTC),
    end: datetime = datetime(2026, 5, 11, 10, tzinfo=UTC),
) -> IncidentEvidence:
    attribution = [
        Attribution(
            variance_class=CLASS_OF[cause],
            cause=cause,
            amount_usd=Decimal(amount),
            evidence_count=1,
            confidence="verified",
            action="",
            waterfall_step=1,
            claim_status=STATUS_OF.get(cause, "explained"),
        )
        for cause, amount in causes.items()
    ]
    billed = Decimal(forecast) + sum((a.amount_usd for a in attribution), Decimal(0))
    return IncidentEvidence(
        incident_id="INC-1",
        window_start=start,
        window_end=end,
        buffered_start=start,
        buffered_end=end,
        buffer_minutes=0,
        finance_timezone="UTC",
        owner=None,
        finance_reviewer=None,
        tolerance_percent=Decimal(1),
        tolerance_abs_usd=Decimal(5),
        provider="CometAPI",
        paths={"forecast": Decimal(forecast), "billed": billed},
        attribution=attribution,
        path_pairs=[],
        usage_rollup={},
        service_labels=[],
        source_documents=[],
        endpoints=[],
        billing_lines=[],
        account_ids=[],
        hourly=[],
        confidence={},
        has_billing_export=True,
        quarantined_rows=0,
    )


def parts_total(statement: str) -> Decimal:
    parts = re.findall(
        r"(?:Our own side|The provider's side|Unexplained) ([+-]?)\$([0-9,]+\.[0-9]{2})", statement
    )
    return sum(
        (Decimal(amount.replace(",", "")) * (-1 if sign == "-" else 1) for sign, amount in parts),
        Decimal(0),
    )


@pytest.mark.parametrize(
    "causes",
    [
        {"timezone_shift": "55.232", "account_discount": "-28.905", "unexplained_residual": "2.81"},
        {"cached_tokens_priced_as_input": "-45.6929", "retry_amplification": "0.004"},
        {"account_discount": "-0.005", "rounding": "0.0049", "unexplained_residual": "-0.0051"},
        {"retry_amplification": "12.3692357"},
        {"credit_or_refund": "-1.5", "other_parser_mistake": "0.333"},
    ],
    ids=["mixed-signs", "own-side-only", "sub-cent", "single-cause", "credit-and-parser"],
)
def test_the_three_parts_add_up_to_the_variance_to_the_cent(causes: dict[str, str]) -> None:
    e = evidence("100", causes)
    statement = final_statement(e)
    assert parts_total(statement) == e.variance_usd.quantize(Decimal("0.01"))


def test_signs_and_directions_read_as_a_finance_reviewer_expects() -> None:
    above = final_statement(evidence("100", {"retry_amplification": "12.37"}))
    assert "the CometAPI bill was $12.37 above the forecast" in above
    assert "Our own side +$12.37: retry amplification +$12.37." in above
    assert "provider's side" not in above and "Unexplained" not in above
    below = final_statement(evidence("100", {"account_discount": "-28.91"}))
    assert "$28.91 below the forecast" in below
    assert "The provider's side -$28.91: account discount -$28.91 (awaiting confirmation)." in below
    assert "parser mistake" not in final_statement(
        evidence("100", {"other_parser_mistake": "0.004"})
    )


def test_no_cause_at_all_says_the_bill_matched() -> None:
    statement = final_statement(evidence("42", {}))
    assert "the CometAPI bill matched the forecast ($42.00 billed, $42.00 forecast)." in statement
    assert "Our own side" not in statement


def test_a_whole_utc_day_is_written_as_a_day() -> None:
    day = final_statement(
        evidence(
            "1",
            {"retry_amplification": "1"},
            datetime(2026, 5, 11, tzinfo=UTC),
            datetime(2026, 5, 12, tzinfo=UTC),
        )
    )
    assert day.startswith("On 2026-05-11 (UTC), the CometAPI bill")
    days = final_statement(
        evidence(
            "1",
            {"retry_amplification": "1"},
            datetime(2026, 5, 11, tzinfo=UTC),
            datetime(2026, 5, 14, tzinfo=UTC),
        )
    )
    assert days.startswith("From 2026-05-11 to 2026-05-13 (UTC)")
