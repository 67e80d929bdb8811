"""A PNG of a page in headless Chromium: the system's browser (Debian's ``chromium``) driven by
Playwright, with a fresh profile. No browser is downloaded. The page is taken once it has loaded,
``selector`` (if given) is on it, and ``settle_s`` more seconds have passed — never "network idle",
which a page holding an event stream open never reaches."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from ..errors import ConfigurationError

__all__ = ["CHROMIUM", "FLAGS", "save_screenshot"]

CHROMIUM = "/usr/bin/chromium"
FLAGS = ("--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync")


def find_chromium(path: str | None = None) -> str:
    """``path``, else /usr/bin/chromium, else ``chromium`` on the PATH; ConfigurationError if none runs."""
    for candidate in (path,) if path else (CHROMIUM, shutil.which("chromium") or ""):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ConfigurationError(f"no Chromium at {path or CHROMIUM}: install the system package (Debian: apt-get "
                             "install chromium) or pass --chromium PATH")


def save_screenshot(url: str, path: str | Path, *, chromium: str | None = None, settle_s: float = 5.0,
                    selector: str | None = None, width: int = 1400, height: int = 1000) -> Path:
    """Load ``url`` and save a full-page PNG at ``path``; returns the path."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ConfigurationError("screenshots need Playwright: pip install playwright (no browser download: "
                                 "it drives the system's Chromium)") from None
    browser = find_chromium(chromium)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="otel-screenshot-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=browser, headless=True, args=list(FLAGS),
            viewport={"width": width, "height": height})
        try:
            page = context.new_page()
            page.goto(url, wait_until="load", timeout=60_000)
            if selector:
                page.wait_for_selector(selector, timeout=60_000)
            page.wait_for_timeout(settle_s * 1000)
            page.screenshot(path=str(target), full_page=True)
        except KeyboardInterrupt:
            # Ctrl-C reached Playwright's driver too: asyncio would report its closed pipe at exit
            logging.getLogger("asyncio").addFilter(
                lambda record: not record.getMessage().startswith("Future exception was never retrieved"))
            raise
        finally:
            try:
                context.close()
            except Exception:  # noqa: BLE001 - the browser is gone already (Ctrl-C reaches its driver too):
                pass           # what ended the page, a KeyboardInterrupt say, is what the caller must see
    return target
