"""Screenshots of TensorBoard for the documentation (``docs/figures/tensorboard_*.png``).

Starts ``tensorboard --logdir LOGDIR`` on 127.0.0.1, photographs its dashboards with headless
Chromium (``apt-get install chromium``), and stops it again::

    python scripts/tensorboard_screenshots.py outputs/mnist/runs/<timestamp>/tensorboard \\
        [--hparams-logdir outputs/mnist] [--out-dir docs/figures]

The scalars, images and histograms come from ``LOGDIR`` (one run); the HParams table from
``--hparams-logdir`` (default: ``LOGDIR``), so that it can compare several runs.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHOTS = {  # name: (URL fragment, window size)
    "scalars": ("scalars&tagFilter=acc%7Closs%7Cspike_rate&_smoothingWeight=0", "1300,1500"),
    "images": ("images", "1300,1000"),
    "histograms": ("histograms&tagFilter=firing_rate", "1300,650"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("headless Chromium is needed: apt-get install -y chromium")


class TensorBoard:
    """A TensorBoard server on 127.0.0.1 for the duration of a ``with`` block."""

    def __init__(self, logdir: Path):
        self.logdir, self.port = logdir, free_port()

    def __enter__(self) -> str:
        exe = Path(sys.executable).with_name("tensorboard")
        command = [str(exe) if exe.exists() else "tensorboard", "--logdir", str(self.logdir),
                   "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{self.port}/"
        for _ in range(120):
            try:
                urllib.request.urlopen(url, timeout=1)
                time.sleep(3)  # let it load the event files
                return url
            except OSError:
                time.sleep(0.5)
        self.process.terminate()
        raise RuntimeError(f"TensorBoard did not start on {url}")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def screenshot(browser: str, url: str, out: Path, size: str) -> None:
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={size}",
         "--virtual-time-budget=15000", f"--screenshot={out}", url],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
    )
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir", type=Path, help="one run's TensorBoard directory")
    parser.add_argument("--hparams-logdir", type=Path, default=None, help="several runs, for the HParams table")
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs" / "figures")
    args = parser.parse_args()
    browser = chromium()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with TensorBoard(args.logdir) as url:
        for name, (fragment, size) in SHOTS.items():
            screenshot(browser, f"{url}?darkMode=false#{fragment}", args.out_dir / f"tensorboard_{name}.png", size)
    with TensorBoard(args.hparams_logdir or args.logdir) as url:
        screenshot(browser, f"{url}?darkMode=false#hparams", args.out_dir / "tensorboard_hparams.png", "1300,500")


if __name__ == "__main__":
    main()
