"""Plots every registered surrogate gradient: ``dΘ/dx`` as autograd computes it through
``norse_core.threshold``, at the ``alpha`` of its task config (``conf/surrogate/<name>.yaml``).

    python scripts/plot_surrogates.py [--out docs/figures/surrogates.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

import norse_core as snn  # noqa: E402
from norse_core.functional.threshold import surrogate_methods  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ALIASES = {"superspike"}  # same function as "super"


def config_alpha(method: str) -> float:
    path = REPO / "conf" / "surrogate" / f"{method}.yaml"
    if path.exists():
        return float(yaml.safe_load(path.read_text())["alpha"])
    return 100.0


def surrogate_gradient(method: str, alpha: float, x: torch.Tensor) -> torch.Tensor:
    """``d threshold(x) / dx`` through autograd (the backward pass a network sees)."""
    x = x.clone().requires_grad_(True)
    snn.threshold(x, method, alpha).sum().backward()
    return x.grad.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures" / "surrogates.png")
    args = parser.parse_args()
    methods = [m for m in surrogate_methods() if m not in ALIASES]
    x = torch.linspace(-2, 2, 801, dtype=torch.float64)
    cols = 3
    rows = -(-len(methods) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.3 * rows), sharex=True, squeeze=False)
    for ax, method in zip(axes.flat, methods):
        alpha = config_alpha(method)
        ax.plot(x, surrogate_gradient(method, alpha, x), color="C0", label="surrogate dΘ/dx")
        ax.plot(x, (x > 0).double(), color="0.6", lw=0.8, ls="--", label="Θ(x) (forward)")
        ax.set_title(f"{method} (alpha={alpha:g})", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(methods):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("x = v - v_th", fontsize=8)
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle("Surrogate gradients of norse_core.threshold (alpha from conf/surrogate/)", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
