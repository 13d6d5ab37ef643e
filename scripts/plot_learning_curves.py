"""Learning curves of finished runs from their TensorBoard logs: one metric against wall-clock
time since the run's first logged event (or against the training step), one line per run,
labelled by the run's command (from ``metrics.json``).

    python scripts/plot_learning_curves.py outputs/memory/runs/<ts> ... --metric val/recall_acc \\
        --out docs/figures/memory_curves.png
    python scripts/plot_learning_curves.py 'outputs/cartpole/runs/*' --metric eval/avg_return_100 --x step
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

X_AXES = ("time", "step")


def read_curve(run: Path, metric: str) -> Tuple[List[float], List[float], List[float]]:
    """``(wall seconds since the first event, steps, values)`` of ``metric`` in the run's
    TensorBoard logs (all event files under ``<run>/tensorboard``)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = []
    start: Optional[float] = None
    for path in sorted((run / "tensorboard").rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(path), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            for event in acc.Scalars(tag):
                start = event.wall_time if start is None else min(start, event.wall_time)
        if metric in acc.Tags()["scalars"]:
            events += acc.Scalars(metric)
    if not events or start is None:
        raise ValueError(f"{run}: no scalar {metric!r} in its TensorBoard logs")
    events.sort(key=lambda e: e.wall_time)
    return [e.wall_time - start for e in events], [e.step for e in events], [e.value for e in events]


def label_of(run: Path) -> str:
    summary = run / "metrics.json"
    if summary.exists():
        return json.loads(summary.read_text()).get("command", run.name).replace("python -m ", "")
    return run.name


def plot(runs: Sequence[Path], metric: str, out: Path, x_axis: str = "time", target: Optional[float] = None,
         title: Optional[str] = None) -> Path:
    if x_axis not in X_AXES:
        raise ValueError(f"x must be one of {', '.join(X_AXES)}, got {x_axis!r}")
    fig, ax = plt.subplots(figsize=(7, 3.6 + 0.16 * (len(runs) + (target is not None))))
    for run in runs:
        seconds, steps, values = read_curve(run, metric)
        xs = [s / 60 for s in seconds] if x_axis == "time" else steps
        label = label_of(run)
        ax.plot(xs, values, marker=".", lw=1.2, label=label if len(label) <= 90 else label[:87] + "...")
    if target is not None:
        ax.axhline(target, color="k", ls="--", lw=0.8, label=f"target {target:g}")
    ax.set_xlabel("minutes since the first logged event" if x_axis == "time" else "training step")
    ax.set_ylabel(metric)
    ax.set_title(title or metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)  # below: no data hidden
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories or globs")
    parser.add_argument("--metric", required=True)
    parser.add_argument("--x", choices=X_AXES, default="time")
    parser.add_argument("--target", type=float, default=None, help="draw a dashed line at this value")
    parser.add_argument("--title", default=None)
    parser.add_argument("--out", type=Path, default=Path("learning_curves.png"))
    args = parser.parse_args(argv)
    runs = [Path(p) for pattern in args.runs for p in (sorted(glob.glob(pattern)) or [pattern])]
    missing = [str(r) for r in runs if not (r / "tensorboard").is_dir()]
    if missing:
        print(f"no tensorboard/ folder in: {', '.join(missing)}", file=sys.stderr)
        return 2
    print(f"wrote {plot(runs, args.metric, args.out, args.x, args.target, args.title)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
