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


def test_phone_width_numbered_equations_of_core_2_are_shown_whole(page, server):
    """At 390 px a display equation wider than the column is set smaller to fit (katex-init.js):
    every numbered equation of Core 2's Theory is whole on screen, none scrolls, none is set
    below the script's limit, and the numbers keep the text's size."""
    page.set_viewport_size(PHONE)
    page.goto(f"{server}/core/2-reverse-diffusion/", wait_until="networkidle")
    page.evaluate("() => document.fonts.ready.then(() => true)")
    page.wait_for_timeout(300)
    found = page.evaluate(
        """() => [...document.querySelectorAll(".katex-display > .katex")]
        .filter((m) => m.querySelector(".katex-tag"))
        .map((m) => ({
          tag: m.querySelector(".katex-tag").textContent,
          over: m.scrollWidth - m.clientWidth,
          scale: parseFloat(getComputedStyle(m).fontSize)
            / parseFloat(getComputedStyle(m.parentElement).fontSize),
          tagSize: parseFloat(getComputedStyle(m.querySelector(".katex-tag")).fontSize),
          size: 1.21 * parseFloat(getComputedStyle(m.parentElement).fontSize),
        }))"""
    )
    tags = [equation["tag"] for equation in found]
    assert [f"(C2.{i})" for i in range(1, 9)] == tags, tags
    for equation in found:
        assert equation["over"] <= 3, equation  # a few px of layout that does not scale
        assert equation["scale"] >= 1.21 * 0.72 * 0.99, equation  # KaTeX: 1.21em
        assert abs(equation["tagSize"] - equation["size"]) < 0.5, equation


# ----------------------------------------------------------------------------- interactive figures

# A fingerprint of each canvas of a figure, and the share of its pixels that are drawn on.
CANVASES = """(root) => [...root.querySelectorAll("canvas")].map((canvas) => {
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let hash = 0, drawn = 0;
  for (let i = 0; i < pixels.length; i++) hash = (hash * 31 + pixels[i]) >>> 0;
  for (let i = 3; i < pixels.length; i += 4) drawn += pixels[i] > 0;
  return { hash, drawn: drawn / (pixels.length / 4) };
})"""


