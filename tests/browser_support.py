"""What the browser tests of the dashboard share: Debian's Chromium driven by Playwright (its own
browsers are never downloaded), a page that fails its test on any script error or Content-Security-
Policy violation, uPlot's data read back from the page, and axe-core fetched from npm at a pinned
version (cached outside the repository, never copied into it)."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from conftest import TEST_CACHE, missing_dependency, npm_member

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
TIMEZONE = "Asia/Tehran"  # UTC+03:30 all year: local time differs from UTC by a visible, odd amount
AXE_PACKAGE = "axe-core@4.14.1"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"  # of its axe.min.js
CACHE = TEST_CACHE

# [[bucket start in seconds, value], ...] of the chart lines drawing (implementation, metric)
POINTS_JS = """([impl, metric]) => {
  const out = [];
  for (const {u, panel} of window.dashboard.charts.values()) {
    panel.lines.forEach((l, j) => {
      if (l.expected || l.implementation !== impl || l.metric !== metric) return;
      u.data[0].forEach((t, i) => { if (u.data[j + 1][i] !== null) out.push([t, u.data[j + 1][i]]); });
    });
  }
  return out;
}"""


missing = missing_dependency


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not os.path.exists(CHROMIUM) or shutil.which("chromium") is None:
        missing("Chromium is missing: .ci/run installs the Debian package chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is missing: pip install -e '.[test]'")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=FLAGS, viewport={"width": 1400, "height": 1000}, timezone_id=TIMEZONE)
        yield context
        context.close()


@pytest.fixture
def page(browser, tmp_path, request):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    yield page
    page.screenshot(path=str(tmp_path / f"{request.node.name}.png"), full_page=True)
    page.close()
    assert not errors, errors


def axe_source() -> str:
    """axe-core's axe.min.js, from its npm tarball at the pinned version, checked by sha256."""
    cached = CACHE / f"axe-core-{AXE_SHA256[:12]}.min.js"
    if not cached.exists():
        source = npm_member(AXE_PACKAGE, "package/axe.min.js")
        assert hashlib.sha256(source).hexdigest() == AXE_SHA256, "not the pinned axe-core"
        partial = cached.with_suffix(".part")
        partial.write_bytes(source)
        partial.replace(cached)
    return cached.read_text()
