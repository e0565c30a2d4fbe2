"""MkDocs hooks that build prefgame's site from the files the repository already has.

The site (``mkdocs.yml``; ``make docs`` → ``site/``) uses three kinds of page:

* pages written for it, in ``docs/`` (the notation table, the algorithms, the API reference);
* pages cut from the README by heading (:data:`README_PAGES`), so the install lines, the CLI and
  "Test your own idea" have one source and cannot drift apart;
* the notebooks as executed and committed (``notebooks/*.ipynb``, outputs included: figures as
  PNG files, text output in fenced blocks) and the proofs of ``paper_proofs/*.md``.

Every relative link is resolved against the file it was written in and then pointed at the page
that holds that file on the site; a link to a repository file that has no page (a test module, a
script) becomes the path in code font, so ``mkdocs build --strict`` checks every link that is
left.  Nothing here runs a notebook: the pages show the outputs committed with them.

The site needs no network to read: its math is typeset by a copy of MathJax shipped with the site
(:data:`MATHJAX_SITE_PATH`, taken from the ``django-static-mathjax`` package of the ``docs`` extra,
which holds MathJax's own files and nothing else), and the theme uses the system fonts.
"""

from __future__ import annotations

import base64
import json
import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]

#: site page → (title, README headings whose sections it holds, in order; "" = the intro).
README_PAGES: dict[str, tuple[str, list[str]]] = {
    "index.md": (
        "prefgame",
        ["", "Two commands for a fresh machine", "Learning path"],
    ),
    "howto/your-own-idea.md": ("Test your own idea", ["Test your own idea"]),
    "howto/cli.md": ("The command line", ["A short tour", "The solver", "Error contract"]),
    "howto/explorer.md": (
        "The explorer",
        ["The explorer: move τ, β and the game, watch every learner"],
    ),
    "howto/llm-gpus.md": (
        "Training on several GPUs",
        ["Training on several GPUs (`prefgame.llm`)"],
    ),
    "howto/summarisation-results.md": (
        "The summarisation experiment: results",
        ["The paper's summarisation experiment, end to end (`llm/`)"],
    ),
    "equivalence-measured.md": ("The equivalence, measured", ["The equivalence, measured"]),
}

#: repository files shown as pages (besides docs/ and the notebooks): repo path → site path.
COPIED_PAGES: dict[str, str] = {
    "paper_proofs/README.md": "proofs/index.md",
    **{
        f"paper_proofs/{p.name}": f"proofs/{p.name}"
        for p in sorted((ROOT / "paper_proofs").glob("*.md"))
        if p.name != "README.md"
    },
    "benchmarks/RESULTS.md": "benchmarks.md",
    "llm/results/RESULTS.md": "howto/summarisation-tables.md",
}

#: images the pages show, copied to the same path on the site.
IMAGE_DIRS = ("figures", "llm/results")

#: where the site holds its copy of MathJax (``mkdocs.yml``'s ``extra_javascript`` loads it).
MATHJAX_SITE_PATH = "javascripts/mathjax/tex-svg-full.js"


def mathjax_source() -> Path:
    """MathJax's self-contained SVG build (every TeX extension, glyphs drawn as paths, no fonts
    to fetch), from the ``django-static-mathjax`` package of the ``docs`` extra.

    The package is MathJax's release as static files; its ``__init__`` is empty, so importing it
    needs no Django.  A missing package is an error that says how to install it: the site never
    falls back to a copy on the network.
    """
    import importlib.util

    spec = importlib.util.find_spec("mathjax")
    path = (
        Path(spec.origin).parent / "static" / "mathjax" / "es5" / "tex-svg-full.js"
        if spec is not None and spec.origin
        else None
    )
    if path is None or not path.is_file():
        raise RuntimeError(
            "the docs site's math needs a local MathJax: pip install -e '.[docs]' "
            "(package django-static-mathjax)"
        )
    return path


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces → hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


#: README anchor → the site page that holds that section.
_README_ANCHORS = {
    _slug(h): page for page, (_, headings) in README_PAGES.items() for h in headings if h
}

_LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^()\s]+)\)")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _site_map() -> dict[str, str]:
    """Repository path → site path for everything that is on the site."""
    site = {"README.md": "index.md", **COPIED_PAGES}
    for p in sorted((ROOT / "docs").rglob("*.md")):
        rel = p.relative_to(ROOT / "docs").as_posix()
        site[f"docs/{rel}"] = rel
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        page = f"notebooks/{nb.stem}.md"
        site[f"notebooks/{nb.name}"] = page
        site[f"notebooks/{nb.stem}.py"] = page
    site["notebooks/README.md"] = "learning-path.md"
    site["notebooks"] = "learning-path.md"
    site["paper_proofs"] = "proofs/index.md"
    for d in IMAGE_DIRS:
        for img in sorted((ROOT / d).glob("*.png")):
            rel = img.relative_to(ROOT).as_posix()
            site[rel] = rel
    return site


