"""Typed field specifications and the SQL that turns JSON records into typed rows.

Every stream module declares its raw table as a tuple of `Field`s. The loader parses each
record once (`json_transform` into a struct of text leaves), casts every field, and
finds the first failing check of each row in one vectorised DuckDB query. Rows with a
failure go to the quarantine table with the column and the reason; the rest land.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

from ingest.sanitize import CONTENT_KEYS, redact_sql

Kind = Literal["int", "decimal", "bool", "text", "json", "timestamptz", "timestamp", "date", "list"]

INT_PATTERN = r"^-?[0-9]+(\.0*)?$"
OFFSET_PATTERN = r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$"
MAX_TOKEN_COUNT = 10_000_000_000
INVALID_UTF8_MARKER = "\x01invalid-utf8\x01"
CSV_ERROR_KEY = "__csv_error__"


def sql_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    """A column name from input (a CSV header, a JSON key) as a SQL identifier: quoted,
    its own quotes doubled, so no name can end the identifier and inject SQL."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Field:
    """One landed column.

    `path` names the JSON key path in the record (dots for nesting); `source` may
    replace it with any SQL expression over the parsed record `r` that yields text.
    `checks` are (SQL condition on the typed value `{v}`, reason) pairs that must hold.
    """

    name: str
    kind: Kind
    path: str | None = None
    source: str | None = None
    required: bool = False
    sql_type: str | None = None
    checks: tuple[tuple[str, str], ...] = ()
    description: str = ""
    path_transform: str | None = None
    """SQL applied to the value at `path` (`{value}`), which keeps the type the path is
    parsed as (e.g. the structure of a JSON value rather than the value)."""

    @property
    def column_type(self) -> str:
        if self.sql_type:
            return self.sql_type
        return {
            "int": "BIGINT",
            "decimal": "DECIMAL(38, 12)",
            "bool": "BOOLEAN",
            "text": "VARCHAR",
            "json": "JSON",
            "timestamptz": "TIMESTAMPTZ",
            "timestamp": "TIMESTAMP",
            "date": "DATE",
            "list": "VARCHAR[]",
        }[self.kind]

    def raw_expression(self) -> str:
        if self.source is not None:
            return self.source
        assert self.path is not None, self.name
        alias, _, path = self.path.rpartition(":")
        value = (alias or "r") + "." + ".".join(quote_identifier(part) for part in path.split("."))
        return self.path_transform.replace("{value}", value) if self.path_transform else value

    def typed_expression(self, raw: str) -> str:
        if self.kind == "int":
            # try_cast rounds '12.5' to 13, so anything with a fraction takes the strict path
            return (
                f"case when not contains({raw}, '.') then try_cast({raw} as BIGINT) "
                f"when regexp_full_match({raw}, '{INT_PATTERN}') "
                f"then try_cast(try_cast({raw} as DECIMAL(38, 6)) as BIGINT) end"
            )
        if self.kind == "decimal":
            return f"try_cast(trim({raw}) as {self.column_type})"
        if self.kind == "bool":
            return (
                f"case lower(trim({raw})) when 'true' then true when '1' then true "
                f"when 'false' then false when '0' then false end"
            )
        if self.kind == "timestamptz":
            return f"case when regexp_matches(trim({raw}), '{OFFSET_PATTERN}') then try_cast(trim({raw}) as TIMESTAMPTZ) end"
        if self.kind == "timestamp":
            return f"try_cast(trim({raw}) as TIMESTAMP)"
        if self.kind == "date":
            return f"try_cast(trim({raw}) as DATE)"
        if self.kind == "json":
            return f"case when json_valid({raw}) then {raw}::JSON end"
        return raw

    def type_error(self, raw: str, typed: str) -> tuple[str, str]:
        what = {
            "int": "an integer",
            "decimal": "a decimal number",
            "bool": "a boolean",
            "timestamptz": "a timestamp with a UTC offset",
            "timestamp": "a date and clock time",
            "date": "a date",
            "json": "JSON",
        }.get(self.kind)
        if what is None:
            return ("false", "")
        return (
            f"{raw} is not null and {typed} is null",
            f"'cannot read ' || left({raw}, 80) || ' as {what}'",
        )


