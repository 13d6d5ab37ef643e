"""Reliability (issue #9): resume after SIGKILL, seeds, non-finite values, checkpoint
compatibility, truncated data files, flat memory, DDP on the CPU and the Hydra launchers."""

from __future__ import annotations

import gc
import json
import os
import pickle
import shlex
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
from tasks.common.checks import NonFiniteError
from tasks.common.checkpoints import CheckpointMismatchError, check_checkpoint, load_checkpoint
from tasks.common.data import EpochShuffleSampler, ResumableLoader
from tasks.common.runner import train
from tests.helpers import REPO, compose_task, run_metrics
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
    assert saved["callbacks"]["ResumeState"]["train_loader"] == {"epoch": 1, "batches": 8}  # handed back on resume
    train(compose_task("mnist", [*TINY, TRACE, f"+callbacks.trace.path={tmp_path}/resumed.jsonl",
                                 f"ckpt_path={ckpt}"], output_dir=resumed))
    a, b = _trace(tmp_path / "full.jsonl"), _trace(tmp_path / "resumed.jsonl")
    assert sorted(b) == [20, 21, 22, 23]
    for step in b:  # same batch, same weights, same random state before every step
        assert (b[step]["y"], b[step]["params"], b[step]["rng"]) == (a[step]["y"], a[step]["params"], a[step]["rng"])
    assert run_metrics(resumed) == run_metrics(full)


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
    assert run_metrics(resumed_dir) == run_metrics(full_dir)
    assert set(run_metrics(full_dir)) >= {"val/acc", "val/loss", "test/acc", "test/loss"}


# -- seeds --------------------------------------------------------------------------------------
def test_same_seed_gives_identical_metrics(tmp_path):
    quick = [*TINY, "trainer.max_epochs=1", "++trainer.limit_train_batches=6"]
    first = train(compose_task("mnist", [*quick, "seed=11"], output_dir=tmp_path / "a"))
    second = train(compose_task("mnist", [*quick, "seed=11"], output_dir=tmp_path / "b"))
    other = train(compose_task("mnist", [*quick, "seed=12"], output_dir=tmp_path / "c"))
    assert first == second
    assert run_metrics(tmp_path / "a") == run_metrics(tmp_path / "b")
    assert run_metrics(tmp_path / "c") != run_metrics(tmp_path / "a")  # the seed matters
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
    assert cfg.trainer.limit_train_batches == 4 and cfg.trainer.max_epochs == 1  # plus the quick settings


# -- checkpoint compatibility ------------------------------------------------------------------
@pytest.fixture(scope="module")
def lif_checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lif")
    train(compose_task("mnist", [*TINY, "trainer.max_epochs=1", "++trainer.limit_train_batches=2", "test=false",
                                 "experiment=mnist", "model=lif", "net.channels=[4,8]", "net.hidden=16"],
                      output_dir=out))
    return out / "checkpoints" / "last.ckpt"


def test_own_checkpoints_load_with_weights_only(lif_checkpoint):
    checkpoint = load_checkpoint(lif_checkpoint)  # weights_only=True, the only default
    assert "state_dict" in checkpoint
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

    no_norm = build_task(compose_task("mnist", ["experiment=mnist", "net.channels=[4,8]", "net.hidden=16",
                                                   "net.batch_norm=false"]))
    with pytest.raises(CheckpointMismatchError) as info:
        check_checkpoint(lif_checkpoint, no_norm)
    message = str(info.value)
    assert "unexpected (only in the checkpoint): 15 (net.stem.1.weight; net.stem.1.bias" in message
    assert "missing" not in message


