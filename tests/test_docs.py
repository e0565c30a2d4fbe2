"""The documentation site builds with ``mkdocs build --strict`` and holds what it promises.

``--strict`` turns every warning into a failure: a broken link, a README section that
``tools/docs_site.py`` cuts out but that no longer exists, a docstring that mkdocstrings cannot
parse.  The build reads the committed notebooks; it runs none of them.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[docs]')")
pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra is not installed")
yaml = pytest.importorskip("yaml")


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_site", ROOT / "tools" / "docs_site.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _text(page: Path) -> str:
    """A page's text without its tags (code is split into highlighted spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def _nav_pages(nav) -> list[str]:
    out: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        out.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return out


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)]
    return subprocess.run(
        cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    r = _build(ROOT / "mkdocs.yml", out)
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stderr[-4000:]}"
    return out


def test_nav_has_notation_notebooks_howto_and_api():
    nav = _nav_pages(yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)["nav"])
    assert "notation.md" in nav
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"notebooks/{nb.stem}.md" in nav, f"{nb.name} is not on the learning path"
    for page in ("index.md", "learning-path.md", "howto/your-own-idea.md", "howto/cli.md"):
        assert page in nav
    for page in ("algorithms.md", "summarisation.md", "api/equilibrium.md", "api/dynamics.md"):
        assert page in nav


@pytest.mark.slow  # the docs build (module fixture)
def test_site_pages(site: Path):
    notation = (site / "notation.html").read_text()
    assert "π*_τ" in _text(site / "notation.html")
    assert "https://arxiv.org/abs/2403.08635" in notation
    # the API page is generated from the docstrings: solve's and duality_gap's text is there
    api = (site / "api" / "equilibrium.html").read_text()
    assert "2τ KL(π ‖ BR(π))" in _text(site / "api" / "equilibrium.html")
    assert 'id="prefgame.equilibrium.solve"' in api
    # README sections cut into pages: the install line and the custom-loss protocol
    home = _text(site / "index.html")
    assert "pip install -e ." in home and "make docs" in home
    own_html = (site / "howto" / "your-own-idea.html").read_text()
    assert "register_method" in _text(site / "howto" / "your-own-idea.html")
    assert 'href="../notebooks/07_your_own_idea.html"' in own_html
    # docs/theory.md, where it exists, is on the site under Theory (tools/docs_site.py adds it)
    if (ROOT / "docs" / "theory.md").is_file():
        assert 'href="theory.html"' in (site / "index.html").read_text()
    # the figures page shows every committed figure with its caption
    figs = _text(site / "figures.html")
    for cap in (ROOT / "figures").glob("*.caption.md"):
        assert cap.read_text(encoding="utf-8").strip()[:60] in figs
    # a notebook page shows its committed figures, as files next to the page
    nb = (site / "notebooks" / "03_dynamics_tour.html").read_text()
    pngs = list((site / "notebooks" / "03_dynamics_tour_files").glob("*.png"))
    assert pngs and all(f"03_dynamics_tour_files/{p.name}" in nb for p in pngs)
    # the course notebooks' exercise solutions are on their pages, collapsed, with their outputs
    for stem in ("00_preference_games", "01_equivalence_proof", "02_intransitive_preferences"):
        page = (site / "notebooks" / f"{stem}.html").read_text()
        blocks = re.findall(r'<details class="success">(.*?)</details>', page, re.DOTALL)
        assert len(blocks) >= 2 and all(b.count("<pre") >= 2 for b in blocks), stem


