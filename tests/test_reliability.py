"""Reliability (issue #9): resume after SIGKILL, seeds, non-finite values, checkpoint
compatibility, truncated data files, flat memory, DDP on the CPU and the Hydra launchers."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

import norse_core as snn
from tasks.common import CONFIG_DIR
from tasks.common.callbacks import NonFiniteError
from tasks.common.checkpoints import CheckpointMismatchError, check_checkpoint, load_checkpoint
from tasks.common.data import EpochShuffleSampler, ResumableLoader
from tasks.common.runner import train
from tests.helpers import REPO, compose_task
from tests.test_mnist_data import install, make_source, never_called, synth  # noqa: F401 (fixture)

# a small, quick, deterministic MNIST run: 2 epochs of 12 batches, last.ckpt every 5 steps
TINY = [
    "debug=default", "threads=1", "logger=csv", "callbacks.spike_monitor=null", "callbacks.progress_bar=null",
    "++trainer.limit_train_batches=12", "trainer.max_epochs=2", "data.eval_batch_size=100",
    "callbacks.step_checkpoint.every_n_train_steps=5", "trainer.deterministic=true",
    "++trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
    "net.channels=[8,16]", "net.hidden=32", "seed=7",
]
TRACE = "+callbacks.trace._target_=tests.support_callbacks.BatchTrace"


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())["metrics"]


def _trace(path: Path) -> dict:
    return {line["step"]: line for line in map(json.loads, path.read_text().splitlines())}


def _popen(args, run_dir: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    return subprocess.Popen(
        [sys.executable, "-m", "tasks.mnist", *args, f"hydra.run.dir={run_dir}"], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


# -- resume -----------------------------------------------------------------------------------
def test_resumable_loader_skips_the_seen_batches_in_the_same_order():
    data = torch.utils.data.TensorDataset(torch.arange(50.0))
    loader = ResumableLoader(data, batch_size=4, seed=3)
    loader.sampler.set_epoch(2)
    it = iter(loader)
    seen = [next(it)[0] for _ in range(5)]
    state = loader.state_dict()
    assert state == {"epoch": 2, "batches": 5}
    rest = [b[0] for b in it]
    fresh = ResumableLoader(data, batch_size=4, seed=3)
    fresh.load_state_dict(state)
    resumed = [b[0] for b in fresh]
    assert len(resumed) == len(rest) == 8
    assert all(torch.equal(a, b) for a, b in zip(resumed, rest))
    assert fresh.state_dict() == {"epoch": 2, "batches": 13}
    # the order depends on seed and epoch only; every epoch is a permutation
    sampler = EpochShuffleSampler(data, seed=3)
    assert torch.equal(sampler.order(2), torch.cat(seen + rest).long())
    assert not torch.equal(sampler.order(1), sampler.order(2))
    assert sorted(sampler.order(5).tolist()) == list(range(50))
    # the next epoch starts from its first batch again
    fresh.sampler.set_epoch(3)
    assert torch.equal(torch.cat([b[0] for b in fresh]).long(), sampler.order(3))


def test_resume_mid_epoch_in_process_matches_uninterrupted(tmp_path):
    """last.ckpt at step 20 (epoch 1, batch 8) of an uninterrupted run is what a run killed after
    step 20 leaves: resuming from it trains on the same batches with the same weights."""
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    ckpt = tmp_path / "step20.ckpt"
    train(compose_task("mnist", [*TINY, TRACE, f"+callbacks.trace.path={tmp_path}/full.jsonl",
                                 "+callbacks.snapshot._target_=tests.support_callbacks.SnapshotAt",
                                 "+callbacks.snapshot.step=20", f"+callbacks.snapshot.path={ckpt}"], output_dir=full))
    assert torch.load(full / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 24  # the end
    saved = torch.load(ckpt, weights_only=True)
    assert saved["global_step"] == 20 and saved["epoch"] == 1
    assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [{"epoch": 1, "batches": 8}]
    train(compose_task("mnist", [*TINY, TRACE, f"+callbacks.trace.path={tmp_path}/resumed.jsonl",
                                 f"ckpt_path={ckpt}"], output_dir=resumed))
    a, b = _trace(tmp_path / "full.jsonl"), _trace(tmp_path / "resumed.jsonl")
    assert sorted(b) == [20, 21, 22, 23]
    for step in b:  # same batch, same weights, same random state before every step
        assert (b[step]["y"], b[step]["params"], b[step]["rng"]) == (a[step]["y"], a[step]["params"], a[step]["rng"])
    assert _metrics(resumed) == _metrics(full)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tmp_path):
    """A real run is killed with SIGKILL in its second epoch (after step 17, last.ckpt from step
    15); rerun with ckpt_path=<run dir>/checkpoints/last.ckpt, it ends with exactly the metrics
    of an uninterrupted run with the same seed (CPU, deterministic)."""
    full_dir, killed_dir, resumed_dir = tmp_path / "full", tmp_path / "killed", tmp_path / "resumed"
    marker = tmp_path / "paused"
    full = _popen(TINY, full_dir)  # in parallel with the run to be killed
    killed = _popen([*TINY, "+callbacks.pause._target_=tests.support_callbacks.PauseAt",
                     "+callbacks.pause.step=17", f"+callbacks.pause.marker={marker}"], killed_dir)
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert killed.poll() is None, killed.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "the run never reached step 17"
        time.sleep(0.1)
    os.kill(killed.pid, signal.SIGKILL)
    assert killed.wait(timeout=60) == -signal.SIGKILL
    last = killed_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert (saved["global_step"], saved["epoch"]) == (15, 1)  # mid-epoch: batch 3 of epoch 1
    assert not (killed_dir / "metrics.json").exists()

    resumed = _popen([*TINY, f"ckpt_path={last}"], resumed_dir)
    out_resumed = resumed.communicate(timeout=300)[0]
    out_full = full.communicate(timeout=300)[0]
    assert resumed.returncode == 0, out_resumed[-3000:]
    assert full.returncode == 0, out_full[-3000:]
    assert "not resumable" not in out_resumed  # Lightning's warning for loaders without a state
    assert _metrics(resumed_dir) == _metrics(full_dir)
    assert set(_metrics(full_dir)) >= {"val/acc", "val/loss", "test/acc", "test/loss"}


# -- seeds --------------------------------------------------------------------------------------
def test_same_seed_gives_identical_metrics(tmp_path):
    quick = [*TINY, "trainer.max_epochs=1", "++trainer.limit_train_batches=6"]
    first = train(compose_task("mnist", [*quick, "seed=11"], output_dir=tmp_path / "a"))
    second = train(compose_task("mnist", [*quick, "seed=11"], output_dir=tmp_path / "b"))
    other = train(compose_task("mnist", [*quick, "seed=12"], output_dir=tmp_path / "c"))
    assert first == second
    assert _metrics(tmp_path / "a") == _metrics(tmp_path / "b")
    assert _metrics(tmp_path / "c") != _metrics(tmp_path / "a")  # the seed matters
    assert other is not None


# -- non-finite values --------------------------------------------------------------------------
QUICK_NAN = [*TINY, "trainer.max_epochs=1", "callbacks.model_checkpoint=null", "callbacks.step_checkpoint=null",
             "test=false"]


@pytest.mark.parametrize("check_states", [True, False])
def test_nan_in_a_layer_stops_training_naming_step_and_layer(tmp_path, check_states):
    # an infinite leak of the readout (net.body.6, LI) turns finite input into infinite, then NaN
    # voltages and NaN logits (a NaN parameter is refused when the layer is built); without the
    # per-step state check the layer is found by running the batch again
    cfg = compose_task("mnist", [*QUICK_NAN, "net.readout.v_leak=inf",
                                 f"callbacks.nonfinite_check.check_states={check_states}"], output_dir=tmp_path)
    with pytest.raises(NonFiniteError) as info:
        train(cfg)
    message = str(info.value)
    assert "non-finite loss (nan) at global step 0 (epoch 0, batch 0)" in message
    assert "'net.body.6' (LI; non-finite: output[0], output[1].v" in message
    assert "its inputs were finite" in message


def test_non_finite_state_with_finite_loss_is_caught(tmp_path):
    # an infinite leak and threshold: the voltage of the first layer is infinite, yet it never
    # spikes, so everything downstream and the loss stay finite
    cfg = compose_task("mnist", [*QUICK_NAN, "model.p.v_leak=inf", "model.p.v_th=inf"], output_dir=tmp_path)
    with pytest.raises(NonFiniteError) as info:
        train(cfg)
    message = str(info.value)
    assert "global step 0" in message and "'net.body.0' (LIF" in message
    assert "output[1].v" in message


def test_non_finite_input_batch_is_reported(tmp_path):
    cfg = compose_task("mnist", [*QUICK_NAN, "encoder.scale=1e39"], output_dir=tmp_path)  # overflows to inf
    with pytest.raises(NonFiniteError, match="its input was already non-finite|input batch"):
        train(cfg)


def test_anomaly_debug_config():
    cfg = compose_task("mnist", ["debug=anomaly"])
    assert cfg.trainer.detect_anomaly is True
    assert cfg.trainer.limit_train_batches == 4 and cfg.data.batch_size == 16  # plus the quick settings


# -- checkpoint compatibility ------------------------------------------------------------------
@pytest.fixture(scope="module")
def lif_checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lif")
    train(compose_task("mnist", [*TINY, "trainer.max_epochs=1", "++trainer.limit_train_batches=2", "test=false",
                                 "model=lif", "net.channels=[4,8]", "net.hidden=16"], output_dir=out))
    return out / "checkpoints" / "last.ckpt"


def test_own_checkpoints_load_with_weights_only(lif_checkpoint):
    checkpoint, weights_only = load_checkpoint(lif_checkpoint)
    assert weights_only is True and "state_dict" in checkpoint
    assert "ResumeState" in checkpoint["callbacks"]  # random states are stored as plain data


def test_checkpoint_of_another_config_fails_naming_the_keys(lif_checkpoint, tmp_path):
    cfg = compose_task("mnist", [*TINY, "model=lif", "net.channels=[8,16]", "net.hidden=16",
                                 f"ckpt_path={lif_checkpoint}"], output_dir=tmp_path)
    with pytest.raises(ValueError) as info:
        train(cfg)
    message = str(info.value)
    assert isinstance(info.value, CheckpointMismatchError)
    assert "different shapes (checkpoint -> model)" in message
    assert "net.stem.0.weight: (4, 1, 5, 5) -> (8, 1, 5, 5)" in message
    assert "saved with: model=lif net.channels=[4, 8] net.hidden=16" in message
    assert "this run's model has:" in message and "net.channels=[8, 16]" in message
    assert not (tmp_path / "metrics.json").exists()

    from tasks.common.runner import build_task

    no_norm = build_task(compose_task("mnist", ["net.channels=[4,8]", "net.hidden=16", "net.batch_norm=false"]))
    with pytest.raises(CheckpointMismatchError) as info:
        check_checkpoint(lif_checkpoint, no_norm)
    message = str(info.value)
    assert "unexpected (only in the checkpoint): 15 (net.stem.1.weight; net.stem.1.bias" in message
    assert "missing" not in message


def test_eval_only_checks_the_checkpoint_too(lif_checkpoint, tmp_path):
    cfg = compose_task("mnist", [*TINY, "+eval_only=true", "net.hidden=32", f"ckpt_path={lif_checkpoint}"],
                       output_dir=tmp_path)
    with pytest.raises(CheckpointMismatchError, match="net.hidden=16"):
        train(cfg)


class Opaque:  # not plain data: weights_only=True refuses it
    pass


def test_unsafe_or_truncated_checkpoint(lif_checkpoint, tmp_path):
    checkpoint = torch.load(lif_checkpoint, weights_only=True)
    checkpoint["extra"] = Opaque()
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save(checkpoint, unsafe)
    with pytest.warns(UserWarning, match="weights_only=False.*trust"):
        loaded, weights_only = load_checkpoint(unsafe)
    assert weights_only is False and isinstance(loaded["extra"], Opaque)

    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(lif_checkpoint.read_bytes()[:5000])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_checkpoint(truncated)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing.ckpt")


# -- data files -----------------------------------------------------------------------------------
def test_truncated_after_verification_with_cached_hash_is_refetched(tmp_path, synth):  # noqa: F811
    """The sidecar hash cache of an earlier, successful verification must not vouch for a file
    that was truncated since (even with its old mtime put back)."""
    from tasks.mnist.data import prepare_mnist

    raw = install(tmp_path, synth)
    old = 1_000_000_000 * 1_600_000_000
    for name in synth:
        os.utime(raw / name, ns=(old, old))
    prepare_mnist(tmp_path, sources=[never_called])  # verified, hashes cached
    name = "train-images-idx3-ubyte"
    (raw / name).write_bytes(synth[name][: len(synth[name]) // 2])
    os.utime(raw / name, ns=(old, old))
    calls: list = []
    prepare_mnist(tmp_path, sources=[make_source(synth, calls, "fake")])
    assert calls == [("fake", [name], [])]
    assert (raw / name).read_bytes() == synth[name]


# -- flat memory and graph size ---------------------------------------------------------------------
def _graph_size(tensor: torch.Tensor) -> int:
    seen, stack = set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_fn for next_fn, _ in node.next_functions)
    return len(seen)


@pytest.fixture
def one_thread():
    """Tiny tensors: more threads only add contention on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _live_tensors() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if issubclass(type(obj), torch.Tensor))