def test_eval_only_checks_the_checkpoint_too(lif_checkpoint, tmp_path):
    cfg = compose_task("mnist", [*TINY, "eval_only=true", "net.hidden=32", f"ckpt_path={lif_checkpoint}"],
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
    with pytest.raises(ValueError) as info:  # no fallback to the unsafe unpickler
        load_checkpoint(unsafe)
    message = str(info.value)
    assert "refused for safety" in message and f"holds {Opaque.__module__}.Opaque" in message
    assert "ckpt_trusted=true" in message and "\n" not in message
    loaded = load_checkpoint(unsafe, trusted=True)  # the explicit opt-in
    assert isinstance(loaded["extra"], Opaque)

    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(lif_checkpoint.read_bytes()[:5000])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_checkpoint(truncated)
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing.ckpt")


def test_trusted_checkpoint_with_objects_resumes_only_with_the_opt_in(lif_checkpoint, tmp_path):
    checkpoint = torch.load(lif_checkpoint, weights_only=True)
    checkpoint["extra"] = Opaque()
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save(checkpoint, unsafe)
    run = [*TINY, "++trainer.limit_train_batches=2", "test=false", "scheduler.name=none", "model=lif",
           "net.channels=[4,8]", "net.hidden=16", f"ckpt_path={unsafe}"]
    with pytest.raises(ValueError, match="ckpt_trusted=true"):
        train(compose_task("mnist", run, output_dir=tmp_path / "refused"))
    assert not (tmp_path / "refused" / "metrics.json").exists()
    train(compose_task("mnist", [*run, "ckpt_trusted=true"], output_dir=tmp_path / "trusted"))
    assert torch.load(tmp_path / "trusted" / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1


# -- checkpoints never execute code (issue 13) ---------------------------------------------------
class Payload:
    """Unpickling it creates ``marker`` (as ``os.system`` in a hostile checkpoint would)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def _payloads(tmp_path: Path) -> tuple:
    marker = tmp_path / "payload-ran"
    wrapped = tmp_path / "wrapped.ckpt"  # looks like a checkpoint, with the payload inside
    torch.save({"state_dict": {}, "epoch": 0, "extra": Payload(marker)}, wrapped)
    raw = tmp_path / "raw.ckpt"  # a bare pickle
    raw.write_bytes(pickle.dumps(Payload(marker)))
    return marker, [wrapped, raw]


def test_payload_checkpoint_never_runs_its_code(tmp_path):
    marker, payloads = _payloads(tmp_path)
    for payload in payloads:
        with pytest.raises(ValueError) as info:
            load_checkpoint(payload)
        assert str(payload) in str(info.value)
        if payload.stem == "wrapped":  # the safe unpickler names what it refused
            assert "refused for safety: it holds posix.system" in str(info.value)
            assert "ckpt_trusted=true" in str(info.value)
        cfg = compose_task("mnist", [*TINY, f"ckpt_path={payload}", f"data.data_dir={tmp_path / 'data'}"],
                           output_dir=tmp_path / payload.stem)
        with pytest.raises(ValueError, match=str(payload)):
            train(cfg)
        assert not marker.exists(), "unpickling the checkpoint ran its code"
        assert not (tmp_path / payload.stem / "metrics.json").exists()
    assert not (tmp_path / "data").exists()  # refused before the data preparation


@pytest.mark.parametrize("kind", ["text", "truncated", "list", "no_state_dict", "missing"])
def test_file_that_is_not_a_checkpoint_fails_in_one_line(kind, lif_checkpoint, tmp_path):
    path = tmp_path / f"{kind}.ckpt"
    if kind == "text":
        path.write_text("not a checkpoint\n")  # 17 bytes
    elif kind == "truncated":
        path.write_bytes(lif_checkpoint.read_bytes()[:4000])
    elif kind == "list":
        torch.save([torch.zeros(2)], path)
    elif kind == "no_state_dict":
        torch.save({"epoch": 3, "weights": torch.zeros(2)}, path)
    cfg = compose_task("mnist", [*TINY, "model=lif", "net.channels=[4,8]", "net.hidden=16", f"ckpt_path={path}"],
                       output_dir=tmp_path / "run")
    with pytest.raises(ValueError) as info:
        train(cfg)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert "expected a PyTorch Lightning checkpoint written by this project's runner" in message
    assert "ckpt_trusted" not in message  # nothing to trust: it is no checkpoint
    assert "checkpoints/last.ckpt" in message
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_checkpoint_of_another_neuron_model_is_refused_unless_weights_only(lif_checkpoint, tmp_path):
    """lif and lifbox have the same parameter keys: the checkpoint's choices decide."""
    run = [*TINY, "experiment=mnist", "trainer.max_epochs=1", "++trainer.limit_train_batches=2", "test=false",
           "net.channels=[4,8]",
           "net.hidden=16", f"ckpt_path={lif_checkpoint}"]
    with pytest.raises(CheckpointMismatchError) as info:
        train(compose_task("mnist", [*run, "model=lifbox"], output_dir=tmp_path / "lifbox"))
    message = str(info.value)
    assert "saved with model=lif, this run has model=lifbox" in message and "ckpt_weights_only=true" in message
    with pytest.raises(CheckpointMismatchError, match="saved with surrogate=super, this run has surrogate=triangle"):
        train(compose_task("mnist", [*run, "surrogate=triangle"], output_dir=tmp_path / "triangle"))
    with pytest.raises(CheckpointMismatchError, match="saved with encoder=direct, this run has encoder=poisson"):
        train(compose_task("mnist", [*run, "encoder=poisson"], output_dir=tmp_path / "poisson"))
    for name in ("lifbox", "triangle", "poisson"):
        assert not (tmp_path / name / "metrics.json").exists()

    # weights only: accepted, and the weights are the checkpoint's
    assert train(compose_task("mnist", [*run, "model=lifbox", "ckpt_weights_only=true"],
                              output_dir=tmp_path / "weights")) is not None
    evaluate = [*TINY, "experiment=mnist", "net.channels=[4,8]", "net.hidden=16", f"ckpt_path={lif_checkpoint}",
                "eval_only=true"]
    train(compose_task("mnist", evaluate, output_dir=tmp_path / "full"))
    train(compose_task("mnist", [*evaluate, "ckpt_weights_only=true"], output_dir=tmp_path / "only"))
    assert run_metrics(tmp_path / "only") == run_metrics(tmp_path / "full")
    assert "test/acc" in run_metrics(tmp_path / "full")


# -- bad config input gets a clear error before any work (issue 13) ----------------------------
@pytest.fixture
def no_data_preparation(monkeypatch):
    """Fails the test when a data module prepares its data."""
    from tasks.mnist.data import MNISTDataModule

    def prepare_data(self):
        raise AssertionError("the data preparation ran")

    monkeypatch.setattr(MNISTDataModule, "prepare_data", prepare_data)


@pytest.mark.parametrize("task,override,message", [
    ("mnist", "trainer.max_epochs=abc", "trainer.max_epochs='abc': expected an integer >= -1"),
    ("mnist", "++trainer.limit_train_batches=1.5", "trainer.limit_train_batches=1.5: expected an integer >= 0 or"),
    ("mnist", "trainer.log_every_n_steps=-3", "trainer.log_every_n_steps=-3: expected an integer >= 0"),
    ("mnist", "trainer.devices=zero", "trainer.devices='zero': expected a positive integer or -1"),
    ("mnist", "++trainer.precision=17", "trainer.precision=17: expected one of 64, 32, 16"),
    ("memory", "optimizer.lr=-1", "optimizer.lr=-1.0: expected a number > 0"),
    ("mnist", "net.dt=0", "net.dt=0.0: expected a number > 0.0"),
    ("memory", "data.batch_size=0", "data.batch_size must be an integer >= 1, got 0"),
    ("mnist", "seed=-1", "seed=-1: expected an integer from 0 to 4294967295"),
    ("mnist", "threads=two", "threads='two': expected an integer >= 1"),
    ("memory", "trainer.max_time=5min", "trainer.max_time='5min': expected a duration DD:HH:MM:SS"),
    ("cartpole", "algo.num_envs=0", "algo.num_envs=0: expected an integer >= 1"),
])
def test_bad_config_value_fails_before_any_work(task, override, message, tmp_path, no_data_preparation):
    data_dir = tmp_path / "data"
    extra = [f"data.data_dir={data_dir}"] if task == "mnist" else []
    cfg = compose_task(task, ["debug=default", override, *extra], output_dir=tmp_path / "run")
    with pytest.raises(ValueError) as info:
        train(cfg)
    assert message in str(info.value)
    assert not data_dir.exists() and not (tmp_path / "run").exists()


@pytest.mark.parametrize("task", ["mnist", "memory", "cartpole"])
def test_every_task_takes_the_checkpoint_keys_without_a_plus(task, tmp_path, no_data_preparation):
    # eval_only and ckpt_weights_only are keys of every task's config (docs/tasks.md: "every task"),
    # so the documented commands compose as written, and each without ckpt_path names the way out
    for key in ("eval_only", "ckpt_weights_only"):
        cfg = compose_task(task, ["debug=default", f"{key}=true"], output_dir=tmp_path / key)
        assert cfg[key] is True
        with pytest.raises(ValueError, match=f"{key}=true needs ckpt_path="):
            train(cfg)
        assert not (tmp_path / key).exists()


def test_several_bad_values_are_named_together(tmp_path, no_data_preparation):
    cfg = compose_task("mnist", ["trainer.max_epochs=abc", "optimizer.lr=0", f"data.data_dir={tmp_path}/data"],
                       output_dir=tmp_path / "run")
    with pytest.raises(ValueError) as info:
        train(cfg)
    lines = str(info.value).splitlines()
    assert lines == ["trainer.max_epochs='abc': expected an integer >= -1 or null",
                     "optimizer.lr=0.0: expected a number > 0.0"]  # typed: 0 is a float


def test_gpu_accelerator_without_a_gpu_names_the_way_out(tmp_path, no_data_preparation):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    for override in ("trainer.accelerator=gpu", "trainer=gpu"):
        cfg = compose_task("mnist", ["debug=default", override, f"data.data_dir={tmp_path}/data"],
                           output_dir=tmp_path / "run")
        with pytest.raises(ValueError) as info:
            train(cfg)
        message = str(info.value)
        assert "trainer.accelerator=gpu: no CUDA GPU is available on this machine" in message
        assert "trainer=cpu" in message and "trainer.accelerator=auto" in message
    assert not (tmp_path / "data").exists()


def test_unwritable_data_dir_is_one_line_naming_the_folder(tmp_path, synth, monkeypatch):  # noqa: F811
    from tasks.mnist.data import prepare_mnist

    (tmp_path / "afile").write_text("a file, not a folder")  # blocks writes below it, even as root
    folder = tmp_path / "afile" / "sub"
    with pytest.raises(OSError) as info:
        prepare_mnist(folder, sources=[never_called])
    message = str(info.value)
    assert "\n" not in message and str(folder) in message
    assert "choose a writable folder with data.data_dir=" in message and "fix the permissions" in message

    # the same through a run
    cfg = compose_task("mnist", [*TINY, f"data.data_dir={folder}"], output_dir=tmp_path / "run")
    with pytest.raises(OSError, match="choose a writable folder with data.data_dir="):
        train(cfg)

    # a corrupt file that cannot be deleted (a read-only folder)
    raw = install(tmp_path / "ro", synth)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"corrupt")
    real_unlink = Path.unlink

    def unlink(self, *args, **kwargs):
        if self.parent == raw:
            raise PermissionError(13, "Permission denied", str(self))
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    with pytest.raises(OSError) as info:
        prepare_mnist(tmp_path / "ro", sources=[never_called])
    message = str(info.value)
    assert "\n" not in message and str(raw) in message and "t10k-labels-idx1-ubyte" in message
    assert "Permission denied" in message and "data.data_dir=" in message


def _cli(args, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env.update(PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-m", "tasks.mnist", *args, f"data.data_dir={tmp_path / 'data'}",
         f"hydra.run.dir={tmp_path / 'run'}"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )


def test_command_line_shows_the_one_line_error_and_exits_non_zero(tmp_path):
    result = _cli(["trainer.max_epochs=abc"], tmp_path)
    assert result.returncode != 0
    assert "ConfigError: trainer.max_epochs='abc': expected an integer >= -1" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "data").exists()

    marker, payloads = _payloads(tmp_path)
    result = _cli([*TINY, f"ckpt_path={payloads[0]}"], tmp_path)
    assert result.returncode != 0
    assert f"CheckpointError: checkpoint {payloads[0]} was refused for safety" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not marker.exists(), "unpickling the checkpoint ran its code"


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
    # a leak grows the count; it may shrink when objects left by earlier tests in the same
    # process (logger threads, caches) are released while this loop runs
    assert tensors[1] <= tensors[0], f"live tensors: {tensors[0]} after 20 steps, {tensors[1]} after 200"
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
    assert tensors[1] <= tensors[0], f"live tensors: {tensors[0]} after 10 batches, {tensors[1]} after 60"  # as above
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
        assert "test/acc" in run_metrics(tmp_path / job)
