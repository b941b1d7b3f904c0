"""Starting a real Streamlit server and finding the system Chromium (tests and bench share these).

Chromium comes from Debian (``/usr/bin/chromium``); Playwright's own browser download is never used. Without
it the tests skip with the reason, unless VAE_LAB_REQUIRE_BROWSER=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
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
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"


def chromium_path() -> str | None:
    for candidate in (os.environ.get("VAE_LAB_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    cache: Path, log: Path, port: int | None = None, script: Path = ROOT / "app.py", flags: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` (or ``script``, run in its folder, with ``flags``) on a free port with
    its own model cache; waits for /_stcore/health."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), *flags, "--server.port", str(port)]
    cmd += ["--server.address", "127.0.0.1", "--server.headless", "true"]
    cmd += ["--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    env = {**os.environ, "VAE_LAB_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=script.parent, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 60
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"streamlit did not become healthy: {log.read_text()[-2000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def settled(page, timeout_ms: int = 120_000) -> None:
    """Wait until the page's views have streamed in: no "Refining …" caption left."""
    from playwright.sync_api import expect

    page.wait_for_selector(IDLE)
    expect(page.get_by_text("Refining", exact=False)).to_have_count(0, timeout=timeout_ms)