def _small_snn():
    torch.manual_seed(0)
    return snn.SequentialState(
        torch.nn.Linear(20, 32), snn.LIFCell(snn.LIFParameters(tau_mem_inv=300.0)),
        torch.nn.Linear(32, 32), snn.LSNNCell(), torch.nn.Linear(32, 5), snn.LICell(),
    )


@pytest.mark.parametrize("carry_state", [True, False])
def test_memory_and_graph_stay_flat_over_many_steps(carry_state, one_thread):
    net = _small_snn()
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3)
    x = torch.randn(16, 20) * 3
    state, sizes, memory, tensors = None, [], [], []
    tracemalloc.start()
    try:
        for step in range(200):
            out, new_state = net(x, snn.detach_state(state) if carry_state else None)
            loss = out.pow(2).mean()
            sizes.append(_graph_size(loss))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            state = new_state if carry_state else None
            if step in (20, 199):
                tensors.append(_live_tensors())
                memory.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert len(set(sizes[1:])) == 1, f"graph size changed over steps: {sorted(set(sizes))}"
    assert tensors[1] == tensors[0], f"live tensors: {tensors[0]} after 20 steps, {tensors[1]} after 200"
    assert memory[1] - memory[0] < 256 * 1024, f"Python memory grew by {memory[1] - memory[0]} bytes"

    # the check would notice a leak: states that are not detached chain the graphs together
    state, grown = None, []
    for _ in range(4):
        out, state = net(x, state)
        grown.append(_graph_size(out))
    assert grown[0] < grown[1] < grown[2] < grown[3]