@pytest.mark.slow  # a docs build
def test_strict_build_fails_on_a_broken_link(tmp_path: Path):
    """The check has teeth: one link to a page that does not exist fails the build."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "page.md").write_text("# x\n\nSee [the notation](notation_typo.md).\n")
    cfg = tmp_path / "mkdocs.yml"
    cfg.write_text(f"site_name: x\ndocs_dir: {docs}\nhooks: [{ROOT / 'tools' / 'docs_site.py'}]\n")
    r = _build(cfg, tmp_path / "site")
    assert r.returncode != 0 and "notation_typo.md" in r.stderr


def test_links_point_at_site_pages():
    hooks = _hooks()
    site = hooks._site_map()
    text = (
        "[n](../docs/notation.md) [nb](00_preference_games.ipynb) "
        "[own](../README.md#test-your-own-idea) [t](../tests/test_docs.py) "
        "[web](https://arxiv.org/abs/2403.08635) [gone](../docs/no_such_page.md)"
    )
    out = hooks.rewrite_links(text, "notebooks/01_equivalence_proof.ipynb", "notebooks/x.md", site)
    assert "[n](../notation.md)" in out
    assert "[nb](00_preference_games.md)" in out
    assert "[own](../howto/your-own-idea.md)" in out
    assert "t (`tests/test_docs.py`)" in out  # a repository file without a page: its path
    assert "[web](https://arxiv.org/abs/2403.08635)" in out
    assert "[gone](../docs/no_such_page.md)" in out  # left broken, for --strict to report
    # a link inside a code block is code, not a link
    fenced = "```\n[n](../docs/notation.md)\n```\n"
    assert hooks.rewrite_links(fenced, "notebooks/a.ipynb", "notebooks/a.md", site) == fenced


def test_readme_sections_used_by_the_site_exist():
    hooks = _hooks()
    sections = hooks.readme_sections((ROOT / "README.md").read_text(encoding="utf-8"))
    for _title, headings in hooks.README_PAGES.values():
        for h in headings:
            assert h in sections, f"README.md lost its section {h!r}"
    with pytest.raises(ValueError, match="no section 'Nope'"):
        hooks.readme_page("t", ["Nope"], "# r\n\n## Yes\n")


def test_docstring_rst_is_read_as_markdown():
    spec = importlib.util.spec_from_file_location("griffe_rst", ROOT / "tools" / "griffe_rst.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    doc = (
        "Returns a :class:`~prefgame.dynamics.Trajectory`; see :mod:`prefgame.optim`.\n"
        "\n"
        "====  ======\n"
        "``a(x)``  first\n"
        "``b``     second\n"
        "====  ======\n"
        "\n"
        "Example::\n"
        "\n"
        "    >>> 1 + 1\n"
    )
    out = mod.rst_to_markdown(doc).splitlines()
    assert out[0] == "Returns a `Trajectory`; see `prefgame.optim`."
    assert out[2:6] == ["```text", "a(x)  first", "b     second", "```"]
    assert out[7] == "Example:" and out[9] == "    >>> 1 + 1"  # a literal block stays as it is
    # a doctest block is fenced (in Markdown `>>>` is a quote three deep), output lines included
    doctest = "Example:\n\n>>> x = 1\n>>> x\n1\n\nAfter.\n    >>> indented()\n    2\n"
    out = mod.rst_to_markdown(doctest).splitlines()
    assert out[2:7] == ["```pycon", ">>> x = 1", ">>> x", "1", "```"]
    assert out[8:] == ["After.", "", "    ```pycon", "    >>> indented()", "    2", "    ```"]


def test_every_public_module_is_in_the_api_reference():
    """A module added to the package without a ``::: prefgame.x`` directive would be missing from
    the site: every public module (no part with a leading underscore) is named by one."""
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "api").glob("*.md"))
    documented = set(re.findall(r"^::: ([\w.]+)", pages, flags=re.MULTILINE))
    missing = []
    for path in sorted((ROOT / "prefgame").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts):
            continue
        name = ".".join(parts)
        if name not in documented:
            missing.append(name)
    assert not missing, f"not in docs/api/*.md: {missing}"


# --- the site works offline and from disk (issue 24) ---------------------------------------------

_CDN = re.compile(r"(cdn\.jsdelivr|unpkg\.com|cdnjs|polyfill\.io|fonts\.googleapis|mathjax\.org)")
_REMOTE_ASSET = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"(?:https?:)?//[^\"]*\""
)


def _html_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "assets" not in p.parts)


def test_no_page_loads_anything_from_the_network(site: Path):
    """No CDN: every script, stylesheet and image of every page is a file of the site."""
    cfg = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    assert not [js for js in cfg.get("extra_javascript", []) if "//" in js]
    pages = _html_pages(site)
    assert len(pages) > 40
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not _CDN.search(text), (
            f"{page.relative_to(site)} names a CDN: {_CDN.search(text)[0]}"
        )
        remote = _REMOTE_ASSET.search(text)
        assert not remote, f"{page.relative_to(site)} loads {remote[0]}"


def test_math_is_typeset_by_a_local_mathjax(site: Path):
    """Each page with math loads the site's own MathJax, and the file is there (not a stub)."""
    hooks = _hooks()
    local = site / hooks.MATHJAX_SITE_PATH
    assert local.is_file() and local.stat().st_size > 1_000_000
    assert b"MathJax" in local.read_bytes()[:200_000]
    with_math = 0
    for page in _html_pages(site):
        text = page.read_text(encoding="utf-8")
        if 'class="arithmatex"' not in text:
            continue
        with_math += 1
        srcs = re.findall(r'<script src="([^"]*tex-svg-full\.js)"', text)
        assert srcs, f"{page.relative_to(site)} has math but no MathJax"
        assert (page.parent / srcs[0]).resolve() == local.resolve()
        assert text.index('javascripts/mathjax.js"') < text.index(srcs[0])  # config first
    assert with_math >= 9  # the proofs at least


