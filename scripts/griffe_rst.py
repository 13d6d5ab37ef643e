"""A Griffe extension for the documentation site: renders the reStructuredText idioms used in
norse_core's docstrings as Markdown, so that mkdocstrings shows them properly. The source
docstrings are not changed; ``mkdocs.yml`` loads this file (``extensions:``).

* Sphinx roles: ``:class:`~a.b.C``` -> ```C```, ``:func:`f``` -> ```f``` (``:mod:``,
  ``:meth:``, ``:attr:``, ``:data:``, ``:obj:``, ``:exc:`` likewise).
* Simple tables (columns delimited by ``=====`` rules) -> Markdown tables.
* Literal-block markers: ``text::`` before an indented block -> ``text:`` (the indented
  block is already a Markdown code block); a lone ``::`` line is dropped.
"""

from __future__ import annotations

import re
from typing import Any, List

from griffe import Extension, Object

ROLE = re.compile(r":(?:py:)?(?:class|func|mod|meth|attr|data|obj|exc|const):`(~?)([^`]+)`")
RULE = re.compile(r"^\s*=+(\s+=+)+\s*$")


def _role(match: re.Match) -> str:
    target = match.group(2)
    if match.group(1):  # ~a.b.C shows as C
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _cells(line: str, starts: List[int]) -> List[str]:
    """Splits a table row into columns: chunks separated by 2+ spaces go to the column whose
    rule starts at or before them (a cell may overflow its rule, as long as 2 spaces follow)."""
    cells = [""] * len(starts)
    for chunk in re.finditer(r"\S+(?: \S+)*", line):
        column = max(i for i, start in enumerate(starts) if start <= chunk.start()) if chunk.start() >= starts[0] else 0
        cells[column] = f"{cells[column]} {chunk.group(0)}".strip()
    return cells


def _table(block: List[str]) -> List[str]:
    starts = [m.start() for m in re.finditer(r"=+", block[0])]
    header: List[List[str]] = []
    rows: List[List[str]] = []
    rules = 0
    for line in block[1:]:
        if RULE.match(line):
            rules += 1
            if rules == 1 and rows:
                header, rows = rows, []
            continue
        cells = _cells(line, starts)
        if rows and not cells[0]:  # a continuation line: extend the previous row
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    if not header:  # Markdown tables need a header row
        header, rows = rows[:1], rows[1:]
    if len(header) > 1:  # multi-line header: join per column
        header = [[" ".join(c for c in column if c) for column in zip(*header)]]

    def escape(cell: str) -> str:  # pipes outside code spans would split the cell
        parts = re.split(r"(``.*?``|`[^`]*`)", cell)
        return "".join(part if part.startswith("`") else part.replace("|", "\\|") for part in parts)

    def fmt(cells: List[str]) -> str:
        return "| " + " | ".join(escape(c) for c in cells) + " |"

    return ["", fmt(header[0]), "|" + "---|" * len(starts), *(fmt(r) for r in rows), ""]


def rst_to_markdown(text: str) -> str:
    lines = text.split("\n")
    out: List[str] = []
    i = 0
    while i < len(lines):
        if RULE.match(lines[i]):
            # the table runs to the rule that is followed by a blank line (or the end)
            j = i + 1
            while j < len(lines) and not (RULE.match(lines[j]) and (j + 1 == len(lines) or not lines[j + 1].strip())):
                j += 1
            out.extend(_table(lines[i : j + 1]))
            i = j + 1
            continue
        out.append(lines[i])
        i += 1
    text = "\n".join(out)
    text = re.sub(r"^\s*::\s*$\n?", "", text, flags=re.M)  # a lone literal-block marker
    text = re.sub(r"(\S)::[ \t]*$", r"\1:", text, flags=re.M)  # "text::" -> "text:"
    return ROLE.sub(_role, text)


class RstDocstrings(Extension):
    """Rewrites every docstring's reStructuredText idioms as Markdown before rendering."""

    def on_object(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None and obj.docstring.value:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
