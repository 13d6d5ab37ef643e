"""Plots voltage traces of the neuron models (default parameters, dt = 1 ms) for the
documentation:

* ``docs/figures/neuron_lif.png``: the LIF reference trace (constant input x = 1): input,
  synaptic current ``i``, voltage ``v`` and spikes ``z``.
* ``docs/figures/neuron_models.png``: LIF, LIFBox, IAF, LSNN (with its adaptive threshold)
  and the LI / LIBox readouts on the same input pulse.

    python scripts/plot_neurons.py [--out-dir docs/figures]
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


def run(layer: torch.nn.Module, x: torch.Tensor):
    """``(outputs, recorded states)`` of a layer over time on ``x (T, 1)``."""
    layer.record_states = True
    with torch.no_grad():
        return layer(x)


def spike_marks(ax, t, z, level, **kwargs):
    times = t[z[:, 0] > 0]
    ax.vlines(times, level, level + 0.25, **kwargs)


def plot_lif(out: Path) -> None:
    T = 40
    t = torch.arange(1, T + 1)
    x = torch.ones(T, 1)
    z, s = run(snn.LIF(), x)
    fig, axes = plt.subplots(3, 1, figsize=(7, 4.8), sharex=True)
    axes[0].step(t, x[:, 0], where="post", color="0.3")
    axes[0].set_ylabel("input x")
    axes[1].plot(t, s.i[:, 0], "o-", ms=3, color="C1")
    axes[1].set_ylabel("current i'")
    axes[2].plot(t, s.v[:, 0], "o-", ms=3, color="C0", label="v'")
    axes[2].axhline(1.0, color="C3", ls="--", lw=0.8, label="v_th")
    spike_marks(axes[2], t, z, 1.05, color="k", lw=1.5, label="z (spike)")
    axes[2].set_ylabel("voltage v'")
    axes[2].set_xlabel("step (dt = 1 ms)")
    axes[2].legend(fontsize=8, loc="lower right")
    fig.suptitle("LIFParameters() with constant input x = 1: v = 0.1, 0.27, 0.487, 0.7335, 0.9963, spike", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "neuron_lif.png", dpi=110)
    plt.close(fig)


def plot_models(out: Path) -> None:
    T = 120
    t = torch.arange(1, T + 1)
    x = torch.zeros(T, 1)
    x[10:90] = 1.5  # a current pulse of 80 ms
    fig, axes = plt.subplots(3, 2, figsize=(9, 6.2), sharex=True)
    panels = [
        ("LIF (current-based)", snn.LIF(), "v"),
        ("LIFBox (no synapse)", snn.LIFBox(), "v"),
        ("IAF (no leak), input x 0.1", snn.IAF(), "v"),
        ("LSNN (adaptive threshold b)", snn.LSNN(snn.LSNNParameters(tau_adapt_inv=20.0, beta=0.3)), "v"),
        ("LI readout (current-based)", snn.LI(), "v"),
        ("LIBox readout", snn.LIBox(), "v"),
    ]
    for ax, (title, layer, field) in zip(axes.flat, panels):
        inp = x * 0.1 if isinstance(layer, snn.IAF) else x
        out_, states = run(layer, inp)
        ax.fill_between(t, 0, inp[:, 0], step="post", color="0.9", label="input")
        ax.plot(t, getattr(states, field)[:, 0], color="C0", lw=1.2, label="v")
        if hasattr(states, "b"):
            ax.plot(t, states.b[:, 0], color="C3", ls="--", lw=1, label="threshold b")
        elif not isinstance(layer, (snn.LI, snn.LIBox)):
            ax.axhline(1.0, color="C3", ls="--", lw=0.8, label="v_th")
        if not isinstance(layer, (snn.LI, snn.LIBox)):
            spike_marks(ax, t, out_, 1.6, color="k", lw=1)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel("step (dt = 1 ms)", fontsize=8)
    fig.suptitle("Default parameters, an 80-step input pulse of 1.5 (black ticks: spikes)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "neuron_models.png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs" / "figures")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    plot_lif(args.out_dir)
    plot_models(args.out_dir)
    print(f"wrote {args.out_dir / 'neuron_lif.png'} and {args.out_dir / 'neuron_models.png'}")


if __name__ == "__main__":
    main()
