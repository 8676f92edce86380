"""Keep secrets and content out of the warehouse.

Content (prompts, messages, request bodies) and credentials are never selected into raw
tables. What can still carry them is free text (the gateway's `content`, error messages)
and the original text of quarantined rows; both pass through `redact` first.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

# The credential shapes redacted from free text (README, "What ingest guarantees"): bearer tokens, OpenAI- and
# Anthropic-style `sk-` keys in any case and URL-encoded (`sk%2D`), Google API keys
# (`AIza` + 35), and e-mail addresses. RE2 syntax, run by DuckDB's regexp_replace (linear
# time by construction).
SECRET_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"(?i)bearer\s+[A-Za-z0-9._~+/=\-]{6,}", "Bearer [REDACTED]"),
    (r"(?i)sk(-|%2d)[A-Za-z0-9_\-]{6,}", "sk-[REDACTED]"),
    (r"AIza[A-Za-z0-9_\-]{30,}", "[REDACTED_GOOGLE_KEY]"),
    (r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}", "[REDACTED_EMAIL]"),
)
# Every match of a pattern above contains one of these (compared in lower case).
SECRET_MARKERS = ("bearer", "sk-", "sk%2d", "aiza", "@")
# The same shapes for Python's backtracking engine, written so that no input makes them
# slow: runs are consumed possessively, and an e-mail address may only start where a run
# of its characters starts (a look-behind), so each character is read a bounded number of
# times (1 MB without an '@' or with thousands of them: milliseconds, not minutes).
_PYTHON_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"(?i)bearer\s++[A-Za-z0-9._~+/=\-]{6,}+", "Bearer [REDACTED]"),
    (r"(?i)sk(?:-|%2d)[A-Za-z0-9_\-]{6,}+", "sk-[REDACTED]"),
    (r"AIza[A-Za-z0-9_\-]{30,}+", "[REDACTED_GOOGLE_KEY]"),
    (
        r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]++@(?:[A-Za-z0-9\-]*+\.)+[A-Za-z]{2,}+",
        "[REDACTED_EMAIL]",
    ),
)
_COMPILED = tuple((re.compile(p), r) for p, r in _PYTHON_PATTERNS)

# Keys whose values are content or credentials: dropped wherever they appear.
# Credentials and personal fields: removed from every stream's quarantined text.
CREDENTIAL_KEYS = frozenset(
    {
        "api_key",
        "apikey",
        "authorization",
        "x-api-key",
        "x-goog-api-key",
        "username",
        "email",
        "ip",
        "admin_info",
    }
)
# Plus prompt and response content: removed where a stream can carry it.
CONTENT_KEYS = CREDENTIAL_KEYS | frozenset(
    {
        "messages",
        "prompt",
        "input",
        "contents",
        "system",
        "instructions",
        "tools",
        "request_body",
        "body",
        "response_body",
        "choices",
        "candidates",
        "output_text",
    }
)
HEADER_KEYS = frozenset({"request_headers", "headers"})


QUARANTINE_TEXT_LIMIT = 4000


def redact(text: str) -> str:
    """Replace API keys, bearer tokens and e-mail addresses in free text."""
    for pattern, replacement in _COMPILED:
        text = pattern.sub(replacement, text)
    return text


def redact_sql(expression: str) -> str:
    """The same redaction as a DuckDB SQL expression around `expression`.

    The regular expressions run only on text holding one of `SECRET_MARKERS` (a plain
    substring search, several times cheaper): text without them has nothing to redact.
    """
    redacted = expression
    for pattern, replacement in SECRET_PATTERNS:
        redacted = f"regexp_replace({redacted}, '{pattern}', '{replacement}', 'g')"
    marked = " or ".join(f"contains(lower({expression}), '{marker}')" for marker in SECRET_MARKERS)
    return f"case when {marked} then {redacted} else {expression} end"


def _scrub(value: Any, content_keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            lowered = str(key).lower()
            if lowered in HEADER_KEYS and isinstance(item, dict):
                cleaned[key] = sorted(str(k).lower() for k in item)
            elif lowered in content_keys:
                cleaned[key] = "[REMOVED]"
            else:
                cleaned[key] = _scrub(item, content_keys)
        return cleaned
    if isinstance(value, list):
        return [_scrub(item, content_keys) for item in value]
    if isinstance(value, str):
        return redact(value)
    return value


_CONTENT_KEY_IN_TEXT = re.compile(
    r'"(' + "|".join(re.escape(k) for k in sorted(CONTENT_KEYS | HEADER_KEYS)) + r')"\s*:',
    re.IGNORECASE,
)


def sanitize_record_text(text: str, content_keys: frozenset[str] = CONTENT_KEYS) -> str:
    """Sanitize the original text of a quarantined row before it is stored.

    Parseable JSON keeps its structure with content values removed; anything else is
    cut at the first content-bearing key and redacted.
    """
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        match = _CONTENT_KEY_IN_TEXT.search(text) if content_keys == CONTENT_KEYS else None
        if match:
            text = text[: match.start()] + "…[content removed]"
        return redact(text)[:QUARANTINE_TEXT_LIMIT]
    return json.dumps(_scrub(parsed, content_keys), ensure_ascii=False, default=str)[
        :QUARANTINE_TEXT_LIMIT
    ]


def fingerprint_salt(project_dir: Path) -> str:
    """The salt for payload and credential fingerprints; it never enters the warehouse."""
    from_env = os.environ.get("COMETRECON_FINGERPRINT_SALT")
    if from_env:
        return from_env
    salt_file = project_dir / ".secrets" / "fingerprint_salt"
    if salt_file.exists():
        return salt_file.read_text().strip()
    salt_file.parent.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_hex(32)
    salt_file.write_text(salt + "\n")
    salt_file.chmod(0o600)
    return salt