def rewrite_links(text: str, source: str, page: str, site: dict[str, str]) -> str:
    """Point the relative links of ``text`` (written in repo file ``source``) at the site.

    ``page`` is the site path of the page the text lands on.  A link to a repository file with
    no page becomes that path in code font; a link to nothing is left as it is (mkdocs --strict
    reports it); absolute URLs and in-page anchors are kept.
    """
    base = posixpath.dirname(source)

    def one(m: re.Match[str]) -> str:
        bang, label, target = m.groups()
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            return m.group(0)
        path, _, frag = target.partition("#")
        repo = posixpath.normpath(posixpath.join(base, path)).rstrip("/")
        if repo == "README.md" and frag in _README_ANCHORS:  # a README section with its own page
            target, frag = _README_ANCHORS[frag], ""
        else:
            target = site.get(repo)
        if target is not None:
            new = posixpath.relpath(target, posixpath.dirname(page) or ".")
            return f"{bang}[{label}]({new}{'#' + frag if frag else ''})"
        if not (ROOT / repo).exists():  # a broken link: left for mkdocs --strict to report
            return m.group(0)
        code = f"`{repo}`"
        if bang or label.strip("`") in (path, repo, posixpath.basename(repo)):
            return code
        return f"{label} ({code})"

    out, fenced = [], False
    for line in text.splitlines(keepends=True):
        if _FENCE.match(line):
            fenced = not fenced
        out.append(line if fenced else _LINK.sub(one, line))
    return "".join(out)


def readme_sections(readme: str) -> dict[str, str]:
    """The README cut at its ``##`` headings: heading → body (``""`` → the text before the first).

    ``###`` sections stay inside their ``##`` section.
    """
    sections: dict[str, list[str]] = {"": []}
    key, fenced = "", False
    for line in readme.splitlines(keepends=True):
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            key = line[3:].strip()
            sections[key] = []
            continue
        sections[key].append(line)
    return {k: "".join(v) for k, v in sections.items()}


def readme_page(title: str, headings: list[str], readme: str) -> str:
    """One site page from README sections; a missing heading is an error naming it."""
    sections = readme_sections(readme)
    missing = [h for h in headings if h not in sections]
    if missing:
        raise ValueError(f"README.md has no section {missing[0]!r} (tools/docs_site.py)")
    parts = [f"# {title}\n"]
    for h in headings:
        body = sections[h]
        if h == "":  # the intro: drop the README's own title line
            body = re.sub(r"\A# .*\n", "", body)
        elif len(headings) > 1 or h != title:
            parts.append(f"\n## {h}\n")
        parts.append(body)
    return "".join(parts)


def figures_page() -> str:
    """The committed figures (``figures/*.png``, from ``prefgame figures``) with their captions.

    A figure is shown when its caption file ``figures/<name>.caption.md`` is there.
    """
    intro = (
        "Drawn by `prefgame figures --out figures` (and by `make run` into `results/figures/`); "
        "`verify_llm` by `prefgame verify-llm --out figures`. "
        "Each caption is the claim the figure makes, with the numbers computed when it was "
        "drawn (`figures/<name>.caption.md`).\n\n"
    )
    md = ["# Figures\n\n", intro]
    for cap in sorted((ROOT / "figures").glob("*.caption.md")):
        name = cap.name.removesuffix(".caption.md")
        caption = cap.read_text(encoding="utf-8").strip()
        md.append(f"## `{name}`\n\n![{name}](../figures/{name}.png)\n\n{caption}\n\n")
    return "".join(md)


