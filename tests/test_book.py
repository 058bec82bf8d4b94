"""The built book (``make book``) as a reader sees it: every page in headless Chromium.

For each page of ``_toc.yml`` the test opens ``_build/html/<page>.html`` from a local HTTP
server on 127.0.0.1, saves a full-page screenshot to ``_build/screenshots/<page>.png``, and
checks that every image has loaded, that every internal link points to a file of the build, and
that the page asks nothing of the network (it must read offline). The results page must show
the paper's Tables 1 and 2, whose figures come from ``glandseg.results.PAPER_TABLES``. Every page
whose source has code cells must offer its notebook (.ipynb) from the download button of its
header (``_ext/notebook_download.py``): a valid, executed notebook of the build holding the
page's code cells.

Chromium is Debian's ``chromium`` package driven by Python playwright (no browser download).
Without a build or a browser the tests are skipped; ``make check-book`` sets
``GLANDSEG_REQUIRE_BOOK=1`` to turn those skips into failures.
"""

from __future__ import annotations

import functools
import http.server
import os
import posixpath
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from glandseg.results import PAPER_TABLES

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("GLANDSEG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# JavaScript errors that are not the book's: sphinx-thebe 0.3.1 under Sphinx 7.4 writes its inline
# config script twice into every page, and the second copy fails to redeclare a const. Thebe is
# off in _config.yml (its bundle is never loaded), so nothing on the page depends on it.
KNOWN_JS_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",)
# Pages Sphinx makes besides the book's own: checked for links only through the pages that use them.
NOT_PAGES = ("genindex.html", "search.html", "index.html")
NOT_PAGE_DIRS = ("_static", "_sources", "_images")


def _toc_pages() -> list[str]:
    """The documents of ``_toc.yml`` (root first), e.g. ``["book/intro", "book/data", ...]``."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or ():
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", ()):
        walk(part.get("chapters"))
    return [str(Path(p).with_suffix("")) for p in pages]


def _built_pages() -> list[str]:
    """Every HTML page of the build that is not a Sphinx utility page, as ``book/intro``."""
    if not HTML.is_dir():
        return []
    pages = []
    for path in sorted(HTML.rglob("*.html")):
        rel = path.relative_to(HTML)
        if rel.parts[0] in NOT_PAGE_DIRS or (len(rel.parts) == 1 and rel.name in NOT_PAGES):
            continue
        pages.append(rel.with_suffix("").as_posix())
    return pages


PAGES = sorted(set(_toc_pages()) | set(_built_pages()), key=lambda p: (p not in _toc_pages(), p))


def _unavailable(reason: str):
    if os.environ.get("GLANDSEG_REQUIRE_BOOK") == "1":
        pytest.fail(f"{reason} (GLANDSEG_REQUIRE_BOOK=1 makes this a failure)")
    pytest.skip(reason)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    """``_build/html`` served on a free port of 127.0.0.1; yields the base URL."""
    if not (HTML / "index.html").is_file():
        _unavailable(f"no built book: {HTML / 'index.html'} is missing (run `make book`)")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(server):
    if not Path(CHROMIUM).is_file():
        _unavailable(f"chromium not found at {CHROMIUM} (apt-get install chromium, or set GLANDSEG_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Python playwright is not installed (pip install -e '.[book]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture()
def open_page(browser, server):
    """Open a page of the book; returns (page, outside requests) once every image has settled."""
    contexts = []

    def _open(name: str):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        outside = []

        def route(route):
            host = urlsplit(route.request.url).hostname
            if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
                route.continue_()
            else:  # the network is closed for a reader offline: record and refuse
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", route)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda err: None if str(err) in KNOWN_JS_ERRORS else errors.append(str(err)))
        response = page.goto(f"{server}/{name}.html", wait_until="load")
        assert response is not None and response.ok, f"{name}.html: HTTP {response and response.status}"
        # Lazy images load only near the viewport: make every image eager and wait for it.
        page.evaluate(
            """() => Promise.all(Array.from(document.images).map(img => {
                   img.loading = 'eager';
                   if (img.complete) return Promise.resolve();
                   return new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); });
               }))"""
        )
        page.wait_for_load_state("networkidle")
        return page, outside, errors

    yield _open
    for context in contexts:
        context.close()


def _internal_target(page_name: str, href: str) -> Path | None:
    """The build file an internal ``href`` of ``page_name`` points to; None for external links."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or href.startswith(("mailto:", "javascript:", "tel:")):
        return None
    path = unquote(parts.path)
    if not path:  # "#fragment" or "?query": the page itself
        return None
    base = posixpath.dirname(page_name)
    target = posixpath.normpath(posixpath.join(base, path)) if not path.startswith("/") else path.lstrip("/")
    if target.startswith(".."):
        return HTML.parent / "outside-the-build" / target  # reported as missing, with its name
    full = HTML / target
    return full / "index.html" if path.endswith("/") or full.is_dir() else full


