"""A griffe extension that reads the reStructuredText in prefgame's docstrings as Markdown.

The docstrings are written for ``help()`` and Sphinx-style readers: cross-reference roles
(``:func:`~prefgame.equilibrium.solve```), simple tables framed by ``=====`` rules and literal
blocks introduced by ``::``.  The site (``mkdocs.yml``, mkdocstrings) renders Markdown, so before
rendering each docstring is rewritten — the source files are not touched:

* a role becomes code: ``:func:`~a.b.c``` → `` `c` ``, ``:mod:`a.b``` → `` `a.b` ``;
* a simple table becomes a fenced block that keeps its columns;
* a paragraph ending in ``::`` ends in ``:`` (the indented block after it is already code).
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:class|mod|func|data|meth|attr|obj|exc|py:\w+):`(~?)([^`]+)`")
_RULE = re.compile(r"^\s*=+(?:\s+=+)+\s*$")


def _role(m: re.Match[str]) -> str:
    short, target = m.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def rst_to_markdown(text: str) -> str:
    """The docstring ``text`` with its reStructuredText constructs written as Markdown."""
    text = _ROLE.sub(_role, text)
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
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
        out.append(line[:-1] if line.endswith("::") and line.strip() != "::" else line)
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring with :func:`rst_to_markdown` as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
