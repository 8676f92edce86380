"""Values from the evidence written into Markdown as inert text.

Labels, endpoints, tenants, change descriptions and ids come from landed files, so any
of them may hold Markdown or HTML syntax (`<script>`, `[link](…)`, a table pipe), a line
break, or a spreadsheet formula (`=HYPERLINK(…)`). `md` escapes every character that
could start such syntax, so the value reads as itself and nothing else.
"""

from __future__ import annotations

import re

# CommonMark's backslash escapes for the characters that can start inline syntax:
# emphasis, code, links and images (no `(` or `!` makes a link or image without a `[`),
# raw HTML and entities, table cells, headings, strikethrough
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")
_LINE_BREAKS_AND_CONTROLS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
# a cell a spreadsheet would run as a formula when the Markdown table is pasted into one
_FORMULA_START = ("=", "+", "-", "@")


def md(value: object) -> str:
    """`value` as Markdown text that renders exactly as the value, on one line."""
    text = _LINE_BREAKS_AND_CONTROLS.sub(" ", str(value))
    if text.startswith(_FORMULA_START):
        text = "'" + text
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
