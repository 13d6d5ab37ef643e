"""Peak memory and time of one training batch of the memory task, BPTT against e-prop, at
several sequence lengths (docs/results.md, "e-prop").

``python scripts/eprop_memory.py --steps 2400 9600`` runs each (method, T) in a fresh process
and prints one row each: the growth of the process's peak resident memory during the batch
(``ru_maxrss`` after the batch minus before it; the batch and model are built before) and the
batch's wall time. BPTT is the default training step (the fused C++ loop when it is built),
e-prop ``learning=eprop`` (:class:`norse_core.EProp`).
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
    import torch
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from tasks.common import CONFIG_DIR
    from tasks.memory.data import store_recall_batch
    from tasks.memory.task import MemoryTask

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose(config_name="memory", overrides=[f"learning={method}"])
    kwargs = OmegaConf.to_container(cfg.task, resolve=True)
    kwargs.pop("_target_")
    task = MemoryTask(**kwargs)
    periods = steps // 200
    batch = store_recall_batch(batch_size, generator=torch.Generator().manual_seed(0), n_periods=periods,
                               max_delay=min(9, periods - 3))
    if method == "bptt":  # a short warm-up: the fused kernels' first call
        ce, reg, _, _ = task._losses(store_recall_batch(2, n_periods=12))
        (ce + reg).backward()
    task.zero_grad()
    before = _peak_mib()
    started = time.perf_counter()
    if method == "bptt":
        ce, reg, _, _ = task._losses(batch)
        (ce + task.reg_weight * reg).backward()
    else:
        task._eprop_gradients(batch)
    seconds = time.perf_counter() - started
    return {"method": method, "steps": steps, "batch": batch_size, "threads": threads,
            "peak_growth_mib": round(_peak_mib() - before, 1), "seconds": round(seconds, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[2400, 9600])
    parser.add_argument("--methods", nargs="+", default=["bptt", "eprop"], choices=["bptt", "eprop"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
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
