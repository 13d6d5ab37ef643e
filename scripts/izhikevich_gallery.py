"""Draws the 20 Izhikevich (2004) firing patterns into one figure.

Each panel runs one preset (``norse_core.IZHIKEVICH_BEHAVIORS``) under its protocol
(``norse_core.IZHIKEVICH_PROTOCOLS``) at dt = 0.001 and shows the membrane potential
(black) and the input current (orange, right axis)::

    python scripts/izhikevich_gallery.py --out docs/figures/izhikevich_gallery.png
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import norse_core as snn  # noqa: E402
from norse_core.utils import plot_izhikevich  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: presets whose named pattern these equations do not produce (docs/models.md says why)
NOT_REPRODUCED = {"inhibition_induced_bursting": "runaway firing, not bursts (see docs/models.md)"}


def draw(out: Path, columns: int = 4, dt: float = 0.001) -> Path:
    """Draws every preset into a grid of ``columns`` columns and saves it to ``out``."""
    names = list(snn.IZHIKEVICH_BEHAVIORS)
    rows = -(-len(names) // columns)
    fig, grid = plt.subplots(rows, columns, figsize=(4.2 * columns, 2.6 * rows))
    for ax, name in zip(grid.flat, names):
        v_axes, _ = plot_izhikevich(name, dt=dt, axes=ax)
        v_axes.set_xlabel("")
        v_axes.set_ylabel("")
        v_axes.tick_params(labelsize="small")
        if name in NOT_REPRODUCED:
            v_axes.set_title(v_axes.get_title() + " (not reproduced)", color="tab:red")
            v_axes.text(0.98, 0.5, NOT_REPRODUCED[name], transform=v_axes.transAxes, ha="right",
                        va="center", fontsize="small", color="tab:red",
                        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    for ax in list(grid.flat)[len(names):]:
        ax.set_visible(False)
    fig.suptitle(
        "Izhikevich (2004) firing patterns: v (black, mV) and input current (orange), "
        "time in model ms",
        fontsize="large",
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "figures" / "izhikevich_gallery.png",
        help="where to save the figure (default: docs/figures/izhikevich_gallery.png)",
    )
    parser.add_argument("--columns", type=int, default=4, help="panels per row (default 4)")
    args = parser.parse_args(argv)
    if args.columns < 1:
        parser.error("--columns must be at least 1")
    print(draw(args.out, args.columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
