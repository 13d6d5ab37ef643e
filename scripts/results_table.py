"""Markdown rows for docs/results.md from finished runs.

Every run writes ``<run dir>/metrics.json`` (command, metrics, wall time, machine, date).
Usage::

    python scripts/results_table.py outputs/mnist/runs/2026-11-23_16-16-15 [more run dirs or globs]
    python scripts/results_table.py --metric test/acc --metric val/acc 'outputs/mnist/multirun/*/*'
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
from pathlib import Path
from typing import List


def rows(run_dirs: List[Path], metrics: List[str]) -> List[str]:
    header = ["command", *metrics, "fit+test (s)", "machine", "date"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in run_dirs:
        path = run / "metrics.json"
        if not path.exists():
            print(f"skipping {run}: no metrics.json (run not finished?)", file=sys.stderr)
            continue
        summary = json.loads(path.read_text())
        values = []
        for name in metrics:
            value = summary["metrics"].get(name)
            values.append("n/a" if value is None else (f"{100 * value:.2f}%" if "acc" in name else f"{value:.4g}"))
        lines.append(
            f"| `{summary['command']}` | " + " | ".join(values)
            + f" | {summary['fit_and_test_seconds']:.0f} | {summary['machine']} | {summary['date']} |"
        )
    return lines


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories (globs allowed)")
    parser.add_argument("--metric", action="append", help="metric to show (repeatable); default test/acc")
    args = parser.parse_args(argv)
    run_dirs = sorted({Path(p) for pattern in args.runs for p in glob.glob(pattern)})
    if not run_dirs:
        parser.error(f"no run directory matches {args.runs}")
    print("\n".join(rows(run_dirs, args.metric or ["test/acc"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
