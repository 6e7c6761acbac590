"""The built site in headless Chromium, served on 127.0.0.1: math typeset, figures shown, search works,
and no request leaves the machine.

Needs Chromium (Debian/Ubuntu: ``apt-get install chromium``); skipped with that advice when it is
missing. The project's CI script installs it, so CI always runs this test.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

pytestmark = [pytest.mark.site, pytest.mark.browser]

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def _chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


@pytest.fixture(scope="module")
def server(built_site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built_site))

    class Quiet(handler.func):  # type: ignore[misc, valid-type]
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(built_site))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = _chromium()
    if executable is None:
        pytest.skip(
            "Chromium not found: install it (Debian/Ubuntu: apt-get install chromium) or set "
            "CHROMIUM=/path/to/chrome to run the browser test; .ci/run installs it"
        )
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        yield context
        context.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page()
    page.requests = []
    page.on("request", lambda request: page.requests.append(request.url))
    yield page
    page.close()


def _off_machine(urls: list[str], origin: str) -> list[str]:
    return [u for u in urls if not u.startswith((origin + "/", "data:", "blob:", "about:"))]


def test_pre_1_page_typesets_math_and_shows_figures(page, server, tmp_path):
    page.goto(f"{server}/pre/1-gaussians/", wait_until="networkidle")
    page.wait_for_selector(".katex", timeout=15_000)
    assert page.locator(".katex-display").count() >= 7, "the numbered equations are not typeset"
    assert page.locator(".katex").count() >= 50
    untypeset = page.evaluate(
        "() => [...document.querySelectorAll('.arithmatex')].filter(e => !e.querySelector('.katex')).length"
    )
    assert untypeset == 0, f"{untypeset} math spans were left as raw TeX"
    images = page.evaluate(
        "() => [...document.querySelectorAll('article img')].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth])"
    )
    assert len(images) >= 7 and all(width for _, width in images), images
    shot = Path(os.environ.get("SCREENSHOT_DIR", tmp_path)) / "pre-1.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert not _off_machine(page.requests, server), _off_machine(page.requests, server)


def test_notebook_page_typesets_math(page, server):
    page.goto(f"{server}/notebooks/pre-1-gaussians/", wait_until="networkidle")
    page.wait_for_selector(".katex", timeout=15_000)
    assert page.locator(".jp-OutputArea-output img").count() >= 3, (
        "the notebook's figures are missing"
    )
    assert not _off_machine(page.requests, server), _off_machine(page.requests, server)


def test_search_finds_gaussian(page, server):
    page.goto(f"{server}/", wait_until="networkidle")
    page.locator("input.md-search__input").click(force=True)
    page.keyboard.type("Gaussian")  # Material listens to key events; fill() would not trigger them
    page.wait_for_selector(".md-search-result__item", timeout=15_000)
    results = page.locator(".md-search-result__item").all_inner_texts()
    assert any("Gaussian" in text for text in results), results
    assert not _off_machine(page.requests, server), _off_machine(page.requests, server)
