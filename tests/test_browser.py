"""The built site in headless Chromium, served on 127.0.0.1: math typeset, figures shown, search works,
display math readable at a phone's width, and no request leaves the machine.

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

from diffusion_path.tasks import TASKS

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


# A phone held upright (iPhone 12 to 15: 390 CSS px wide).
PHONE = {"width": 390, "height": 844}

# Measures, in the page, every display equation and what is drawn outside the screen's width.
# An equation's body is .katex-html without its number (.katex-tag; .tag in older KaTeX).
# "Drawn" means cut by every box that clips it: an ancestor with overflow other than visible,
# except one that an absolutely positioned box escapes (its containing block lies further out).
# Each scroll box is measured scrolled to its start and to its end.
PHONE_PROBE = """() => {
  document.querySelectorAll("details").forEach((d) => { d.open = true; });
  const viewport = document.documentElement.clientWidth;
  const styles = new Map();
  const style = (el) => {
    if (!styles.has(el)) {
      const { position, overflowX } = getComputedStyle(el);
      styles.set(el, { position, overflowX });
    }
    return styles.get(el);
  };
  const rect = (el) => {
    const r = el.getBoundingClientRect();
    return { left: r.left, right: r.right, top: r.top, bottom: r.bottom };
  };
  const inner = (el) => {
    const r = el.getBoundingClientRect();
    const left = r.left + el.clientLeft, top = r.top + el.clientTop;
    return { left, right: left + el.clientWidth, top, bottom: top + el.clientHeight };
  };
  const meet = (a, b) => ({
    left: Math.max(a.left, b.left), right: Math.min(a.right, b.right),
    top: Math.max(a.top, b.top), bottom: Math.min(a.bottom, b.bottom),
  });
  const area = (r) => Math.max(0, r.right - r.left) * Math.max(0, r.bottom - r.top);
  // What of an element is drawn: its box cut by the boxes that clip it. Memoised per layout.
  const clipping = () => {
    const everything = { left: -Infinity, right: Infinity, top: -Infinity, bottom: Infinity };
    const inside = new Map();
    const around = (el) => {
      const position = style(el).position;
      if (position === "fixed") return everything;
      let parent = el.parentElement;
      if (position === "absolute") {
        while (parent && parent !== document.body && style(parent).position === "static") {
          parent = parent.parentElement;
        }
      }
      return within(parent);
    };
    const within = (el) => {
      if (!el || el === document.body) return everything;
      if (!inside.has(el)) {
        const clip = around(el);
        inside.set(el, style(el).overflowX === "visible" ? clip : meet(clip, inner(el)));
      }
      return inside.get(el);
    };
    return (el) => meet(rect(el), around(el));
  };
  const equations = [];
  for (const display of document.querySelectorAll(".katex-display")) {
    const html = display.querySelector(":scope > .katex > .katex-html");
    if (!html) continue;
    const tag = html.querySelector(":scope > .katex-tag, :scope > .tag");
    const parts = [...html.children].filter((c) => c !== tag);
    const scrollers = [];
    for (let p = html; p && p !== document.body; p = p.parentElement) {
      if (p.scrollWidth > p.clientWidth + 1 && style(p).overflowX !== "visible") scrollers.push(p);
    }
    const problems = [];
    for (const end of [false, true]) {
      for (const s of scrollers) s.scrollLeft = end ? s.scrollWidth : 0;
      const where = end ? "scrolled to its end" : "at its start";
      if (!tag) continue;
      const drawn = clipping();
      const number = drawn(tag);
      if (area(number) < 0.9 * area(rect(tag)) || number.left < -0.5 || number.right > viewport + 0.5) {
        problems.push("number not fully on screen " + where);
      }
      if (parts.some((part) => area(meet(drawn(part), number)) > 0.5)) {
        problems.push("number on top of the equation " + where);
      }
    }
    for (const s of scrollers) s.scrollLeft = 0;
    const box = display.getBoundingClientRect();
    if (box.left < -0.5 || box.right > viewport + 0.5) problems.push("box wider than the screen");
    equations.push({
      number: tag ? tag.textContent : "",
      tex: (display.querySelector("annotation") || {}).textContent || "",
      problems,
    });
  }
  const spilled = [];
  const drawn = clipping();
  // Inside an equation, its runs (.katex-html's children) stand for everything they hold.
  for (const el of document.querySelectorAll("article *:not(.katex-html > * *)")) {
    const r = drawn(el);
    if (r.right - r.left > 0.5 && r.bottom - r.top > 0.5 && (r.left < -0.5 || r.right > viewport + 0.5)) {
      spilled.push(`${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`);
    }
  }
  return {
    equations,
    spilled: spilled.slice(0, 5),
    pageWidth: document.documentElement.scrollWidth,
    viewport,
  };
}"""


def test_phone_width_display_math_fits_and_numbers_stay_clear(page, server, built_site):
    """At 390 px, on every task page (placeholders too) and every notebook page, collapsed blocks
    opened: nothing is drawn past the screen's edge and the page never scrolls sideways; every
    display equation's box fits the screen; every equation number is wholly on screen and clear of
    its equation, with the equation's own box scrolled to its start and to its end."""
    paths = [task.page.removesuffix(".md") + "/" for task in TASKS]
    paths += sorted(
        f"notebooks/{index.parent.name}/"
        for index in (built_site / "notebooks").glob("*/index.html")
    )
    page.set_viewport_size(PHONE)
    failures, displays, numbered = [], 0, 0
    for path in paths:
        page.goto(f"{server}/{path}", wait_until="networkidle")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.arithmatex')].every(e => e.querySelector('.katex'))",
            timeout=15_000,
        )
        page.evaluate("() => document.fonts.ready.then(() => true)")
        found = page.evaluate(PHONE_PROBE)
        if found["pageWidth"] > found["viewport"]:
            failures.append(f"{path}: the page scrolls sideways ({found['pageWidth']} px wide)")
        if found["spilled"]:
            failures.append(f"{path}: drawn past the screen's edge: {found['spilled']}")
        for equation in found["equations"]:
            displays += 1
            numbered += bool(equation["number"])
            name = equation["number"] or equation["tex"].strip()[:40]
            failures += [f"{path} {name}: {problem}" for problem in equation["problems"]]
    print(f"phone width: {len(paths)} pages, {displays} display equations, {numbered} numbered")
    assert not failures, f"{len(failures)} problems at 390 px:\n" + "\n".join(failures)
    # Guard against a vacuous pass: the probe must have found the typeset equations.
    assert displays >= 50 and numbered >= 20, (displays, numbered)
    assert not _off_machine(page.requests, server), _off_machine(page.requests, server)
