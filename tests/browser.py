"""Headless Chromium for the HTML tests: a visit's DOM, a screenshot, and a script that records
which images failed to load (added to a copy of a page only; the pages fetch nothing)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000"]
IMAGE_CHECK = """<script>window.addEventListener("load", () => { const imgs = [...document.images];
document.body.setAttribute("data-images", imgs.length);
document.body.setAttribute("data-broken", imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src).join(" ")); });
</script>"""


def chromium_or_skip() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (apt-get install -y chromium): the HTML pages were not loaded in a browser")
    return exe


def chromium(exe: str, url: str, *args: str) -> tuple[str, str]:
    """(DOM or nothing, stderr) of a headless Chromium visit with a throw-away profile."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
                              capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def with_script(page: Path, script: str, name: str) -> Path:
    """A copy of ``page`` beside it (same relative links) with ``script`` before </body>."""
    copy = page.with_name(name)
    copy.write_text(page.read_text().replace("</body>", script + "</body>"))
    return copy


def screenshot(exe: str, page: Path, out: Path, size: str = "1400,1600") -> Path:
    chromium(exe, page.as_uri(), f"--screenshot={out}", f"--window-size={size}", "--hide-scrollbars")
    assert out.is_file() and out.stat().st_size > 10_000, out
    return out
