"""Plots what each encoder makes of the same inputs (``docs/figures/encoders.png``): Poisson
and signed Poisson rasters, the constant-current LIF encoder, spike latency, and the
population code.

    python scripts/plot_encoders.py [--out docs/figures/encoders.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import norse_core as snn  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def raster(ax, spikes: torch.Tensor, title: str) -> None:
    """``spikes (T, N)``: one row per input, +1 black, -1 red."""
    for sign, color in ((1, "k"), (-1, "C3")):
        t, n = torch.nonzero(spikes == sign, as_tuple=True)
        ax.scatter(t, n, marker="|", s=40, color=color, linewidths=1)
    ax.set_ylim(-0.5, spikes.shape[1] - 0.5)
    ax.set_xlim(-0.5, spikes.shape[0] - 0.5)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "figures" / "encoders.png")
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    x = torch.linspace(0.0, 1.0, 11)  # 11 inputs from 0 to 1
    T = 100

    fig, axes = plt.subplots(2, 3, figsize=(11, 6))
    raster(axes[0, 0], snn.PoissonEncoder(T, f_max=200.0, generator=g)(x),
           "PoissonEncoder(100, f_max=200): rate 200*x Hz")
    raster(axes[0, 1], snn.SignedPoissonEncoder(T, f_max=200.0, generator=g)(torch.linspace(-1, 1, 11)),
           "SignedPoissonEncoder on x in [-1, 1] (red: -1)")
    current = 1.2 + 2 * x  # above the threshold current 1 for every input
    raster(axes[0, 2], snn.ConstantCurrentLIFEncoder(T)(current), "ConstantCurrentLIFEncoder(100), I = 1.2 + 2x")
    raster(axes[1, 0], snn.SpikeLatencyLIFEncoder(T)(current), "SpikeLatencyLIFEncoder: first spike only")
    for ax in axes.flat[:4]:
        ax.set_ylabel("input index (x grows upwards)", fontsize=8)

    values = torch.tensor([0.5, 1.5, 2.5])
    population = snn.PopulationEncoder(12, scale=3.0)(values)
    ax = axes[1, 1]
    for v, row in zip(values, population):
        ax.plot(torch.linspace(0, 3, 12), row, "o-", ms=3, label=f"x = {v:.1f}")
    ax.set_title("PopulationEncoder(12, scale=3): activity per neuron", fontsize=9)
    ax.set_xlabel("neuron centre", fontsize=8)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)

    ax = axes[1, 2]
    rates = snn.PoissonEncoder(1000, f_max=200.0, generator=g)(x).mean(0) * 1000
    ax.plot(x, rates, "o", label="Poisson (1000 steps)")
    lif_rates = snn.ConstantCurrentLIFEncoder(1000)(current).mean(0) * 1000
    ax.plot(x, lif_rates, "s", label="constant-current LIF, I = 1.2 + 2x")
    ax.plot(x, 200 * x, color="0.5", lw=0.8, label="200*x")
    ax.set_title("Firing rate against input (Hz, dt = 1 ms)", fontsize=9)
    ax.set_xlabel("x", fontsize=8)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)

    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
