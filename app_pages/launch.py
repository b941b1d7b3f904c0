"""``vae-lab``: start the app from any folder, as ``streamlit run app.py`` does in the checkout.

It runs Streamlit on the ``app.py`` beside this folder (the checkout, or ``vae_lab_app/`` in an
installed wheel, which holds the same layout) and passes the project's ``.streamlit/config.toml``
as command-line flags, because Streamlit reads that file only from the current folder. So the
app listens on 127.0.0.1, sends no usage statistics and keeps its tuned runner settings wherever
it is started. Flags after the options below go to ``streamlit run`` unchanged.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

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


def command(argv: list[str] | None = None) -> list[str]:
    """The ``streamlit run`` command line that ``vae-lab ARGS`` runs."""
    parser = argparse.ArgumentParser(prog="vae-lab", description="Start VAE Latent Lab in a browser.")
    parser.add_argument("--port", type=int, help="port to listen on (default 8501)")
    parser.add_argument("--address", help="address to listen on (default 127.0.0.1: this machine only)")
    args, rest = parser.parse_known_args(argv)
    flags = streamlit_flags()
    if args.port is not None:
        flags.append(f"--server.port={args.port}")
    if args.address is not None:
        flags.append(f"--server.address={args.address}")
    return [sys.executable, "-m", "streamlit", "run", str(APP_ROOT / "app.py"), *flags, *rest]


def main(argv: list[str] | None = None) -> int:
    try:
        return subprocess.call(command(argv))
    except KeyboardInterrupt:  # Streamlit has already stopped on the same Ctrl-C
        return 130


if __name__ == "__main__":
    sys.exit(main())
