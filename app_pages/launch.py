"""``vae-lab``: start the app from any folder, as ``streamlit run app.py`` does in the checkout.

It runs Streamlit on the ``app.py`` beside this folder (the checkout, or ``vae_lab_app/`` in an
installed wheel, which holds the same layout) and passes the project's ``.streamlit/config.toml``
as command-line flags, because Streamlit reads that file only from the current folder. So the
app listens on 127.0.0.1, sends no usage statistics and keeps its tuned runner settings wherever
it is started. Flags after the options below go to ``streamlit run`` unchanged.

For a classroom (README, "Serving a room"): ``--address`` listens on a chosen address (``0.0.0.0``:
every network of this machine) and tells Streamlit the address students type; ``--access-code``
and ``--max-runs-per-session`` become the environment the app reads (``vae_core.store.room``), as
do ``--workers`` (training worker processes) and ``--ray`` (a Ray cluster's address instead;
``vae_core.store.pool``).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

from vae_core.store.pool import RAY_ENV, WORKERS_ENV
from vae_core.store.room import ACCESS_CODE_ENV, MAX_RUNS_ENV

APP_ROOT = Path(__file__).resolve().parents[1]
CONFIG = APP_ROOT / ".streamlit" / "config.toml"


def streamlit_flags(config: Path = CONFIG) -> list[str]:
    """Every setting of a Streamlit config file as a ``--section.key=value`` flag."""
    settings = tomllib.loads(config.read_text())
    return [
        f"--{section}.{key}={str(value).lower() if isinstance(value, bool) else value}"
        for section, values in settings.items()
        for key, value in values.items()
    ]


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="vae-lab", description="Start VAE Latent Lab in a browser.")
    parser.add_argument("--port", type=int, help="port to listen on (default 8501)")
    parser.add_argument(
        "--address", help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every network)"
    )
    parser.add_argument("--access-code", help=f"starting and stopping runs needs this code (or set {ACCESS_CODE_ENV})")
    parser.add_argument(
        "--max-runs-per-session", type=_positive, help=f"runs one browser session may start (or set {MAX_RUNS_ENV})"
    )
    parser.add_argument(
        "--workers", type=_positive, help=f"runs that train at once, each in its own process (or set {WORKERS_ENV})"
    )
    parser.add_argument("--ray", metavar="ADDRESS", help=f"train on this Ray cluster instead (or set {RAY_ENV})")
    return parser.parse_known_args(argv)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def command(argv: list[str] | None = None) -> list[str]:
    """The ``streamlit run`` command line that ``vae-lab ARGS`` runs."""
    args, rest = _parse(argv)
    flags = streamlit_flags()
    if args.port is not None:
        flags.append(f"--server.port={args.port}")
    if args.address is not None:
        flags.append(f"--server.address={args.address}")
        # The address students type: shown at start-up, and the origin of upload responses. Set, it
        # also keeps Streamlit from asking an outside service for this machine's public address.
        flags.append(f"--browser.serverAddress={browser_address(args.address)}")
    return [sys.executable, "-m", "streamlit", "run", str(APP_ROOT / "app.py"), *flags, *rest]


def room_environment(argv: list[str] | None = None) -> dict[str, str]:
    """The environment the app reads its room rules (access code, runs per session) and its
    training queue (workers, a Ray cluster) from."""
    args, _ = _parse(argv)
    env = {}
    if args.access_code:
        env[ACCESS_CODE_ENV] = args.access_code
    if args.max_runs_per_session is not None:
        env[MAX_RUNS_ENV] = str(args.max_runs_per_session)
    if args.workers is not None:
        env[WORKERS_ENV] = str(args.workers)
    if args.ray:
        env[RAY_ENV] = args.ray
    return env


def browser_address(address: str) -> str:
    """The address a browser uses for a listening address: for a wildcard, this machine's address on
    its default network (a UDP socket's local end; connecting one sends nothing)."""
    if address not in ("0.0.0.0", "::", ""):
        return address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def main(argv: list[str] | None = None) -> int:
    env = {**os.environ, **room_environment(argv)}
    args, _ = _parse(argv)
    if args.address not in (None, "127.0.0.1", "localhost") and ACCESS_CODE_ENV not in env:
        print("vae-lab: anyone who can reach this address can start training runs; see --access-code.", file=sys.stderr)
    try:
        return subprocess.call(command(argv), env=env)
    except KeyboardInterrupt:  # Streamlit has already stopped on the same Ctrl-C
        return 130


if __name__ == "__main__":
    sys.exit(main())