def test_mnist_task_keeps_no_state_between_batches(one_thread):
    """The task starts every batch from fresh states: graph size and memory stay flat."""
    from tasks.common.runner import build_task

    task = build_task(compose_task("mnist", ["net.channels=[4,8]", "net.hidden=16", "net.seq_length=4"]))
    optimizer = torch.optim.Adam(task.parameters(), lr=1e-3)
    images, labels = torch.randn(8, 1, 28, 28), torch.arange(8) % 10
    sizes, memory, tensors = [], [], []
    tracemalloc.start()
    try:
        for step in range(60):
            logits, _ = task.net(images)
            loss = torch.nn.functional.cross_entropy(logits, labels)
            sizes.append(_graph_size(loss))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step in (10, 59):
                tensors.append(_live_tensors())
                memory.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert len(set(sizes)) == 1
    assert tensors[1] == tensors[0]
    assert memory[1] - memory[0] < 256 * 1024


# -- scaling out ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_ddp_spawn_trains_mnist_in_two_cpu_processes(tmp_path):
    proc = _popen(["trainer=ddp_spawn", "trainer.devices=2", "debug=default", "threads=1", "logger=csv",
                   "callbacks.spike_monitor=null", "callbacks.progress_bar=null", "net.channels=[8,16]",
                   "net.hidden=32", "data.eval_batch_size=100", "++trainer.enable_progress_bar=false"], tmp_path)
    output = proc.communicate(timeout=540)[0]
    assert proc.returncode == 0, output[-4000:]
    assert "distributed_backend=gloo" in output and "All distributed processes registered" in output
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert {"val/acc", "test/acc"} <= set(summary["metrics"])
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()


