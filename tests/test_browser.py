"""The drawing page in a real browser: headless Chromium draws digits on the canvas of a running `digitlab serve`.

Needs /usr/bin/chromium and the `playwright` package (its own browser downloads are not used); skipped without them.
Screenshots go to $DIGITLAB_TEST_OUTPUT, or test-output/browser/ under the repository root.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path

import pytest

from digitlab.errors import DigitlabError
from digitlab.serve.launch import free_port, wait_healthy

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"browser tests need Chromium at {CHROMIUM}", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package")

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = Path(os.environ.get("DIGITLAB_TEST_OUTPUT") or ROOT / "test-output" / "browser")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-quic", "--no-first-run", "--disable-sync"]
READ_TIMEOUT_MS = 10_000  # a reading must appear within this (the machine may be busy)
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}

Stroke = list[tuple[float, float]]  # points in 0..1 of the canvas's width and height


# ---------------------------------------------------------------------------------------------- fixtures


@contextmanager
def serving(log_name: str, *extra: str) -> Iterator[str]:
    """`digitlab serve` on a free port as a subprocess; yields its base URL, stops it afterwards."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = OUTPUT / log_name
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "digitlab.cli", "serve", "--port", str(port), *extra],
                                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            try:
                wait_healthy(proc, port, timeout=90)
            except DigitlabError as e:
                pytest.fail(f"digitlab serve: {e}:\n{log_path.read_text()[-3000:]}")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serving("server.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


class Page:
    """One browser page on the drawing page, with helpers to draw in canvas-relative coordinates."""

    def __init__(self, page: sync_api.Page, touch: sync_api.CDPSession | None = None) -> None:
        self.page, self.touch = page, touch
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)

    def open(self, url: str) -> Page:
        self.page.goto(url)
        sync_api.expect(self.page.locator("#model")).to_contain_text("accuracy", timeout=READ_TIMEOUT_MS)
        return self

    def box(self) -> dict[str, float]:
        box = self.page.locator("#canvas").bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50, f"canvas too small to draw on: {box}"
        return box

    def stroke(self, points: Stroke, steps: int = 4) -> None:
        """One stroke through `points` (fractions of the canvas), with `steps` moves between each pair."""
        box = self.box()
        xy = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
        if self.touch is not None:
            self._touch_stroke(xy, steps)
            return
        mouse = self.page.mouse
        mouse.move(*xy[0])
        mouse.down()
        for x, y in xy[1:]:
            mouse.move(x, y, steps=steps)
        mouse.up()

    def _touch_stroke(self, xy: list[tuple[float, float]], steps: int) -> None:
        # Real touch events through the DevTools protocol: they go through touch-action and pointer capture.
        send = self.touch.send
        send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": xy[0][0], "y": xy[0][1]}]})
        for (x0, y0), (x1, y1) in pairwise(xy):
            for i in range(1, steps + 1):
                t = i / steps
                point = {"x": x0 + (x1 - x0) * t, "y": y0 + (y1 - y0) * t}
                send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
        send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

    def draw(self, strokes: list[Stroke]) -> None:
        for s in strokes:
            self.stroke(s)

    def wait_idle(self) -> None:
        """Until the shown reading is the one for the strokes on the canvas now."""
        self.page.wait_for_function("document.body.dataset.state === 'idle'", timeout=READ_TIMEOUT_MS)

    def expect_digits(self, text: str) -> None:
        self.wait_idle()
        sync_api.expect(self.page.locator("#digits")).to_have_text(text, timeout=READ_TIMEOUT_MS)

    def pixels(self) -> str:
        return self.page.locator("#canvas").evaluate("c => c.toDataURL()")

    def screenshot(self, name: str) -> Path:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / name
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def no_horizontal_scroll(self) -> None:
        widths = self.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"page scrolls sideways: content {widths[0]} px in a {widths[1]} px window"

    def assert_no_errors(self) -> None:
        assert not self.errors, "\n".join(self.errors)


