"""``vae-lab`` (``app_pages/launch.py``) and ``python -m vae_core`` from outside the checkout."""

from __future__ import annotations

import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from app_pages.launch import APP_ROOT, CONFIG, browser_address, command, room_environment, streamlit_flags

ROOT = Path(__file__).resolve().parents[2]


def test_the_launcher_passes_every_setting_of_the_project_config():
    flags = streamlit_flags()
    settings = tomllib.loads(CONFIG.read_text())
    assert len(flags) == sum(len(v) for v in settings.values())
    assert "--server.address=127.0.0.1" in flags and "--browser.gatherUsageStats=false" in flags
    cmd = command(["--port", "8600", "--server.runOnSave", "false"])
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(APP_ROOT / "app.py")]
    assert cmd[-3:] == ["--server.port=8600", "--server.runOnSave", "false"]  # after the config: it wins


def test_the_server_enforces_the_pages_upload_limit():
    """The page's 2 MB was once checked only in the browser: a PUT of 50 MB got 204."""
    from vae_core.data.images import MAX_BYTES

    assert tomllib.loads(CONFIG.read_text())["server"]["maxUploadSize"] * 2**20 == MAX_BYTES
    assert f"--server.maxUploadSize={MAX_BYTES // 2**20}" in streamlit_flags()


def test_a_student_sees_no_error_details_and_no_outside_links():
    """Errors once showed the message, the traceback (server paths) and Ask Google / ChatGPT links."""
    client = tomllib.loads(CONFIG.read_text())["client"]
    assert client["showErrorDetails"] == "none" and client["showErrorLinks"] is False
    assert "--client.showErrorDetails=none" in streamlit_flags()


def test_serving_a_room_listens_on_the_chosen_address_with_the_rooms_rules():
    """The shipped config listened on 127.0.0.1 only, with no way to limit a room's runs."""
    argv = ["--address", "0.0.0.0", "--access-code", "blue-heron-42", "--max-runs-per-session", "3"]
    cmd = command(argv)
    assert "--server.address=0.0.0.0" in cmd
    shown = next(f for f in reversed(cmd) if f.startswith("--browser.serverAddress="))
    assert shown.split("=")[1] == browser_address("0.0.0.0") and shown != "--browser.serverAddress=0.0.0.0"
    assert room_environment(argv) == {"VAE_LAB_ACCESS_CODE": "blue-heron-42", "VAE_LAB_MAX_RUNS_PER_SESSION": "3"}
    assert not any("blue-heron" in f for f in cmd), "the code goes to the app's environment, not its command line"
    assert "--browser.serverAddress=192.168.1.20" in command(["--address", "192.168.1.20"])
    with pytest.raises(SystemExit):
        command(["--max-runs-per-session", "0"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_launcher_serves_the_app_from_another_folder(tmp_path):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    launcher = [sys.executable, "-m", "app_pages.launch", "--port", str(port)]
    proc = subprocess.Popen(launcher, cwd=tmp_path, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        deadline, health = time.monotonic() + 60, ""
        while time.monotonic() < deadline and health != "ok":
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    health = r.read().decode()
            except OSError:
                time.sleep(0.3)
        assert health == "ok", "the app did not start from another folder"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


def _installed() -> importlib.metadata.Distribution:
    try:
        return importlib.metadata.distribution("vae-latent-lab")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the project is not installed (pip install -e .)")


def test_the_installed_package_runs_from_any_folder(tmp_path):
    dist = _installed()
    (script,) = [e for e in dist.entry_points if e.group == "console_scripts" and e.name == "vae-lab"]
    assert script.load().__module__.endswith("app_pages.launch")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-m", "vae_core", "datasets"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "digits" in out.stdout and "built in" in out.stdout


def test_the_launcher_passes_the_training_queue_to_the_app():
    argv = ["--workers", "3", "--ray", "10.0.0.5:6379"]
    assert room_environment(argv) == {"VAE_LAB_WORKERS": "3", "VAE_LAB_RAY_ADDRESS": "10.0.0.5:6379"}
    assert "--workers" not in " ".join(command(argv)), "the queue's flags are the app's, not streamlit's"
