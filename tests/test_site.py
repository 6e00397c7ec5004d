"""The documentation site: `mkdocs build --strict`, then every page opened in headless Chromium
(Debian's chromium and chromium-driver, driven by Selenium): MathJax rendered every formula (no
raw TeX delimiters left, no MathJax error), every graph is loaded and visible. Screenshots of
every page go to $BPTT_SCREENSHOTS (default build/screenshots)."""
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MATHJAX = Path(os.environ.get("BPTT_MATHJAX", ROOT / ".cache/npm/node_modules/mathjax/es5"))
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1600,1000"]


def _missing() -> str | None:
    for module in ("mkdocs", "material", "mkdocstrings", "graphviz"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed: pip install -e '.[docs]'"
    if not (MATHJAX / "tex-chtml.js").exists():
        return "MathJax is not installed: npm install --prefix .cache/npm mathjax@3.2.2"
    if shutil.which("dot") is None:
        return "Graphviz's dot is not installed: apt-get install graphviz"
    return None


needs_site = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d",
                          str(out)], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stderr
    print(f"mkdocs build --strict: {time.perf_counter() - start:.1f} s")
    return out


@needs_site
def test_site_has_a_page_per_cell_and_the_state_page(site):
    from derive import cell_names, get_cell
    for name in {get_cell(n).name for n in cell_names()}:
        page = (site / "cells" / name / "index.html").read_text()
        assert "Kernel API" in page and f"graphs/{name}-backward-vector.svg" in page
        assert (site / "graphs" / f"{name}-backward-vector.svg").read_text().count("<svg") == 1
    state = (site / "state" / "index.html").read_text()
    for graph in ("rnn-forward-vector", "rnn-backward-vector", "graves-lstm-forward-graves",
                  "graves-lstm-backward-graves"):
        assert f"graphs/{graph}.svg" in state
    assert "<!-- bptt" not in state          # every directive was expanded
    assert (site / "mathjax" / "tex-chtml.js").exists()


def pages(site: Path) -> list[str]:
    return sorted(str(p.parent.relative_to(site)).replace(".", "") for p in site.rglob("index.html")
                  if "search" not in p.parts)