@pytest.fixture
def laptop(browser: sync_api.Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(viewport=LAPTOP, device_scale_factor=1)
    page = Page(context.new_page()).open(server)
    yield page
    page.assert_no_errors()
    context.close()


# ---------------------------------------------------------------------------------------------- digits as drawn


def _ellipse(cx: float, cy: float, rx: float, ry: float, n: int = 40, start: float = -100.0) -> Stroke:
    """A closed loop drawn counter-clockwise from the top, ending a little past the start as a hand does."""
    out = []
    for i in range(n + 3):
        a = math.radians(start - i * 360 / n)
        out.append((cx + rx * math.cos(a), cy + ry * math.sin(a)))
    return out


def _arc(cx: float, cy: float, rx: float, ry: float, start: int, stop: int, step: int = 15) -> Stroke:
    """Points on an elliptic arc, clockwise on screen from `start` to `stop` degrees (0 = right, 90 = down)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in range(start, stop + 1, step)]


def _place(strokes: list[Stroke], left: float, top: float, width: float, height: float) -> list[Stroke]:
    """Strokes drawn in a unit box, moved into a box of the canvas (fractions of its width and height)."""
    return [[(left + x * width, top + y * height) for x, y in s] for s in strokes]


# Each digit in a unit box, as a person writes it; placed in the middle ~60% of the canvas below.
SEVEN = [[(0.05, 0.0), (0.35, 0.0), (0.65, 0.0), (0.95, 0.02), (0.8, 0.25), (0.62, 0.52), (0.48, 0.76), (0.38, 1.0)]]
ZERO = [_ellipse(0.5, 0.5, 0.42, 0.5)]
ONE = [[(0.55, 0.0), (0.53, 0.35), (0.51, 0.7), (0.5, 1.0)]]
FOUR = [[(0.62, 0.0), (0.4, 0.3), (0.15, 0.62), (0.5, 0.62), (0.95, 0.62)],   # down-left, then across
        [(0.68, 0.05), (0.68, 0.5), (0.68, 1.0)]]                              # then the stem
TWO = [_arc(0.52, 0.3, 0.4, 0.3, 195, 375)                                  # the hook over the top
       + [(0.55, 0.68), (0.3, 0.85), (0.1, 1.0), (0.5, 1.0), (0.9, 1.0)]]      # down-left, then the base
THREE = [_arc(0.48, 0.25, 0.34, 0.25, 200, 470) + _arc(0.5, 0.74, 0.38, 0.26, 250, 520)]  # two bowls, one stroke


def in_square(strokes: list[Stroke]) -> list[Stroke]:
    """A digit in the middle of the square canvas: 60% of its height, about 45% of its width."""
    return _place(strokes, 0.28, 0.2, 0.44, 0.6)


# ---------------------------------------------------------------------------------------------- tests


def test_draws_seven_then_zero(laptop: Page) -> None:
    page = laptop.page
    sync_api.expect(page.locator("#bars .bar")).to_have_count(10)
    assert page.locator("#digits").text_content() == ""
    laptop.draw(in_square(SEVEN))
    laptop.expect_digits("7")
    win = page.locator("#bars .bar.win")
    sync_api.expect(win).to_have_count(1)
    sync_api.expect(win.locator(".bar-label")).to_have_text("7")
    sync_api.expect(page.locator("#status")).not_to_have_class("status error")
    sync_api.expect(page.locator("#verdict")).to_be_hidden()  # a clear 7 is accepted at the page's 90%
    laptop.screenshot("laptop-7.png")

    page.locator("#clear").click()
    sync_api.expect(page.locator("#digits")).to_have_text("")
    assert page.locator("#undo").is_disabled()
    laptop.draw(in_square(ZERO))
    laptop.expect_digits("0")


def test_a_reading_under_the_threshold_is_badged_not_accepted(browser: sync_api.Browser, server: str) -> None:
    # Nothing the model reads is ever certain to six decimals: at ?min_confidence=1 every reading is rejected.
    context = browser.new_context(viewport=LAPTOP, device_scale_factor=1)
    page = Page(context.new_page()).open(server + "/?min_confidence=1")
    sent = []
    page.page.on("request", lambda r: sent.append(r.url) if "/v1/recognize" in r.url else None)
    page.draw(in_square(SEVEN))
    page.expect_digits("7")  # the best guess, marked, rather than the API's "?"
    verdict = page.page.locator("#verdict")
    sync_api.expect(verdict).to_be_visible(timeout=READ_TIMEOUT_MS)
    sync_api.expect(verdict).to_contain_text("Not accepted")
    sync_api.expect(page.page.locator("#digits")).to_have_class("digits unsure")
    assert sent and all("min_confidence=1" in url for url in sent)
    page.screenshot("laptop-7-not-accepted.png")
    page.assert_no_errors()
    context.close()


def test_keyboard_clear(laptop: Page) -> None:
    laptop.draw(in_square(ONE))
    laptop.expect_digits("1")
    laptop.page.keyboard.press("Escape")
    sync_api.expect(laptop.page.locator("#digits")).to_have_text("")
    assert laptop.page.locator("#clear").is_disabled()


def test_undo_removes_last_stroke(laptop: Page) -> None:
    laptop.draw(in_square(ONE))
    laptop.expect_digits("1")
    only_one = laptop.pixels()
    laptop.stroke([(0.22, 0.42), (0.5, 0.42), (0.78, 0.42)])  # a bar across: no longer a plain 1
    laptop.wait_idle()
    assert laptop.pixels() != only_one
    laptop.page.locator("#undo").click()
    laptop.expect_digits("1")
    assert laptop.pixels() == only_one
    # Ctrl+Z does the same, down to an empty canvas.
    laptop.page.keyboard.press("Control+z")
    sync_api.expect(laptop.page.locator("#digits")).to_have_text("")
    assert laptop.page.locator("#undo").is_disabled()


def test_wide_mode_reads_a_number(laptop: Page) -> None:
    page = laptop.page
    page.locator("#wide").click()
    sync_api.expect(page.locator("#wide")).to_have_attribute("aria-checked", "true")
    box = laptop.box()
    assert 2.8 < box["width"] / box["height"] < 3.2, f"wide canvas is not about 3:1: {box}"
    # Two digits in the middle 60% of the canvas: each 60% of its height, side by side with a gap.
    laptop.draw(_place(FOUR, 0.3, 0.2, 0.16, 0.6) + _place(TWO, 0.53, 0.2, 0.16, 0.6))
    laptop.expect_digits("42")
    sync_api.expect(page.locator("#bars .mini")).to_have_count(2)
    sync_api.expect(page.locator("#bars .mini .mini-digit")).to_have_text(["4", "2"])
    laptop.screenshot("wide-42.png")
    # Back to one digit: the canvas is square again and empty.
    page.locator("#wide").click()
    sync_api.expect(page.locator("#digits")).to_have_text("")
    box = laptop.box()
    assert abs(box["width"] - box["height"]) < 2


def test_phone_layout_and_touch(browser: sync_api.Browser, server: str) -> None:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    raw = context.new_page()
    phone = Page(raw, touch=context.new_cdp_session(raw)).open(server)
    phone.no_horizontal_scroll()
    box = phone.box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert box["width"] >= 300, f"canvas too small on a phone: {box}"
    # The canvas is backed by device pixels (crisp lines at devicePixelRatio 2).
    backing = raw.locator("#canvas").evaluate("c => c.width")
    assert abs(backing - 2 * box["width"]) <= 2
    for control in ("#undo", "#clear", "#wide"):
        height = raw.locator(control).bounding_box()["height"]
        assert height >= 44, f"{control} is {height} px tall: too small to tap"

    phone.draw(in_square(THREE))
    phone.expect_digits("3")
    phone.no_horizontal_scroll()
    phone.screenshot("phone-3.png")

    raw.locator("#wide").tap()
    phone.no_horizontal_scroll()
    phone.draw(_place(FOUR, 0.3, 0.2, 0.16, 0.6) + _place(TWO, 0.53, 0.2, 0.16, 0.6))
    phone.expect_digits("42")
    phone.no_horizontal_scroll()
    phone.screenshot("phone-wide-42.png")
    phone.assert_no_errors()
    context.close()


def test_error_is_shown(laptop: Page) -> None:
    page = laptop.page
    body = json.dumps({"error": {"code": "too_large", "message": "body over the byte limit"}})
    page.route("**/v1/recognize*", lambda route: route.fulfill(status=413, content_type="application/json",
                                                              body=body))
    laptop.draw(in_square(ONE))
    status = page.locator("#status")
    sync_api.expect(status).to_have_class("status error", timeout=READ_TIMEOUT_MS)
    sync_api.expect(status).to_contain_text("body over the byte limit")
    page.unroute("**/v1/recognize*")
    page.route("**/v1/recognize*", lambda route: route.abort())
    laptop.stroke([(0.5, 0.2), (0.5, 0.3)])
    sync_api.expect(status).to_contain_text("Cannot reach the server", timeout=READ_TIMEOUT_MS)
    laptop.errors.clear()  # the browser logs the refused and aborted requests as console errors


def test_api_key_prompt(browser: sync_api.Browser) -> None:
    key = "s3cret-test-key"
    with serving("server-key.log", "--api-key", key) as url:
        context = browser.new_context(viewport=LAPTOP)
        page = Page(context.new_page())
        page.page.goto(url)
        form = page.page.locator("#keyform")
        sync_api.expect(form).to_be_visible(timeout=READ_TIMEOUT_MS)  # /v1/models answered 401
        page.draw(in_square(ONE))
        sync_api.expect(page.page.locator("#status")).to_contain_text("API key", timeout=READ_TIMEOUT_MS)
        page.page.locator("#apikey").fill(key)
        page.page.locator("#keyform button").click()
        sync_api.expect(form).to_be_hidden()
        page.expect_digits("1")
        sync_api.expect(page.page.locator("#model")).to_contain_text("accuracy", timeout=READ_TIMEOUT_MS)
        assert page.page.evaluate("localStorage.getItem('digitlab.apiKey')") == key
        context.close()

        # A 401 for a request sent before the key was entered must not ask for the key again.
        context = browser.new_context(viewport=LAPTOP)
        page = Page(context.new_page())
        raw = page.page
        held: list[sync_api.Route] = []
        raw.route("**/v1/recognize*", lambda route: route.continue_() if route.request.header_value(
            "authorization") else held.append(route))
        raw.goto(url)
        sync_api.expect(raw.locator("#keyform")).to_be_visible(timeout=READ_TIMEOUT_MS)
        page.draw(in_square(ONE))
        for _ in range(100):
            if held:
                break
            raw.wait_for_timeout(100)
        assert held, "the page sent no reading request"
        raw.locator("#apikey").fill(key)
        raw.locator("#keyform button").click()
        held[0].fulfill(status=401, content_type="application/json",
                        body=json.dumps({"error": {"code": "unauthorized", "message": "missing or wrong API key"}}))
        page.expect_digits("1")
        sync_api.expect(raw.locator("#keyform")).to_be_hidden()
        sync_api.expect(raw.locator("#status")).not_to_have_class("status error")
        page.errors.clear()  # the browser logs the 401s as console errors
        context.close()


def test_api_docs_render_offline(browser: sync_api.Browser, server: str) -> None:
    """/docs must render from the package's own files: this browser cannot reach a CDN."""
    context = browser.new_context(viewport=LAPTOP)
    page = context.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    try:
        page.goto(f"{server}/docs")
        sync_api.expect(page.locator(".swagger-ui .info .title")).to_contain_text("digitlab", timeout=READ_TIMEOUT_MS)
        sync_api.expect(page.locator(".opblock-summary-path").first).to_be_visible(timeout=READ_TIMEOUT_MS)
        assert "/v1/recognize" in page.locator(".swagger-ui").inner_text()
        page.screenshot(path=str(OUTPUT / "api-docs.png"))
        assert not failed, failed
    finally:
        context.close()