def _source_code_cells(name: str) -> tuple[Path, list[str]]:
    """The source of page ``name`` in the repository and the code of each of its code cells as
    jupytext reads them ([] if none). A ``.md`` page is read as MyST (only ``{code-cell}`` blocks
    are code cells); an ``.rst`` page has none."""
    import jupytext

    for suffix, fmt in ((".md", "md:myst"), (".ipynb", "ipynb"), (".rst", None)):
        source = ROOT / f"{name}{suffix}"
        if source.is_file():
            if fmt is None:
                return source, []
            notebook = jupytext.read(source, fmt=fmt)
            return source, [cell.source.strip() for cell in notebook.cells if cell.cell_type == "code"]
    pytest.fail(f"{name}: no source {name}.md, {name}.ipynb or {name}.rst in the repository")


def test_toc_pages_are_built():
    if not (HTML / "index.html").is_file():
        _unavailable(f"no built book: {HTML / 'index.html'} is missing (run `make book`)")
    missing = [f"{p}.html" for p in _toc_pages() if not (HTML / f"{p}.html").is_file()]
    assert not missing, f"pages of _toc.yml missing from {HTML}: {', '.join(missing)}"
    root = _toc_pages()[0]
    assert f"{root}.html" in (HTML / "index.html").read_text(), f"index.html: does not lead to the root page {root}.html"


@pytest.mark.parametrize("name", PAGES)
def test_page(name, open_page):
    if not (HTML / f"{name}.html").is_file():
        pytest.fail(f"{name}: {name}.html is not in the build (listed in _toc.yml)")
    page, outside, errors = open_page(name)

    shot = SHOTS / f"{name}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)

    broken = page.evaluate(
        "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.getAttribute('src'))"
    )
    assert not broken, f"{name}: images that did not load: {broken}"

    hrefs = page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))")
    dead = sorted(
        {href for href in hrefs if (t := _internal_target(name, href)) is not None and not t.is_file()}
    )
    assert not dead, f"{name}: internal links to files missing from the build: {dead}"

    assert not outside, f"{name}: requests to the network (the book must read offline): {outside}"
    assert not errors, f"{name}: JavaScript errors: {errors}"
    text = page.inner_text("main") if page.query_selector("main") else page.inner_text("body")
    assert text.strip(), f"{name}: the page has no text"
    assert "Traceback (most recent call last)" not in text, f"{name}: the page shows a Python traceback"


@pytest.mark.parametrize("name", PAGES)
def test_code_page_offers_its_notebook(name, open_page):
    if not (HTML / f"{name}.html").is_file():
        pytest.fail(f"{name}: {name}.html is not in the build (listed in _toc.yml)")
    source, code = _source_code_cells(name)
    import nbformat
    from playwright.sync_api import expect

    page, _, _ = open_page(name)
    entry = page.locator('.dropdown-download-buttons .dropdown-menu a[href$=".ipynb"]')
    if not code:  # no notebook to offer (an .ipynb source is offered as itself by the theme)
        assert source.suffix == ".ipynb" or entry.count() == 0, f"{name}: offers a notebook but has no code cells"
        return
    button = page.locator(".article-header-buttons .dropdown-download-buttons > button.dropdown-toggle")
    assert button.count() == 1, f"{name}: the page header has no download button (it has {len(code)} code cells)"
    button.click()
    assert entry.count() == 1, f"{name}: the download menu offers {entry.count()} .ipynb entries, not 1"
    expect(entry).to_be_visible()

    href = entry.get_attribute("href")
    target = _internal_target(name, href)
    assert target is not None and target.is_file(), f"{name}: the .ipynb entry links to {href!r}, not a file of the build"
    response = page.request.get(urljoin(page.url, href))
    assert response.ok, f"{name}: {href} answers HTTP {response.status}"
    assert response.body() == target.read_bytes(), f"{name}: {href} is not served as {target}"
    try:
        notebook = nbformat.reads(response.text(), as_version=4)
        nbformat.validate(notebook)
    except Exception as err:  # not JSON, or not a notebook: a failure, with the reason
        pytest.fail(f"{name}: {href} is not a valid notebook: {type(err).__name__}: {err}")
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.source.strip() for cell in cells] == code, (
        f"{name}: {href} holds {len(cells)} code cells that are not the {len(code)} of the page source"
    )
    if source.suffix != ".ipynb":  # an .ipynb page is offered as its source, run or not
        unrun = [i for i, cell in enumerate(cells) if cell.execution_count is None]
        assert not unrun, f"{name}: {href} is not the executed notebook (code cells {unrun} were not run)"


def test_results_page_shows_the_papers_tables(open_page):
    name = "book/results"
    if not (HTML / f"{name}.html").is_file():
        pytest.fail(f"{name}: {name}.html is not in the build")
    page, _, _ = open_page(name)
    text = page.inner_text("body")
    expected = {
        "Table 1": "Table 1",
        "Table 2": "Table 2",
        # (F1, object Dice, object Hausdorff) as printed in the paper
        "Test A, H + L3, F1": str(PAPER_TABLES["testA"]["H + L3"][0]),
        "Test B, H + L1, object Hausdorff": str(PAPER_TABLES["testB"]["H + L1"][2]),
        "Test A, CUMedVision2 (DCAN), F1": str(PAPER_TABLES["testA"]["CUMedVision2 (DCAN)"][0]),
        "Test B, H + unsharp + L3, object Hausdorff": str(PAPER_TABLES["testB"]["H + unsharp + L3"][2]),
    }
    missing = [f"{what} ({value!r})" for what, value in expected.items() if value not in text]
    assert not missing, f"{name}: the page text lacks {', '.join(missing)}"
