"""A griffe extension that reads the reStructuredText in prefgame's docstrings as Markdown.

The docstrings are written for ``help()`` and Sphinx-style readers: cross-reference roles
(``:func:`~prefgame.equilibrium.solve```), simple tables framed by ``=====`` rules and literal
blocks introduced by ``::``.  The site (``mkdocs.yml``, mkdocstrings) renders Markdown, so before
rendering each docstring is rewritten — the source files are not touched:

* a role becomes code: ``:func:`~a.b.c``` → `` `c` ``, ``:mod:`a.b``` → `` `a.b` ``;
* a simple table becomes a fenced block that keeps its columns;
* a paragraph ending in ``::`` ends in ``:`` (the indented block after it is already code);
* a doctest block (``>>>`` lines and the output under them, up to a blank line) becomes a fenced
  ``pycon`` block — in Markdown a ``>>>`` line is a quote three deep, and the lines under it run
  into one paragraph.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:class|mod|func|data|meth|attr|obj|exc|py:\w+):`(~?)([^`]+)`")
_RULE = re.compile(r"^\s*=+(?:\s+=+)+\s*$")


def _role(m: re.Match[str]) -> str:
    short, target = m.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def rst_to_markdown(text: str) -> str:
    """The docstring ``text`` with its reStructuredText constructs written as Markdown."""
    text = _ROLE.sub(_role, text)
    out: list[str] = []
    lines = text.splitlines()
    literal = None  # the indentation of the ``::`` line whose literal block we are in
    i = 0
    while i < len(lines):
        line = lines[i]
        if literal is not None and line.strip() and _indent(line) <= literal:
            literal = None
        if literal is None and line.lstrip().startswith(">>>"):  # a doctest block, fenced
            indent = line[: _indent(line)]
            j = i
            while j < len(lines) and lines[j].strip():
                j += 1
            body = [r[len(indent) :] if r.startswith(indent) else r.lstrip() for r in lines[i:j]]
            if out and out[-1].strip():
                out.append("")
            out += [f"{indent}```pycon", *(indent + r for r in body), f"{indent}```"]
            i = j
            continue
        if _RULE.match(line):  # a simple table: rule, rows, rule (a rule may sit under a header)
            j = i + 1
            while j < len(lines) and not (
                _RULE.match(lines[j]) and (j + 1 >= len(lines) or not lines[j + 1].strip())
            ):
                j += 1
            indent = line[: len(line) - len(line.lstrip())]
            rows = [r.replace("``", "") for r in lines[i + 1 : j] if not _RULE.match(r)]
            out += [f"{indent}```text", *rows, f"{indent}```"]
            i = j + 1
            continue
        if line.endswith("::") and literal is None:
            literal = _indent(line)
        out.append(line[:-1] if line.endswith("::") and line.strip() != "::" else line)
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring with :func:`rst_to_markdown` as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