@pytest.fixture(scope="module")
def server(site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    handler = functools.partial(Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("Chromium is not installed: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


# MathJax's own checks, run in the page after it has typeset everything.
CHECK = """
const done = arguments[arguments.length - 1];
const report = () => {
  const math = document.querySelectorAll('.arithmatex');
  const raw = [...math].filter(e => !e.querySelector('mjx-container'))
      .map(e => e.textContent.slice(0, 80));
  const errors = [...document.querySelectorAll('mjx-merror, [data-mjx-error]')]
      .map(e => e.getAttribute('data-mjx-error') || e.textContent);
  const prose = document.querySelector('article').cloneNode(true);
  prose.querySelectorAll('pre, code, .arithmatex').forEach(e => e.remove());
  const text = prose.textContent;
  const imgs = [...document.querySelectorAll('article img')].map(i => ({
      src: i.getAttribute('src'), loaded: i.complete && i.naturalWidth > 0,
      visible: i.getBoundingClientRect().width > 50 && i.getBoundingClientRect().height > 50}));
  done({formulas: math.length, raw: raw, errors: errors, imgs: imgs,
        dollars: text.includes('$$') || text.includes('\\\\[') || text.includes('\\\\(')});
};
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(report, e => done({failed: String(e)}));
} else { done({failed: 'MathJax did not load'}); }
"""


def screenshot(driver, path: Path) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1600, min(max(height, 800), 30000))
    driver.save_screenshot(str(path))
    driver.set_window_size(1600, 1000)


@needs_site
def test_every_page_renders_its_math_and_graphs(site, server, browser):
    shots = Path(os.environ.get("BPTT_SCREENSHOTS", ROOT / "build" / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    found = pages(site)
    assert {"", "state", "cells/rnn", "cells/graves-lstm", "tutorial", "reference"} <= set(found)
    total = 0
    for page in found:
        # MathJax typesets the closed details blocks (the worked examples) too: all is checked
        browser.get(f"{server}/{page}/" if page else f"{server}/")
        result = browser.execute_async_script(CHECK)
        assert "failed" not in result, f"{page}: {result}"
        assert not result["errors"], f"{page}: MathJax errors {result['errors'][:3]}"
        assert not result["raw"], f"{page}: formulas not typeset {result['raw'][:3]}"
        assert not result["dollars"], f"{page}: raw TeX delimiters in the text"
        for img in result["imgs"]:
            assert img["loaded"] and img["visible"], f"{page}: graph not shown {img}"
        if page in ("state", "cells/rnn", "cells/graves-lstm"):
            assert len(result["imgs"]) >= 2, f"{page}: graphs missing"
        total += result["formulas"]
        screenshot(browser, shots / f"{page.replace('/', '-') or 'index'}.png")
    assert total > 500


def test_directives_expand_in_place_and_unknown_ones_fail():
    pytest.importorskip("mkdocs", reason="pip install -e '.[docs]'")
    sys.path.insert(0, str(ROOT / "tools"))
    import site_hooks
    from mkdocs.exceptions import PluginError
    page = "!!! example\n\n    <!-- bptt explain rnn -->\n"
    out = site_hooks.expand(page, "x.md")
    assert "<!--" not in out and "\n    **$h^{t}$: the output and a state variable.**" in out
    with pytest.raises(PluginError, match="unknown bptt directive 'movie'"):
        site_hooks.expand("<!-- bptt movie rnn -->", "x.md")
    with pytest.raises(PluginError, match="unknown option"):
        site_hooks.expand("<!-- bptt graph rnn --colour -->", "x.md")


def test_the_compare_example_of_every_cell_page_holds(capsys):
    """Each cell page shows `bptt compare CELL --formula '...'` with one of the cell's own
    equations, chosen at build time: the command, run here as the page writes it, must say
    it holds; the choice reads the commands' results, so the first candidate that `compare`
    rejects is never shown."""
    pytest.importorskip("mkdocs", reason="pip install -e '.[docs]'")
    sys.path.insert(0, str(ROOT / "tools"))
    import shlex
    import site_hooks
    from bptt import main
    from derive import get_cell
    shown = 0
    for name in site_hooks.builtin_cells():
        page = site_hooks.checking(name)
        line = next((ln for ln in page.splitlines() if ln.startswith("bptt compare")), None)
        if line is None:
            assert site_hooks.compare_example(name) is None
            assert not any(site_hooks.compare_holds(name, f)
                           for f in site_hooks.compare_candidates(get_cell(name)))
            continue
        argv = shlex.split(line)[1:]
        assert argv[:4] == ["compare", name, "--notation", "vector"]
        capsys.readouterr()
        assert main(argv) == 0
        assert "1 of 1 hold" in capsys.readouterr().out
        shown += 1
    assert shown == len(site_hooks.builtin_cells())  # every page has its example
    # a formula that does not hold is never chosen
    right = site_hooks.compare_candidates(get_cell("rnn"))[0]
    assert "t+1" in right and site_hooks.compare_holds("rnn", right)
    wrong = right.replace("t+1", "t")       # step t's adjoint where step t+1's belongs
    assert not site_hooks.compare_holds("rnn", wrong)


def test_the_kernel_example_of_every_cell_page_runs(tmp_path, monkeypatch):
    """The code each cell page shows under "Kernel API", run against the module that
    `bptt codegen` writes: its gradients have the shapes of what they differentiate, and a
    loss cell's loss is the sum of the per-step losses it names."""
    pytest.importorskip("mkdocs", reason="pip install -e '.[docs]'")
    sys.path.insert(0, str(ROOT / "tools"))
    import numpy as np
    import site_hooks
    from bptt import main
    from derive import derive, get_cell
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in site_hooks.builtin_cells():
        cell = get_cell(name)
        module = f"{name.replace('-', '_')}_kernel"
        assert main(["codegen", name, "-o", str(tmp_path / f"{module}.py")]) == 0
        page = site_hooks.kernel_api(name)
        code = page[page.index("```python\n") + 10:page.rindex("```")]
        assert code == site_hooks.kernel_example(name)
        scope: dict = {}
        exec(compile(code, f"<{name} page>", "exec"), scope)
        params, dparams = scope["params"], scope["dparams"]
        assert {k: v.shape for k, v in dparams.items()} == {k: v.shape for k, v in params.items()}
        assert all(np.isfinite(v).all() for v in dparams.values())
        assert set(scope["dstate0"]) == set(cell.state)
        free = [x for x in cell.inputs if x not in cell.targets]
        for x in free:
            assert scope[f"d{x}"].shape == scope[x].shape
        if cell.loss:
            assert np.isfinite(scope["loss"]) and scope["loss"] > 0
            for z in cell.targets:   # drawn as the derivation assumes
                if f"UnitSum({z}[t]) = 1" in derive(cell).assumptions:
                    assert set(np.unique(scope[z])) == {0.0, 1.0}
                    np.testing.assert_array_equal(scope[z].sum(axis=-1), 1.0)