def notebook_page(nb_path: Path) -> tuple[str, dict[str, bytes]]:
    """Markdown for an executed notebook and the image files its outputs need.

    Markdown cells are kept; code cells become ``python`` blocks; text outputs become ``text``
    blocks (long ones cut to their first and last 20 lines); PNG outputs become image files next to
    the page; HTML/JavaScript outputs (the explorer's widgets) are replaced by a note.  A cell
    tagged ``solution`` (an exercise's answer; collapsed in Jupyter too) is shown, with its
    outputs, in a collapsed block the reader opens.
    """
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    stem = nb_path.stem
    note = (
        f'!!! note "Rendered from `notebooks/{nb_path.name}` with its committed outputs"\n'
        f"    Run it yourself: `jupyter lab notebooks/{nb_path.name}` "
        f"(plain-text pair: `notebooks/{stem}.py`).\n\n"
    )
    md: list[str] = []
    images: dict[str, bytes] = {}
    for i, cell in enumerate(nb["cells"]):
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            if note and src.startswith("# "):  # the note goes under the notebook's title
                title, _, rest = src.partition("\n")
                src = f"{title}\n\n{note}{rest}"
                note = ""
            md.append(src + "\n\n")
            continue
        if cell["cell_type"] != "code" or not src.strip():
            continue
        start = len(md)
        md.append(f"```python\n{src}\n```\n\n")
        widget_noted = False
        for j, out in enumerate(cell.get("outputs", [])):
            if out["output_type"] == "stream":
                md.append(_text_block("".join(out["text"])))
            elif out["output_type"] == "error":
                md.append(_text_block(f"{out['ename']}: {out['evalue']}"))
            else:
                data = out.get("data", {})
                if "image/png" in data:
                    name = f"{stem}_files/cell{i}_{j}.png"
                    images[f"notebooks/{name}"] = base64.b64decode(data["image/png"])
                    md.append(f"![output of cell {i}]({name})\n\n")
                elif any(k.startswith(("text/html", "application/")) for k in data):
                    if not widget_noted:
                        md.append("*(an interactive widget: run the notebook to use it)*\n\n")
                        widget_noted = True
                elif "text/plain" in data:
                    md.append(_text_block("".join(data["text/plain"])))
        if "solution" in cell.get("metadata", {}).get("tags", []):  # an exercise's solution
            md[start:] = [_collapsed("Solution (predict first, then open)", "".join(md[start:]))]
    return note + "".join(md), images


def _collapsed(title: str, body: str) -> str:
    """``body`` (Markdown, code blocks included) in a block the reader opens with a click."""
    inner = "".join(f"    {line}" if line.strip() else line for line in body.splitlines(True))
    return f'??? success "{title}"\n\n{inner}\n'


def _text_block(text: str, keep: int = 20) -> str:
    lines = text.rstrip("\n").splitlines()
    if len(lines) > 2 * keep:
        lines = [*lines[:keep], f"… ({len(lines) - 2 * keep} lines left out) …", *lines[-keep:]]
    body = "\n".join(lines).replace("```", "` ` `")
    return f"```text\n{body}\n```\n\n" if body.strip() else ""


# --- the hooks ----------------------------------------------------------------------------------

_SOURCES: dict[str, str] = {}  # site path of each page → the repository file it came from
_SITE: dict[str, str] = {}  # repository path → site path, for this build


def on_config(config):
    """Put ``docs/theory.md`` first under "Theory" in the nav when the file is there.

    (It is written on another branch; until it is merged the site builds without it.)
    """
    if not (Path(config["docs_dir"]) / "theory.md").is_file():
        return config
    for item in config["nav"] or []:
        if isinstance(item, dict) and "Theory" in item:
            pages = item["Theory"]
            listed = any("theory.md" in (p.values() if isinstance(p, dict) else [p]) for p in pages)
            if not listed:
                pages.insert(0, {"The theory the code relies on": "theory.md"})
    return config


def on_files(files: Files, config) -> Files:
    """Add the README pages, the notebooks, the proofs and the figures to the site."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    site = _site_map()
    _SOURCES.clear()
    _SITE.clear()
    _SITE.update(site)
    for f in list(files):
        if f.src_uri.endswith(".md"):
            _SOURCES[f.src_uri] = f"docs/{f.src_uri}"

    def add(page: str, content: str | bytes, source: str) -> None:
        if files.get_file_from_path(page) is not None:
            raise ValueError(f"docs/{page} exists and would hide the page made from {source}")
        files.append(File.generated(config, page, content=content))
        if page.endswith(".md"):
            _SOURCES[page] = source

    for page, (title, headings) in README_PAGES.items():
        add(page, readme_page(title, headings, readme), "README.md")
    add("figures.md", figures_page(), "docs/figures.md")
    add(MATHJAX_SITE_PATH, mathjax_source().read_bytes(), "django-static-mathjax")
    for repo, page in COPIED_PAGES.items():
        add(page, (ROOT / repo).read_text(encoding="utf-8"), repo)
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        text, images = notebook_page(nb)
        add(f"notebooks/{nb.stem}.md", text, f"notebooks/{nb.name}")
        for path, data in images.items():
            add(path, data, f"notebooks/{nb.name}")
            _SITE[path] = path
    for repo, page in site.items():
        if page.endswith(".png") and repo == page:
            add(page, (ROOT / repo).read_bytes(), repo)
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Resolve every relative link against the repository file the page came from."""
    uri = page.file.src_uri
    return rewrite_links(markdown, _SOURCES.get(uri, f"docs/{uri}"), uri, _SITE)
