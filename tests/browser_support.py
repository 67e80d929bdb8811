"""What the browser tests of the dashboard share: Debian's Chromium driven by Playwright (its own
browsers are never downloaded), a page that fails its test on any script error or Content-Security-
Policy violation, uPlot's data read back from the page, and axe-core fetched from npm at a pinned
version (cached outside the repository, never copied into it)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
TIMEZONE = "Asia/Tehran"  # UTC+03:30 all year: local time differs from UTC by a visible, odd amount
AXE_PACKAGE, AXE_SHA256 = "axe-core@4.14.1", "e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745"
CACHE = Path.home() / ".cache" / "otel-supabase-exporter-tests"

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


def missing(why: str):
    if os.environ.get("CI") == "true":
        pytest.fail(why)
    pytest.skip(why)


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
    """axe-core's axe.min.js, from its npm tarball at the pinned version and sha256."""
    cached = CACHE / f"axe-core-{AXE_SHA256[:12]}.min.js"
    if not cached.exists():
        npm = shutil.which("npm")
        if not npm:
            missing("npm is needed to fetch axe-core from the registry")
        work = CACHE / f"npm-{uuid.uuid4().hex[:8]}"
        work.mkdir(parents=True)
        try:
            subprocess.run([npm, "pack", "--silent", AXE_PACKAGE], cwd=work, check=True, timeout=300,
                           capture_output=True)
            (tgz,) = work.glob("*.tgz")
            assert hashlib.sha256(tgz.read_bytes()).hexdigest() == AXE_SHA256, "not the pinned axe-core"
            with tarfile.open(tgz) as tar:
                source = tar.extractfile("package/axe.min.js").read()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        partial = cached.with_suffix(".part")
        partial.write_bytes(source)
        partial.replace(cached)
    return cached.read_text()
