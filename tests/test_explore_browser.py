"""``prefgame explore`` in a real headless Chromium (Selenium with Debian's chromium-driver).

Starts ``prefgame explore --no-browser --port P`` as a user would, loads http://127.0.0.1:P/,
moves the τ slider with the keyboard, and checks that the plots change (new data in the page's
Bokeh document and new pixels on its canvases) and that the browser console shows no error;
then τ = 0 and a non-square upload must show the library's messages in the page, never a
traceback.  Skips, saying why, only where no browser or driver is installed (``make test``
installs ``chromium`` and ``chromium-driver`` where it can).

``python tests/test_explore_browser.py`` refreshes the README's screenshot
(``figures/explore.png``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

# slow tier: drives a headless browser (make test-fast leaves it out)
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
DRIVER = shutil.which("chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
]
TIMEOUT = 120.0  # seconds for one redraw (a loaded 2-core machine)
LOAD_TIMEOUT = 300.0  # seconds for the first page (the server computes the session's first view)
SERVER_TIMEOUT = 300.0  # seconds for `prefgame explore` to import Panel and listen, under load

#: Every element matching a CSS selector, through the shadow roots Bokeh/Panel render into.
DEEP = """
const sel = arguments[0], start = arguments[1] || document;
function find(root) {
  let out = [...root.querySelectorAll(sel)];
  for (const el of root.querySelectorAll('*'))
    if (el.shadowRoot) out = out.concat(find(el.shadowRoot));
  return out;
}
return find(start.shadowRoot || start);
"""
#: All text on the page, shadow roots included.
TEXT = """
function txt(root) {
  let s = '';
  for (const el of root.querySelectorAll('*')) if (el.shadowRoot) s += ' ' + txt(el.shadowRoot);
  return s + ' ' + (root.textContent || '');
}
return txt(document);
"""
#: A named data source's column, as BokehJS holds it.
DATA = """
const m = Bokeh.documents[0].get_model_by_name(arguments[0]);
return m ? Array.from(m.data.get ? m.data.get(arguments[1]) : m.data[arguments[1]]) : null;
"""
#: The pixels of every canvas (Bokeh draws each plot on canvases).
PIXELS = "return arguments[0].map(c => c.toDataURL());"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve():
    """``prefgame explore --no-browser --port P`` in a subprocess; yields its URL.

    Its output goes to a file (a pipe nobody reads could fill up and block the server)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory(prefix="prefgame-explore-") as tmp:
        log_path = Path(tmp) / "server.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prefgame.cli",
                    "explore",
                    "--no-browser",
                    "--port",
                    str(port),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            # Listening is enough: a GET of "/" would open (and compute) a whole session.
            deadline = time.monotonic() + SERVER_TIMEOUT
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=5).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(
                            f"the server did not come up: {log_path.read_text()}"
                        ) from None
                    time.sleep(0.2)
            assert log_path.read_text().startswith(f"prefgame explore: serving at {url}"), (
                log_path.read_text()
            )
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def server():
    pytest.importorskip("panel", reason="the 'explore' extra (Panel) is not installed")
    yield from _serve()


def _browser(width: int = 1400, height: int = 1000):
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (dev extra)"
    )
    from selenium.webdriver.chrome.service import Service

    if CHROMIUM is None or DRIVER is None:
        pytest.skip(
            "no headless Chromium here: install Debian's `chromium` and `chromium-driver` "
            "(`make browser`, as root) to run the explorer's browser test"
        )
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--window-size={width},{height}")
    opts.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='prefgame-chromium-')}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    opts.page_load_strategy = "none"  # driver.get returns at once; _load waits for the page itself
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


@pytest.fixture
def browser():
    driver = _browser()
    yield driver
    driver.quit()


def _wait(what, timeout: float = TIMEOUT, every: float = 0.1):
    """Poll ``what()`` until it is truthy; a script error while the page is still loading
    (no document or no ``Bokeh`` yet) counts as not yet."""
    from selenium.common.exceptions import JavascriptException, WebDriverException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = what()
        except (JavascriptException, WebDriverException):
            value = None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what.__doc__ or what}")


def _text(driver) -> str:
    return driver.execute_script(TEXT)


def _load(driver, url: str) -> None:
    driver.get(url)
    _wait(lambda: "recomputed in" in _text(driver), LOAD_TIMEOUT, every=0.5)
    _wait(lambda: driver.execute_script(DATA, "gap:nash_md", "y"))


def _slider_handle(driver, css_class: str):
    host = driver.execute_script(DEEP, f".{css_class}")[0]
    return driver.execute_script(DEEP, ".noUi-handle", host)[0]


def _pixels(driver) -> list[str]:
    canvases = driver.execute_script(DEEP, "canvas")
    return driver.execute_script(PIXELS, canvases)