def token_count(name: str, path: str, description: str = "", required: bool = False) -> Field:
    """A token quantity from a usage object: a non-negative, plausible integer."""
    return Field(
        name,
        "int",
        path=path,
        required=required,
        checks=(
            ("{v} >= 0", "'negative token count'"),
            (f"{{v}} <= {MAX_TOKEN_COUNT}", "'implausibly large token count'"),
        ),
        description=description,
    )


@dataclass(frozen=True)
class Nested:
    """A JSON text inside the record (e.g. a usage object or the gateway's `other`
    string), parsed once under `alias` so fields can read `alias:path`; its JSON type is
    `_<alias>_type` (null when the text is not JSON)."""

    alias: str
    source: str


@dataclass(frozen=True)
class StreamTable:
    """A raw table: its fields, and the JSON structure that parses each record once."""

    table: str
    fields: tuple[Field, ...]
    nested: tuple[Nested, ...] = ()
    record_checks: tuple[tuple[str, str, str], ...] = field(default=())
    """(SQL condition on typed columns that must hold, column, reason) across fields."""
    description: str = ""
    derived: tuple[tuple[str, str], ...] = ()
    """(name, SQL over `r` and nested aliases) computed once per record, so an expensive
    value (a fingerprinted payload) is not re-parsed by every field that reads it."""
    content_keys: frozenset[str] = CONTENT_KEYS
    """Keys whose values are removed from a quarantined row's text; streams without prompt
    content keep their values (a rejected price stays readable)."""
    strict_text: bool = False
    """Quarantine a JSON array or object found where a text value is expected (for JSON
    streams, where a CSV cell cannot be confused with one)."""
    redact_text: bool = True
    """Redact keys, tokens and e-mail addresses in every text and JSON column. The two
    high-volume streams turn this off and redact their free-text columns explicitly."""

    extra_keys: tuple[str, ...] = ()
    """Top-level keys read as text that only the input names (FOCUS `x_*` extension
    columns): read with struct_extract and a string literal, never as an identifier."""

    def structure(self, alias: str = "") -> dict[str, object]:
        tree: dict[str, object] = {}
        if not alias:
            for key in self.extra_keys:
                tree.setdefault(key, "VARCHAR")
        for f in self.fields:
            if f.path is None:
                continue
            field_alias, _, path = f.path.rpartition(":")
            if field_alias != alias:
                continue
            node = tree
            parts = path.split(".")
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ValueError(f"{self.table}: {f.path} nests under a leaf")
                node = child
            node.setdefault(parts[-1], "JSON" if f.kind == "json" else "VARCHAR")
        # keys that `source` expressions read directly, e.g. r."request_headers"
        reference = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(alias or "r") + r'\."([^"]+)"')
        expressions = [f.source or "" for f in self.fields] + [n.source for n in self.nested]
        expressions += [expression for _, expression in self.derived]
        expressions += [condition for condition, _, _ in self.record_checks]
        for expression in expressions:
            for key in reference.findall(expression):
                tree.setdefault(key, "VARCHAR")
        return tree


def structure_json(tree: dict[str, object]) -> str:
    return json.dumps(tree, separators=(",", ":"))