def _plugin_installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize(
    "launcher,plugin,target",
    [
        ("slurm", "hydra_plugins.hydra_submitit_launcher",
         "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
        ("local_parallel", "hydra_plugins.hydra_joblib_launcher",
         "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
    ],
)
def test_launcher_configs_compose(launcher, plugin, target):
    if not _plugin_installed(plugin):
        pytest.skip(f"{plugin} is not installed: pip install -e '.[launchers]'")
    overrides = [f"hydra/launcher={launcher}", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"]
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose(config_name="mnist", overrides=overrides, return_hydra_config=True)
    assert cfg.hydra.launcher._target_ == target
    if launcher == "slurm":
        assert (cfg.hydra.launcher.nodes, cfg.hydra.launcher.tasks_per_node, cfg.hydra.launcher.gpus_per_node) == (
            2, 4, 4)
        assert cfg.hydra.launcher.timeout_min > 0
    else:
        assert cfg.hydra.launcher.n_jobs == 2


@pytest.mark.slow
def test_local_parallel_sweep_runs_two_jobs(tmp_path):
    if not _plugin_installed("hydra_plugins.hydra_joblib_launcher"):
        pytest.skip("hydra-joblib-launcher is not installed: pip install -e '.[launchers]'")
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, "-m", "tasks.mnist", "-m", "hydra/launcher=local_parallel", "seed=1,2", "debug=default",
         "threads=1", "callbacks=none", "logger=csv", "net.channels=[4,8]", "net.hidden=16",
         "data.eval_batch_size=100", f"hydra.sweep.dir={tmp_path}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=540,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    for job in ("0", "1"):
        assert "test/acc" in _metrics(tmp_path / job)