def _errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_slider_moves_redraw_the_plots_without_console_errors(server, browser):
    from selenium.webdriver.common.keys import Keys

    _load(browser, server)
    assert "τ = 0.1" in _text(browser) and "Traceback" not in _text(browser)
    gap0 = browser.execute_script(DATA, "gap:nash_md", "y")
    star0 = browser.execute_script(DATA, "star", "x")
    pixels0 = _pixels(browser)
    assert len(gap0) == 2001  # π_0 … π_2000

    handle = _slider_handle(browser, "pg-tau")
    handle.click()
    t0 = time.perf_counter()
    handle.send_keys(Keys.ARROW_RIGHT)  # τ: 0.1 → 0.2
    _wait(lambda: "τ = 0.2" in _text(browser))
    print(f"\nτ 0.1 → 0.2: page redrawn {time.perf_counter() - t0:.2f} s after the key press")
    gap1 = browser.execute_script(DATA, "gap:nash_md", "y")
    star1 = browser.execute_script(DATA, "star", "x")
    assert len(gap1) == 2001 and gap1 != gap0
    assert star1 != star0
    _wait(lambda: _pixels(browser) != pixels0)
    assert _errors(browser) == []

    # More than three actions: the simplex gives way to π_t(y) against t, one plot per learner.
    from selenium.webdriver.support.ui import Select

    host = browser.execute_script(DEEP, ".pg-game")[0]
    Select(browser.execute_script(DEEP, "select", host)[0]).select_by_visible_text("cyclic")
    _wait(lambda: "cyclic5" in _text(browser))
    ys = _wait(lambda: browser.execute_script(DATA, "policy:nash_md", "ys"))
    assert len(ys) == 5  # one line per action
    assert _errors(browser) == []


def test_bad_input_shows_the_librarys_message_not_a_traceback(server, browser, tmp_path):
    from selenium.webdriver.common.keys import Keys

    _load(browser, server)
    _slider_handle(browser, "pg-tau").send_keys(Keys.HOME)  # τ = 0
    _wait(lambda: "Nash-MD: tau = 0.0, must be a finite number > 0" in _text(browser))
    assert "online IPO: tau = 0.0, must be a finite number > 0" in _text(browser)

    bad = tmp_path / "bad.csv"
    bad.write_text("0.5,0.2,0.3\n0.8,0.5,0.1\n")
    upload = browser.execute_script(DEEP, "input[type=file]")[0]
    upload.send_keys(str(bad))
    _wait(lambda: "bad.csv: P must be square, got shape (2, 3)" in _text(browser))
    text = _text(browser)
    assert "Traceback" not in text and 'File "' not in text
    assert _errors(browser) == []


def test_the_guided_tour_steps_through_in_the_browser(server, browser):
    """The tour's button sets the controls and shows each step's text (issue 24)."""
    _load(browser, server)

    def click_next():  # found anew each time: relabelling re-renders the button
        host = browser.execute_script(DEEP, ".pg-tour-next")[0]
        browser.execute_script(DEEP, "button", host)[0].click()

    click_next()  # start the tour: step 1, τ = 5
    _wait(lambda: "Tour 1 · τ large" in _text(browser) and "τ = 5" in _text(browser))
    pixels = _pixels(browser)
    click_next()  # step 2, τ = 0.05
    _wait(lambda: "Tour 2 · τ small" in _text(browser) and "τ = 0.05" in _text(browser))
    _wait(lambda: _pixels(browser) != pixels)  # the plots were redrawn
    click_next()  # step 3: IPO-MD, β = 0.5
    _wait(lambda: "Tour 3 · add β" in _text(browser))
    assert "Traceback" not in _text(browser)
    assert _errors(browser) == []


def screenshot(path: Path = ROOT / "figures" / "explore.png") -> Path:
    """Serve the explorer (started from a corner, four learners), load it in headless Chromium
    and save a screenshot for the README."""
    import panel as pn

    from prefgame.explore import explorer

    port = _free_port()
    server = pn.serve(
        lambda: explorer(
            "near_cyclic",
            tau=0.1,
            beta=0.5,
            start="custom",
            start_custom="0.1, 0.1, 0.8",
            learners=("nash_md", "online_ipo", "ipo_md", "online_dpo"),
        ),
        port=port,
        address="127.0.0.1",
        show=False,
        threaded=True,
        verbose=False,
    )
    driver = _browser(1320, 1000)
    try:
        _wait(lambda: server.is_alive())
        time.sleep(1.0)
        _load(driver, f"http://127.0.0.1:{port}/")
        time.sleep(1.0)
        driver.save_screenshot(str(path))
    finally:
        driver.quit()
        server.stop()
    return path


if __name__ == "__main__":
    print(screenshot())
