"""Small hand-made landing folders in every accepted format, for ingest tests.

Each builder writes real files in the formats of docs/landing-formats.md and returns the
numbers a test can assert on.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

PLANTED = {
    "api_key": "sk-PLANTEDkey0123456789abcdefghijklmnopqrstu",
    "bearer": "sk-PLANTEDbearer0123456789abcdefghijklmnop",
    "x_api_key": "sk-ant-PLANTEDxapikey0123456789abcdefghij",
    "email": "planted.person@example.org",
    "prompt": "PLANTED PROMPT: the quarterly revenue of Zyxwv Corp is 42",
    "gemini_prompt": "PLANTED GEMINI CONTENT about purple elephants",
    "responses_input": "PLANTED RESPONSES INPUT about the secret garden",
}


def _attempt(i: int, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "request_id": f"req-{i:04d}",
        "attempt": 1,
        "sent_at": f"2026-05-11T10:{i % 60:02d}:02.120+02:00",
        "completed_at": f"2026-05-11T10:{i % 60:02d}:09.480+02:00",
        "endpoint": "/v1/chat/completions",
        "api_format": "openai_chat",
        "model": "gpt-4o-mini",
        "tenant": "acme",
        "http_status": 200,
        "stream": False,
        "client_disconnected": False,
        "cometapi_request_id": f"cid-{i:04d}",
        "usage": {
            "prompt_tokens": 1000 + i,
            "completion_tokens": 200,
            "total_tokens": 1200 + i,
            "prompt_tokens_details": {"cached_tokens": 300},
        },
        "error": None,
        "request_headers": {
            "Authorization": f"Bearer {PLANTED['bearer']}",
            "Content-Type": "application/json",
        },
        "request_body": {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": PLANTED["prompt"]}],
        },
    }
    record.update(overrides)
    return record


GOOD_ATTEMPTS = [
    _attempt(1),
    _attempt(2, attempt=2, api_key=PLANTED["api_key"]),
    _attempt(
        3,
        api_format="anthropic_messages",
        endpoint="/v1/messages",
        model="claude-sonnet-4-5",
        usage={
            "input_tokens": 900,
            "output_tokens": 310,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 4000,
        },
        request_headers={"x-api-key": PLANTED["x_api_key"]},
    ),
    _attempt(
        4,
        api_format="gemini",
        endpoint="/v1beta/models/gemini-2.5-flash:generateContent",
        model="gemini-2.5-flash",
        usage={
            "promptTokenCount": 500,
            "cachedContentTokenCount": 100,
            "candidatesTokenCount": 80,
            "thoughtsTokenCount": 40,
            "totalTokenCount": 620,
        },
        request_body={"contents": [{"parts": [{"text": PLANTED["gemini_prompt"]}]}]},
    ),
    _attempt(
        5,
        api_format="openai_responses",
        endpoint="/v1/responses",
        model="gpt-5.1",
        usage={
            "input_tokens": 700,
            "input_tokens_details": {"cached_tokens": 200},
            "output_tokens": 90,
            "output_tokens_details": {"reasoning_tokens": 30},
            "total_tokens": 790,
        },
        request_body={"model": "gpt-5.1", "input": PLANTED["responses_input"]},
    ),
    _attempt(6, usage=None, client_disconnected=True, stream=True, http_status=None),
]

BAD_ATTEMPT_LINES = [
    # (line, expected error column, reason fragment)
    ("{not json", "$", "malformed JSON"),
    (json.dumps(_attempt(7, sent_at="2026-05-11 08:15:02")), "sent_at", "UTC offset"),
    (json.dumps(_attempt(8, api_format="cohere")), "api_format", "unknown api_format"),
    (json.dumps(_attempt(9, attempt=1.5)), "attempt", "integer"),
    (
        json.dumps(_attempt(10, usage={"prompt_tokens": -5, "completion_tokens": 1})),
        "usage_prompt_tokens",
        "negative",
    ),
    (json.dumps({k: v for k, v in _attempt(11).items() if k != "model"}), "model", "missing"),
    (
        json.dumps(_attempt(12, usage={"input_tokens": 5, "cache_read_input_tokens": 1})),
        "usage_structure_json",
        "shaped like anthropic_messages",
    ),
]


def write_app_requests(folder: Path, gzip_it: bool = True) -> tuple[int, int]:
    lines = [json.dumps(a) for a in GOOD_ATTEMPTS] + [line for line, _, _ in BAD_ATTEMPT_LINES]
    text = "\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]) + "\n"  # one blank line
    folder.mkdir(parents=True, exist_ok=True)
    if gzip_it:
        (folder / "attempts.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    else:
        (folder / "attempts.jsonl").write_text(text)
    return len(GOOD_ATTEMPTS), len(BAD_ATTEMPT_LINES)


def _log_item(i: int, **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": (1000 + i) % 1024,
        "user_id": 1042,
        "created_at": 1778486400 + i * 60,
        "type": 2,
        "content": f"模型倍率 0.075，补全倍率 4，分组倍率 0.8 contact {PLANTED['email']}",
        "username": PLANTED["email"],
        "token_name": "prod-chat",
        "model_name": "gpt-4o-mini",
        "quota": 1234 + i,
        "prompt_tokens": 1000,
        "completion_tokens": 200,
        "use_time": 3,
        "is_stream": False,
        "channel": 7,
        "group": "default",
        "ip": "203.0.113.9",
        "request_id": f"cid-{i:04d}",
        "other": json.dumps(
            {
                "model_ratio": 0.075,
                "group_ratio": 0.8,
                "completion_ratio": 4,
                "cache_tokens": 300,
                "cache_ratio": 0.5,
                "model_price": -1,
                "frt": 412,
                "request_path": "/v1/chat/completions",
                "admin_info": {"channel_key": PLANTED["api_key"]},
            }
        ),
    }
    item.update(overrides)
    return item


def write_gateway_logs(folder: Path) -> dict[str, int]:
    folder.mkdir(parents=True, exist_ok=True)
    page = {
        "success": True,
        "message": "",
        "data": {"page": 1, "items": [_log_item(i) for i in range(1, 5)]},
    }
    # an async task's settlement: keys of `other` without columns of their own
    settlement = json.loads(page["data"]["items"][3]["other"])
    settlement.update(
        task_id="task-77", pre_consumed=1500, quota_delta=-262, note=f"owner {PLANTED['email']}"
    )
    page["data"]["items"][3]["other"] = json.dumps(settlement)
    page["data"]["items"].append(_log_item(5, type=5, quota=0, other="{not json"))
    (folder / "log_self_p1.json").write_text(json.dumps(page))
    cli_records = [
        {
            "request_id": "cid-0100",
            "response_id": "resp-1",
            "content": "ok",
            "time": "2026-05-11T11:10:03Z",
            "type": "consume",
            "model": "gemini-2.5-flash",
            "token_name": "batch-backfill",
            "username": PLANTED["email"],
            "user_id": 1042,
            "ip": "203.0.113.9",
            "stream": True,
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "cache_tokens": 0,
            "cost_usd": 0.000123,
            "quota": 62,
            "model_ratio": 0.15,
            "completion_ratio": 8,
            "group_ratio": 0.8,
            "model_price": -1,
            "cache_ratio": 0.25,
            "duration_ms": 3120,
            "first_token_ms": 412,
            "endpoint": "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        },
    ]
    cli_records.append({**cli_records[0], "request_id": "cid-0101", "prompt_tokens": "12.5"})
    (folder / "cli_logs.jsonl").write_text("\r\n".join(json.dumps(r) for r in cli_records) + "\r\n")
    buffer = io.StringIO()
    fields = [
        "id",
        "created_at",
        "type",
        "content",
        "token_name",
        "model_name",
        "quota",
        "prompt_tokens",
        "completion_tokens",
        "use_time",
        "is_stream",
        "request_id",
        "other",
    ]
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for i in range(20, 23):
        writer.writerow(_log_item(i))
    (folder / "export.csv").write_text(buffer.getvalue())
    return {"landed": 5 + 1 + 3, "quarantined": 1}


LEDGER_CSV = """bucket_start,bucket_minutes,tenant,model,input_tokens,cached_tokens,output_tokens,request_count,ledger_source
2026-05-11 10:00:00,60,acme,gpt-4o-mini,2210400,640000,310220,1180,warehouse.llm_usage_hourly
2026-05-11 11:00:00,60,acme,gpt-4o-mini,1210400,40000,110220,580,exported by planted.person@example.org
2026-05-11 12:00:00,60,acme,gpt-4o-mini,-3,0,1,1,warehouse.llm_usage_hourly
2026-05-11 13:00:00,60,acme
"""


def write_ledger(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ledger.csv").write_text(LEDGER_CSV)
    (folder / "ledger.sidecar.json").write_text(json.dumps({"timezone": "Europe/Berlin"}))


FOCUS_HEADER = [
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "BillingCurrency",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ServiceName",
    "SkuId",
    "PricingQuantity",
    "PricingUnit",
    "InvoiceId",
    "BillingAccountId",
    "x_GroupRatio",
]


def write_billing(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        [
            "12.345678",
            "12.345678",
            "15.432097",
            "USD",
            "2026-05-11T08:00:00Z",
            "2026-05-11T09:00:00Z",
            "Usage",
            "",
            "CometAPI",
            "gpt-4o-mini",
            "1",
            "Hour",
            "INV-1",
            "acct-1",
            "owner planted.person@example.org",
        ],
        [
            "-0.50",
            "-0.50",
            "-0.50",
            "USD",
            "2026-04-10T00:00:00Z",
            "2026-04-11T00:00:00Z",
            "Credit",
            "Correction",
            "CometAPI",
            "gpt-4o-mini",
            "",
            "",
            "INV-0",
            "acct-1",
            "",
        ],
        [
            "1.0",
            "1.0",
            "1.0",
            "USD",
            "2026-05-11 08:00:00",
            "2026-05-11T09:00:00Z",
            "Usage",
            "",
            "CometAPI",
            "gpt-4o-mini",
            "1",
            "Hour",
            "INV-1",
            "acct-1",
            "",
        ],
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FOCUS_HEADER)
    writer.writerows(rows)
    (folder / "focus_2026-05.csv").write_text("\ufeff" + buffer.getvalue())
    (folder / "balance_2026-05-11.json").write_text(
        json.dumps(
            {
                "username": PLANTED["email"],
                "total_quota": 1000.5,
                "daily_quota": {
                    "2026-05-11": [
                        {
                            "token_name": "prod-chat",
                            "quota_used": 2105.234088,
                            "request_count": 12000,
                        },
                        {"token_name": "batch-backfill", "quota_used": 10.5, "request_count": 40},
                    ]
                },
            }
        )
    )
    (folder / "billing_usage.json").write_text(
        json.dumps({"object": "billing_usage", "total_usage": 12345.67})
    )


def write_pricing(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    catalog = {
        "data": [
            {
                "id": "gpt-4o-mini",
                "pricing": {
                    "currency": "USD / M Tokens",
                    "input": 0.15,
                    "output": 0.6,
                    "per_request": None,
                    "per_second": None,
                    "cache_read": 0.075,
                },
            },
            {
                "id": "claude-sonnet-4-5",
                "pricing": {
                    "currency": "USD / M Tokens",
                    "input": 3,
                    "output": 15,
                    "cache_read": 0.3,
                    "cache_write": 3.75,
                },
            },
            {"id": "broken-model"},
        ]
    }
    (folder / "catalog_2026-05-11.json").write_text(json.dumps(catalog))
    (folder / "catalog_2026-05-11.capture.json").write_text(
        json.dumps(
            {
                "source_url": "https://api.cometapi.com/api/models",
                "captured_at": "2026-05-11T11:08:00Z",
                "captured_by": PLANTED["email"],
                "account_context": "acct-1",
            }
        )
    )
    (folder / "rate_sheet.csv").write_text(
        "model,dimension,rate,unit_size,currency,effective_from,rate_source\n"
        "gpt-4o-mini,input,0.15,1000000,USD,2026-04-01,finance sheet v3\n"
        "gpt-4o-mini,output,0.60,1000000,USD,2026-04-01,sheet from planted.person@example.org\n"
        "gpt-4o-mini,tokens,0.60,1000000,USD,2026-04-01,finance sheet v3\n"
    )


CONTRACT_YAML = """provider: CometAPI
source_url: https://apidoc.cometapi.com/
captured_at: 2026-05-11T11:05:00Z
auth_header: Authorization
auth_scheme: Bearer
request_id_header: X-Cometapi-Request-Id
endpoints:
  - path: /v1/chat/completions
    api_format: openai_chat
    request_fields: [model, messages, stream, max_tokens]
    response_usage_fields: [prompt_tokens, completion_tokens, total_tokens]
  - path: /v1/messages
    api_format: anthropic_messages
    request_fields: [model, messages, max_tokens]
    response_usage_fields: [input_tokens, output_tokens]
