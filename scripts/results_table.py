"""Markdown rows for docs/results.md from finished runs.

Every run writes ``<run dir>/metrics.json`` (command, metrics, wall time, machine, date).
Usage::

    python scripts/results_table.py outputs/mnist/runs/2026-11-23_16-16-15 [more run dirs or globs]
    python scripts/results_table.py --metric test/acc --metric val/acc 'outputs/mnist/multirun/*/*'
    python scripts/results_table.py --seeds 'outputs/mnist/multirun/*/*'   # one row per config over seeds
    python scripts/results_table.py --zoo outputs/mnist/multirun/<timestamp>  # the neuron zoo, one row per model

Rows start with the command and its overlay cell (the command's overrides, ``experiment=...`` first).
``--seeds`` groups runs whose commands differ only in ``seed=...`` and shows, per metric, the
mean and the range (min to max) over the seeds, with the seeds and the mean and longest time.
``--zoo`` takes sweep folders (their numbered runs) or runs and shows one row per model
(``model=`` choice): every metric (mean over its runs) and the mean seconds per training epoch.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple


def _format(name: str, value: float) -> str:
    return f"{100 * value:.2f}%" if "acc" in name else f"{value:.4g}"


def _summaries(run_dirs: List[Path]) -> List[dict]:
    found = []
    for run in run_dirs:
        path = run / "metrics.json"
        if not path.exists():
            print(f"skipping {run}: no metrics.json (run not finished?)", file=sys.stderr)
            continue
        found.append(json.loads(path.read_text()))
    return found


_SEED = re.compile(r"\s*\bseed=(\S+)")


def overlay(command: str, seed: bool = True, experiment: Optional[str] = None) -> str:
    """The overlay cell of a row: the command's overrides, ``experiment=...`` first (docs/results.md's
    tests compose both and compare), without ``seed=`` if not ``seed``; a command that names no
    experiment gets the one its run composed by default (``experiment``, from metrics.json); empty
    when there is none."""
    overrides = command.split()[3:]  # after "python -m tasks.<task>"
    if not any(o.startswith("experiment=") for o in overrides):
        if not experiment:
            return ""
        overrides.insert(0, f"experiment={experiment}")
    overrides.sort(key=lambda o: not o.startswith("experiment="))
    return f"`{' '.join(o for o in overrides if seed or not o.startswith('seed='))}`"


def seed_rows(run_dirs: List[Path], metrics: List[str]) -> List[str]:
    """One row per command over its seeds: ``mean (min to max)`` of every metric."""
    groups: Dict[str, List[Tuple[str, dict]]] = {}
    for summary in _summaries(run_dirs):
        match = _SEED.search(summary["command"])
        command = _SEED.sub("", summary["command"]).strip()
        groups.setdefault(command, []).append((match.group(1) if match else "default", summary))
    header = ["command", "overlay", "seeds", *metrics, "fit+test (s), mean / max", "machine", "dates"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for command, runs in groups.items():
        cells = []
        for name in metrics:
            values = [s["metrics"][name] for _, s in runs if s["metrics"].get(name) is not None]
            cells.append("n/a" if not values else f"{_format(name, statistics.mean(values))} "
                         f"({_format(name, min(values))} to {_format(name, max(values))})")
        seconds = [s["fit_and_test_seconds"] for _, s in runs]
        dates = sorted({s["date"] for _, s in runs})
        lines.append(
            f"| `{command}` | {overlay(command, False, runs[0][1].get('experiment'))} | {', '.join(sorted(seed for seed, _ in runs))} | "
            + " | ".join(cells)
            + f" | {statistics.mean(seconds):.0f} / {max(seconds):.0f} | {runs[0][1]['machine']} | {', '.join(dates)} |"
        )
    return lines


def zoo_rows(run_dirs: List[Path], metrics: List[str]) -> List[str]:
    """One row per neuron model: the mean of every metric and of the seconds per epoch."""
    models: Dict[str, List[dict]] = {}
    for summary in _summaries(run_dirs):
        models.setdefault(summary.get("model") or "?", []).append(summary)
    header = ["model", "runs", *metrics, "s / epoch", "epochs", "machine", "dates"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, runs in sorted(models.items()):
        cells = []
        for name in metrics:
            values = [s["metrics"][name] for s in runs if s["metrics"].get(name) is not None]
            cells.append("n/a" if not values else _format(name, statistics.mean(values)))
        epochs = [t for s in runs for t in s.get("epoch_seconds", [])]
        per_epoch = f"{statistics.mean(epochs):.1f}" if epochs else "n/a"
        counts = sorted({len(s.get("epoch_seconds", [])) for s in runs})
        dates = sorted({s["date"] for s in runs})
        lines.append(f"| `{model}` | {len(runs)} | " + " | ".join(cells) + f" | {per_epoch} | "
                     f"{', '.join(map(str, counts))} | {runs[0]['machine']} | {', '.join(dates)} |")
    return lines


def _run_dirs(patterns: List[str], zoo: bool) -> List[Path]:
    """The run folders the patterns match; with ``zoo``, a sweep folder stands for its runs."""
    found = {Path(p) for pattern in patterns for p in glob.glob(pattern)}
    if zoo:
        found = {run for path in found for run in ([path] if (path / "metrics.json").exists()
                                                  else [d for d in path.iterdir() if d.is_dir()])}
    return sorted(found)


def rows(run_dirs: List[Path], metrics: List[str]) -> List[str]:
    """One row per run."""
    header = ["command", "overlay", *metrics, "fit+test (s)", "machine", "date"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for summary in _summaries(run_dirs):
        values = [
            "n/a" if summary["metrics"].get(name) is None else _format(name, summary["metrics"][name]) for name in metrics
        ]
        lines.append(
            f"| `{summary['command']}` | {overlay(summary['command'], True, summary.get('experiment'))} | " + " | ".join(values)
            + f" | {summary['fit_and_test_seconds']:.0f} | {summary['machine']} | {summary['date']} |"
        )
    return lines


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories (globs allowed)")
    parser.add_argument("--metric", action="append", help="metric to show (repeatable); default test/acc")
    parser.add_argument("--seeds", action="store_true", help="one row per command over its seeds (mean, min to max)")
    parser.add_argument("--zoo", action="store_true", help="one row per model (test acc, seconds per epoch); "
                        "accepts sweep folders")
    args = parser.parse_args(argv)
    if args.seeds and args.zoo:
        parser.error("--seeds and --zoo: choose one")
    run_dirs = _run_dirs(args.runs, args.zoo)
    if not run_dirs:
        parser.error(f"no run directory matches {args.runs}")
    table = seed_rows if args.seeds else zoo_rows if args.zoo else rows
    print("\n".join(table(run_dirs, args.metric or ["test/acc"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
