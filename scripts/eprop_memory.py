"""Peak memory and time of one training batch of the memory task, BPTT against e-prop, at
several sequence lengths (docs/results.md, "e-prop").

``python scripts/eprop_memory.py --steps 2400 9600`` runs each (method, T) in a fresh process
and prints one row each: the growth of the process's peak resident memory during the batch
(``ru_maxrss`` after the batch minus before it; the batch and model are built before) and the
batch's wall time. BPTT is the default training step (the fused C++ loop when it is built),
e-prop ``learning=eprop`` (:class:`norse_core.EProp`, its compiled loops when they build).

``--repeats R``: times only, both methods side by side in ONE process (built once, warmed up),
R batches each, alternating; prints every time and the medians per T.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(method: str, steps: int, batch_size: int, threads: int) -> dict:
    """One batch of ``method`` (bptt | eprop) on sequences of ``steps`` steps, in this process."""
    task = _build(method, threads)
    batch = _batch(steps, batch_size)
    _warm_up(task, method)
    before = _peak_mib()
    seconds = _one_batch(task, method, batch)
    return {"method": method, "steps": steps, "batch": batch_size, "threads": threads,
            "peak_growth_mib": round(_peak_mib() - before, 1), "seconds": round(seconds, 2)}


def _build(method: str, threads: int):
    import torch
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from tasks.common import CONFIG_DIR
    from tasks.memory.task import MemoryTask

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose(config_name="memory", overrides=[f"learning={method}"])
    kwargs = OmegaConf.to_container(cfg.task, resolve=True)
    kwargs.pop("_target_")
    return MemoryTask(**kwargs)


def _batch(steps: int, batch_size: int):
    import torch

    from tasks.memory.data import store_recall_batch

    periods = steps // 200
    return store_recall_batch(batch_size, generator=torch.Generator().manual_seed(0), n_periods=periods,
                              max_delay=min(9, periods - 3))


def _warm_up(task, method: str) -> None:
    """The compiled loops' first call (a build or a load) is not timed."""
    from norse_core.functional import eprop_cpp
    from tasks.memory.data import store_recall_batch

    if method == "bptt":
        ce, reg, _, _ = task._losses(store_recall_batch(2, n_periods=12))
        (ce + reg).backward()
    else:
        eprop_cpp.build()
        task._eprop_gradients(store_recall_batch(2, n_periods=12))
    task.zero_grad()


def _one_batch(task, method: str, batch) -> float:
    import time

    started = time.perf_counter()
    if method == "bptt":
        ce, reg, _, _ = task._losses(batch)
        (ce + task.reg_weight * reg).backward()
    else:
        task._eprop_gradients(batch)
    return time.perf_counter() - started


def side_by_side(steps: int, batch_size: int, threads: int, repeats: int) -> dict:
    """Times of ``repeats`` batches of each method, alternating, in this process."""
    import statistics

    tasks = {method: _build(method, threads) for method in ("bptt", "eprop")}
    for method, task in tasks.items():
        _warm_up(task, method)
    batch = _batch(steps, batch_size)
    times = {method: [] for method in tasks}
    for _ in range(repeats):
        for method, task in tasks.items():
            task.zero_grad()
            times[method].append(round(_one_batch(task, method, batch), 3))
    medians = {method: round(statistics.median(t), 3) for method, t in times.items()}
    return {"steps": steps, "batch": batch_size, "threads": threads, "times_s": times, "median_s": medians,
            "eprop/bptt": round(medians["eprop"] / medians["bptt"], 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[2400, 9600])
    parser.add_argument("--methods", nargs="+", default=["bptt", "eprop"], choices=["bptt", "eprop"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=0, help="times only, side by side in one process")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.repeats:
        for steps in args.steps:
            print(json.dumps(side_by_side(steps, args.batch, args.threads, args.repeats)), flush=True)
        return 0
    if args.one:
        print(json.dumps(measure(args.methods[0], args.steps[0], args.batch, args.threads)))
        return 0
    for method in args.methods:
        for steps in args.steps:
            command = [sys.executable, __file__, "--one", "--methods", method, "--steps", str(steps),
                       "--batch", str(args.batch), "--threads", str(args.threads)]
            out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
            print(out.stdout.strip().splitlines()[-1], flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