error_shape: {error: {message: string, type: string, param: string, code: string}}
retryable_statuses: [429, 500, 503, 504, 524]
non_retryable_statuses: [400, 401, 403]
x_reviewer_note: kept though unknown
x_debug_header: "Authorization: Bearer sk-PLANTEDbearer0123456789abcdefghijklmnop"
"""

INCIDENT_YAML = """incident_id: INC-TEST-1
start_utc: 2026-05-11T08:00:00Z
end_utc: 2026-05-11T10:00:00Z
finance_timezone: Europe/Berlin
buffer_minutes: 60
owner: platform-oncall
finance_reviewer: finops-lead
tolerance_percent: 1.0
tolerance_abs_usd: 5.00
provider: CometAPI
notes: escalate to planted.person@example.org if needed
"""

CHANGES_CSV = '''changed_at,kind,key,old_value,new_value,deploy_id,description
2026-05-11T07:55:00Z,config,llm_client.timeout_seconds,60,15,dep-881,"lower client timeout, see ""runbook"""
2026-05-11T09:30:00+02:00,deploy,api,v1,v2,dep-882,routine deploy with key sk-PLANTEDkey0123456789abcdefghijklmnopqrstu
'''


def write_all(landing: Path) -> None:
    write_app_requests(landing / "app_requests")
    write_gateway_logs(landing / "gateway_logs")
    write_ledger(landing / "usage_ledger")
    write_billing(landing / "billing")
    write_pricing(landing / "pricing")
    (landing / "contracts").mkdir(parents=True, exist_ok=True)
    (landing / "contracts" / "cometapi.yaml").write_text(CONTRACT_YAML)
    (landing / "incidents").mkdir(parents=True, exist_ok=True)
    (landing / "incidents" / "inc.yaml").write_text(INCIDENT_YAML)
    (landing / "changes").mkdir(parents=True, exist_ok=True)
    (landing / "changes" / "changes.csv").write_text(CHANGES_CSV)