def test_proof_pages_have_no_stray_dollar(site: Path):
    """Every ``$…$`` and ``$$…$$`` became math: no ``$`` is left in the text of a proof page
    outside math and code (a ``$$`` block right after a text line used to show its dollars)."""
    for page in sorted((site / "proofs").glob("*.html")) + [site / "algorithms.html"]:
        body = page.read_text(encoding="utf-8").split("<article", 1)[-1].split("</article>")[0]
        body = re.sub(r"<(pre|code)\b.*?</\1>", "", body, flags=re.DOTALL)
        body = re.sub(r'<(span|div) class="arithmatex">.*?</\1>', "", body, flags=re.DOTALL)
        text = html.unescape(re.sub(r"<[^>]+>", "", body))
        i = text.find("$")
        assert i < 0, f"{page.relative_to(site)}: stray $ in {text[max(0, i - 60) : i + 40]!r}"


def test_docstring_examples_are_code_on_the_api_pages(site: Path):
    """Every ``>>>`` line of the API pages is inside a code block, not a nested quote."""
    for name in ("games", "equilibrium", "losses", "dynamics"):
        text = (site / "api" / f"{name}.html").read_text(encoding="utf-8")
        code = "\n".join(
            html.unescape(re.sub(r"<[^>]+>", "", b))
            for b in re.findall(r"<pre.*?</pre>", text, re.DOTALL)
        )
        in_code = sum(line.lstrip().startswith(">>>") for line in code.splitlines())
        in_page = _text(site / "api" / f"{name}.html").count(">>>")
        assert in_code >= 3 and in_code == in_page, (name, in_code, in_page)
        assert "<blockquote" not in text, name
    # the example's output sits in the same block as its input
    games = _text(site / "api" / "games.html")
    assert re.search(r">>> rps\.actions\s+\('rock', 'paper', 'scissors'\)", games)


def test_links_work_from_disk(site: Path):
    """Opened as ``file://…/site/index.html``, every link of the nav is a file (not a folder
    that a browser would list)."""
    home = (site / "index.html").read_text(encoding="utf-8")
    hrefs = {h for h in re.findall(r'href="([^"#]+)', home) if not re.match(r"^[a-z]+:", h)}
    pages = [h for h in hrefs if not h.startswith("assets/")]
    assert len(pages) > 40
    for h in pages:
        target = site / h
        assert target.is_file(), f"index.html links to {h}, which is not a file of the site"
