"""Build hook: the dashboard's chart library, fetched at a pinned version and checked by sha256.

Third-party code is never copied into this repository. Every build (a wheel, ``pip install -e .``)
downloads uPlot's npm tarball once into a cache outside the tree
(``$XDG_CACHE_HOME/otel-supabase-exporter-build``, default ``~/.cache/...``), verifies its sha256,
and writes ``dist/uPlot.iife.min.js``, ``dist/uPlot.min.css`` and ``LICENSE`` into
``src/otel_supabase_exporter/show/static/vendor/`` (gitignored), from where the wheel takes them.
Offline, put the tarball in the cache by hand (``npm pack uplot@<version>``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import urllib.request
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

UPLOT_VERSION = "1.6.32"
UPLOT_SHA256 = "4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d"
UPLOT_URL = f"https://registry.npmjs.org/uplot/-/uplot-{UPLOT_VERSION}.tgz"
# tarball member -> file in vendor/
MEMBERS = {"package/dist/uPlot.iife.min.js": "uPlot.iife.min.js", "package/dist/uPlot.min.css": "uPlot.min.css",
           "package/LICENSE": "uPlot.LICENSE"}
VENDOR = Path("src/otel_supabase_exporter/show/static/vendor")


class VendorError(RuntimeError):
    """The pinned tarball could not be fetched or is not the pinned one."""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "otel-supabase-exporter-build"


def _tarball() -> bytes:
    cached = _cache_dir() / f"uplot-{UPLOT_VERSION}.tgz"
    if cached.exists():
        data = cached.read_bytes()
        if hashlib.sha256(data).hexdigest() == UPLOT_SHA256:
            return data
        cached.unlink()  # a truncated or foreign file: fetch again
    try:
        with urllib.request.urlopen(UPLOT_URL, timeout=60) as response:
            data = response.read()
    except OSError as exc:
        raise VendorError(f"could not fetch uPlot {UPLOT_VERSION} ({exc}); offline, run `npm pack uplot@"
                          f"{UPLOT_VERSION}` and put the .tgz at {cached}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != UPLOT_SHA256:
        raise VendorError(f"uPlot {UPLOT_VERSION}: sha256 {digest} is not the pinned {UPLOT_SHA256}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(cached)
    return data


def vendor(root: Path) -> list[Path]:
    """Write the vendored files under ``root``, from the checked tarball every time (files already
    there are never trusted: an edited copy would otherwise ship); returns their paths."""
    target = root / VENDOR
    manifest = target / "vendor.json"
    data = _tarball()
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member, name in MEMBERS.items():
            (target / name).write_bytes(tar.extractfile(member).read())
    manifest.write_text(json.dumps({"name": "uPlot", "version": UPLOT_VERSION, "sha256": UPLOT_SHA256,
                                    "license": "MIT", "source": UPLOT_URL}, indent=1) + "\n")
    return [target / name for name in (*MEMBERS.values(), "vendor.json")]


class VendorHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return  # the sdist ships this hook, not the library: its wheel build fetches it
        root = Path(self.root)
        paths = vendor(root)
        if version == "editable":
            return  # an editable install imports from src/, where the files now are
        for path in paths:  # gitignored files are left out of a wheel unless forced in
            build_data["force_include"][str(path)] = str(path.relative_to(root / "src"))