def typed_rows_sql(table: StreamTable, source_relation: str) -> str:
    """SQL selecting, for every record of `source_relation(_row_number, _line)`, the
    typed columns plus `_error_column` and `_error_reason` (null when the row is good)."""
    raw_cols = []
    typed_cols = []
    checks: list[tuple[str, str, str]] = [
        (f'r."{CSV_ERROR_KEY}" is not null', "$", f'r."{CSV_ERROR_KEY}"'),
    ]
    for f in table.fields:
        raw_name = f'"_raw_{f.name}"'
        raw_cols.append(f"{f.raw_expression()} as {raw_name}")
        typed = f.typed_expression(raw_name)
        landed = redact_sql(typed) if table.redact_text and f.kind in ("text", "json") else typed
        typed_cols.append(f'{landed} as "{f.name}"')
        if f.required:
            checks.append(
                (
                    f"{raw_name} is null or trim({raw_name}::VARCHAR) = ''",
                    f.name,
                    "'missing required field'",
                )
            )
        cond, reason = f.type_error(raw_name, f'"{f.name}"')
        if reason:
            checks.append((cond, f.name, reason))
        if f.kind == "text" and f.path is not None and table.strict_text:
            # json_transform renders an array or object as its JSON text: not a text value
            checks.append(
                (
                    f"left(ltrim({raw_name}), 1) in ('[', '{{') and coalesce(json_valid({raw_name}), false)",
                    f.name,
                    "'not text (found a JSON array or object): ' || left(" + raw_name + ", 40)",
                )
            )
        if f.kind == "decimal":
            # DECIMAL(38, 12) would round 0.0000000000004 to 0: refuse rather than round
            checks.append(
                (
                    f'coalesce(try_cast(trim({raw_name}) as DECIMAL(38, 24)) <> "{f.name}", false)',
                    f.name,
                    "'more than 12 decimal places (would be rounded): ' || left("
                    + raw_name
                    + ", 40)",
                )
            )
        for condition, message in f.checks:
            bound = condition.replace("{v}", f'"{f.name}"')
            checks.append((f'"{f.name}" is not null and not ({bound})', f.name, message))
    for condition, column, message in table.record_checks:
        checks.append((f"not coalesce({condition}, true)", column, message))

    top = table.structure()
    top[CSV_ERROR_KEY] = "VARCHAR"
    # each nested text is evaluated once (`_<alias>_text`) and parsed for its type once
    # (`_<alias>_type`, null when it is not JSON); only an object is transformed, and
    # fields and derived values read the type
    nested_texts = "".join(f", {n.source} as _{n.alias}_text" for n in table.nested)
    nested_types = "".join(
        f", try(json_type(_{n.alias}_text)) as _{n.alias}_type" for n in table.nested
    )
    nested_parse = "".join(
        f", case when _{n.alias}_type = 'OBJECT' then json_transform(_{n.alias}_text, "
        f"{sql_quote(structure_json(table.structure(n.alias) or {'_': 'VARCHAR'}))}) end as {n.alias}"
        for n in table.nested
    )
    # one CTE per derived value, so a later one may read an earlier one
    derived_ctes = ""
    previous = "nested"
    for number, (name, expression) in enumerate(table.derived):
        derived_ctes += f"derived_{number} as (select *, {expression} as {name} from {previous}),\n"
        previous = f"derived_{number}"
    error_column = (
        "case when not _is_json then '$' when not _is_object then '$' "
        + " ".join(f"when {c} then {sql_quote(col)}" for c, col, _ in checks)
        + " end"
    )
    error_reason = (
        f"case when starts_with(_line, {sql_quote(INVALID_UTF8_MARKER)}) then 'not UTF-8 text' "
        "when not _is_json then 'malformed JSON' "
        "when not _is_object then 'record is not a JSON object' "
        + " ".join(f"when {c} then {r}" for c, _, r in checks)
        + " end"
    )
    return f"""
with parsed as (
    select _row_number, _line, _json_type is not null as _is_json,
           coalesce(_json_type = 'OBJECT', false) as _is_object
    from (select *, try(json_type(_line)) as _json_type from {source_relation})
),
structured as (
    select *, case when _is_object then json_transform(_line, {sql_quote(structure_json(top))}) end as r
    from parsed
),
nested as (
    select *{nested_parse} from (
        select *{nested_types} from (select *{nested_texts} from structured)
    )
),
{derived_ctes}
raw_values as (
    select _row_number, _line, _is_json, _is_object, r, {", ".join(raw_cols)}
    from {previous}
),
typed as (
    select *, {", ".join(typed_cols)} from raw_values
)
select _row_number, {", ".join(f'"{f.name}"' for f in table.fields)},
       {error_column} as _error_column, {error_reason} as _error_reason
from typed
"""