def _watch_console(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def _open_figure(page, url: str):
    page.goto(url, wait_until="networkidle")
    page.wait_for_selector(".dp-figure[data-ready=yes]", timeout=15_000)
    figure = page.locator(".dp-figure")
    assert figure.count() == 1
    figure.scroll_into_view_if_needed()
    return figure


def _screenshot(figure, name: str, tmp_path: Path) -> None:
    shot = Path(os.environ.get("SCREENSHOT_DIR", tmp_path)) / name
    shot.parent.mkdir(parents=True, exist_ok=True)
    figure.screenshot(path=str(shot))
    assert shot.stat().st_size > 5_000


def test_core_1_slider_changes_the_picture(page, server, tmp_path):
    errors = _watch_console(page)
    figure = _open_figure(page, f"{server}/core/1-forward-diffusion/")
    label = figure.locator(".dp-figure__label")
    slider = figure.get_by_role("slider", name="step t")
    assert label.inner_text() == "t = 0 (the data)"
    assert figure.locator(".dp-figure__panel-label").all_inner_texts() == ["ᾱ = 1.00"] * 4
    before = figure.evaluate(CANVASES)
    assert len(before) == 4 and all(c["drawn"] > 0.01 for c in before), before
    _screenshot(figure, "core-1-interactive-t0.png", tmp_path)
    slider.focus()
    for _ in range(10):  # the arrow keys move one frame, 25 steps each
        page.keyboard.press("ArrowRight")
    assert label.inner_text() == "t = 250"
    assert slider.get_attribute("aria-valuetext") == "t = 250"
    assert figure.locator(".dp-figure__panel-label").all_inner_texts()[:2] == [
        "ᾱ = 0.52",
        "ᾱ = 0.85",
    ]
    after = figure.evaluate(CANVASES)
    changed = [a["hash"] != b["hash"] for a, b in zip(after, before, strict=True)]
    assert all(changed), f"the panels did not change when the slider moved: {changed}"
    _screenshot(figure, "core-1-interactive-t250.png", tmp_path)
    page.keyboard.press("End")
    assert label.inner_text() == "t = 1000"
    page.keyboard.press("Home")
    assert [c["hash"] for c in figure.evaluate(CANVASES)] == [c["hash"] for c in before]
    assert any(url.endswith("/data/core-1/forward.json") for url in page.requests)
    assert not errors, errors
    assert not _off_machine(page.requests, server), _off_machine(page.requests, server)


def test_core_2_animation_plays(page, server, tmp_path):
    errors = _watch_console(page)
    figure = _open_figure(page, f"{server}/core/2-reverse-diffusion/")
    label = figure.locator(".dp-figure__label")
    button = figure.get_by_role("button", name="Play")
    assert label.inner_text() == "t = 100 (pure noise)"
    before = figure.evaluate(CANVASES)
    assert len(before) == 1 and before[0]["drawn"] > 0.2, before
    button.click()
    page.wait_for_function(
        "() => Number(document.querySelector('.dp-figure').dataset.frame) >= 20", timeout=15_000
    )
    assert figure.locator(".dp-figure__play").inner_text() == "Pause"
    assert figure.evaluate(CANVASES)[0]["hash"] != before[0]["hash"], (
        "the animation drew nothing new"
    )
    # it runs to the samples and stops there
    page.wait_for_function(
        "() => document.querySelector('.dp-figure').dataset.frame === '100'", timeout=30_000
    )
    assert label.inner_text() == "t = 0 (the samples)"
    assert figure.locator(".dp-figure__play").inner_text() == "Play"
    _screenshot(figure, "core-2-interactive-end.png", tmp_path)
    # the dark scheme redraws it in its own colours
    end = figure.evaluate(CANVASES)
    page.evaluate("() => document.body.setAttribute('data-md-color-scheme', 'slate')")
    page.wait_for_function(
        f"(root) => ({CANVASES})(root)[0].hash !== {end[0]['hash']}",
        arg=figure.element_handle(),
        timeout=5_000,
    )
    _screenshot(figure, "core-2-interactive-end-dark.png", tmp_path)
    assert not errors, errors
    assert not _off_machine(page.requests, server), _off_machine(page.requests, server)


def test_core_6_ddpm_and_ddim_step_side_by_side(page, server, tmp_path):
    """Two panels from the same noise: a frame is 20 DDPM steps and one DDIM step, each panel
    counting its own network calls; the slider moves both, Play runs them to the samples."""
    errors = _watch_console(page)
    figure = _open_figure(page, f"{server}/core/6-ddim/")
    label = figure.locator(".dp-figure__label")
    calls = figure.locator(".dp-figure__panel-label")
    slider = figure.get_by_role("slider", name="step")
    assert label.inner_text() == "t = 1000 (pure noise)"
    assert calls.all_inner_texts() == ["0 model calls", "0 model calls"]
    before = figure.evaluate(CANVASES)
    assert len(before) == 2 and all(c["drawn"] > 0.2 for c in before), before
    _screenshot(figure, "core-6-interactive-t1000.png", tmp_path)
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    assert label.inner_text() == "t = 800"
    assert slider.get_attribute("aria-valuetext") == "t = 800"
    assert calls.all_inner_texts() == ["200 model calls", "10 model calls"]
    after = figure.evaluate(CANVASES)
    changed = [a["hash"] != b["hash"] for a, b in zip(after, before, strict=True)]
    assert all(changed), f"the panels did not change when the slider moved: {changed}"
    # Play runs on from here to the samples and stops there
    figure.get_by_role("button", name="Play").click()
    page.wait_for_function(
        "() => document.querySelector('.dp-figure').dataset.frame === '50'", timeout=30_000
    )
    assert label.inner_text() == "t = 0 (the samples)"
    assert calls.all_inner_texts() == ["1000 model calls", "50 model calls"]
    assert figure.locator(".dp-figure__play").inner_text() == "Play"
    _screenshot(figure, "core-6-interactive-end.png", tmp_path)
    slider.focus()
    page.keyboard.press("Home")
    assert [c["hash"] for c in figure.evaluate(CANVASES)] == [c["hash"] for c in before]
    assert any(url.endswith("/data/core-6/ddpm-vs-ddim.json") for url in page.requests)
    assert not errors, errors
    assert not _off_machine(page.requests, server), _off_machine(page.requests, server)


def test_interactive_figures_fit_a_phone(page, server, tmp_path):
    page.set_viewport_size(PHONE)
    for path, name in [
        ("core/1-forward-diffusion/", "core-1"),
        ("core/2-reverse-diffusion/", "core-2"),
        ("core/6-ddim/", "core-6"),
    ]:
        figure = _open_figure(page, f"{server}/{path}")
        found = page.evaluate(
            """(root) => ({
              page: document.documentElement.scrollWidth,
              viewport: document.documentElement.clientWidth,
              box: root.getBoundingClientRect().toJSON(),
              canvases: [...root.querySelectorAll("canvas")].map((c) => c.clientWidth),
              controls: [...root.querySelectorAll("button, input, output, label")].map(
                (e) => e.getBoundingClientRect().right),
            })""",
            figure.element_handle(),
        )
        assert found["page"] <= found["viewport"], f"{path}: the page scrolls sideways"
        assert found["box"]["left"] >= 0 and found["box"]["right"] <= found["viewport"], found
        assert max(found["controls"]) <= found["viewport"], found
        assert min(found["canvases"]) >= 150, f"{path}: panels too small to read: {found}"
        _screenshot(figure, f"{name}-interactive-phone.png", tmp_path)
    assert not _off_machine(page.requests, server), _off_machine(page.requests, server)
