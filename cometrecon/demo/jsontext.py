"""Deterministic JSON text: exact decimals in documents, vectorised objects in polars.

`dumps` writes `Decimal` values as bare JSON numbers exactly as they are (catalog prices,
billing amounts), never through a float. The polars helpers build one JSON object per
row as a string expression, so millions of lines are written without a Python loop.
All strings the generator emits are plain ASCII/UTF-8 without quotes or backslashes,
except where `escape` is applied explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal

import polars as pl


def decimal_text(value: Decimal) -> str:
    """Plain notation, no exponent, no trailing zeros ("0.075", "12", "-3.2")."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def dumps(value: object, indent: int | None = 2) -> str:
    """JSON text with `Decimal` as exact numbers; key order is insertion order."""
    return _dump(value, indent, 0) + ("\n" if indent is not None else "")


def _dump(value: object, indent: int | None, level: int) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, dict):
        items = [
            f"{json.dumps(k, ensure_ascii=False)}: {_dump(v, indent, level + 1)}"
            for k, v in value.items()
        ]
        return _join("{", "}", items, indent, level)
    if isinstance(value, list | tuple):
        return _join("[", "]", [_dump(v, indent, level + 1) for v in value], indent, level)
    raise TypeError(f"not JSON-serialisable here: {type(value).__name__}")


def _join(open_: str, close: str, items: list[str], indent: int | None, level: int) -> str:
    if not items:
        return open_ + close
    if indent is None:
        return open_ + ", ".join(items) + close
    pad = " " * (indent * (level + 1))
    return open_ + "\n" + ",\n".join(pad + i for i in items) + "\n" + " " * (indent * level) + close


# ---- polars expressions producing JSON text -------------------------------------------


def lit(text: str) -> pl.Expr:
    return pl.lit(text, dtype=pl.String)


def jstr(expr: pl.Expr) -> pl.Expr:
    """A JSON string value (the text must not need escaping)."""
    return pl.concat_str([lit('"'), expr, lit('"')])


def jint(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String)


def jbool(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr).then(lit("true")).otherwise(lit("false"))


def or_null(condition: pl.Expr, expr: pl.Expr) -> pl.Expr:
    return pl.when(condition).then(expr).otherwise(lit("null"))


def or_empty(condition: pl.Expr, expr: pl.Expr) -> pl.Expr:
    return pl.when(condition).then(expr).otherwise(lit(""))


def escape(expr: pl.Expr) -> pl.Expr:
    """Escape a JSON text so it can sit inside a JSON string (the `other` column)."""
    return expr.str.replace_all('"', '\\"', literal=True)


def jobj(items: Sequence[tuple[str, pl.Expr | str]], tail: pl.Expr | None = None) -> pl.Expr:
    """One JSON object per row from (key, value-text) pairs; str values are literal JSON.

    `tail` is text inserted before the closing brace (optional members: ", \"k\": v" or "").
    """
    parts: list[pl.Expr] = []
    pending = "{"
    for i, (key, value) in enumerate(items):
        pending += ("" if i == 0 else ", ") + json.dumps(key) + ": "
        if isinstance(value, str):
            pending += value
        else:
            parts.append(lit(pending))
            parts.append(value)
            pending = ""
    if tail is not None:
        parts.append(lit(pending))
        parts.append(tail)
        pending = ""
    parts.append(lit(pending + "}"))
    return pl.concat_str(parts)


def pick(index: pl.Expr, table: Sequence[str]) -> pl.Expr:
    """The string `table[index]` for each row."""
    return index.replace_strict(
        old=list(range(len(table))), new=list(table), return_dtype=pl.String
    )


def money_from_quota(quota: pl.Expr) -> pl.Expr:
    """quota / 500,000 as exact decimal text with 6 places (e.g. "0.002468")."""
    return pl.concat_str(
        [
            (quota // 500_000).cast(pl.String),
            lit("."),
            ((quota % 500_000) * 2).cast(pl.String).str.zfill(6),
        ]
    )
