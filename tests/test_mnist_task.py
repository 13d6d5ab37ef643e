"""The MNIST runner end to end: configs, short real runs, TensorBoard content, multirun,
Optuna, resume, and the unknown-choice error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from hydra.errors import ConfigCompositionException

from scripts import results_table
from tasks.common.builders import find_setting
from tasks.common.errors import ConfigError
from tasks.common.runner import build_block, train
from tests.helpers import REPO, compose_task, event_tags, run_metrics

QUICK = ["debug=default", "threads=2"]
GROUPS = ["model", "encoder", "surrogate", "trainer", "logger", "callbacks", "debug", "hparams_search"]


def _options(group: str):
    return sorted(p.stem for p in (REPO / "conf" / group).glob("*.yaml"))


def _run(args, cwd=REPO, timeout=300):
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-m", "tasks.mnist", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in _options(g)])
def test_every_config_option_composes_and_resolves(group, option, tmp_path):
    cfg = compose_task("mnist", [f"{group}={option}"], output_dir=tmp_path)
    container = OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert container["paths"]["output_dir"] == str(tmp_path)
    if group == "model":
        assert container["model"]["name"] == option
        assert find_setting(container["task"]["model"], "method") == container["surrogate"]["method"]
    if group == "surrogate":  # the option's method (super_wide: SuperSpike at another alpha)
        method = OmegaConf.load(REPO / "conf" / "surrogate" / f"{option}.yaml").method
        assert find_setting(container["model"], "method") == method and container["surrogate"]["method"] == method
    if group == "trainer" and option != "default":
        assert container["trainer"]["accelerator"] in {"cpu", "gpu"}


def test_options_cover_the_issue():
    assert {"lif", "lifbox", "iaf", "lsnn", "izhikevich", "lif_ex", "lif_adex", "lif_refrac", "coba_lif"} <= set(
        _options("model")
    )
    assert {"constant_current", "poisson", "latency", "direct"} <= set(_options("encoder"))
    assert {"super", "superspike", "triangle", "tanh", "circ", "heavi_erfc", "logistic", "atan", "sigmoid",
            "heaviside"} <= set(_options("surrogate"))
    assert {"default", "cpu", "gpu", "ddp", "ddp_spawn"} <= set(_options("trainer"))
    assert {"tensorboard", "csv"} <= set(_options("logger"))


def test_gpu_trainer_config_asks_lightning_for_a_gpu(tmp_path):
    cfg = compose_task("mnist", ["model=lif", "trainer.accelerator=gpu"], output_dir=tmp_path)
    assert cfg.trainer.accelerator == "gpu"
    if not torch.cuda.is_available():  # no GPU here: Lightning must refuse, not silently use the CPU
        from hydra.utils import instantiate

        with pytest.raises(Exception, match="(?i)gpu|cuda"):
            instantiate(cfg.trainer)


@pytest.mark.parametrize("model", _options("model"))
def test_short_run_logs_everything(model, tmp_path):
    cfg = compose_task("mnist", [*QUICK, f"model={model}"], output_dir=tmp_path)
    value = train(cfg)
    assert value is not None and 0.0 <= value <= 1.0
    tags = event_tags(tmp_path / "tensorboard")
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "test/acc", "hp/val_acc"} <= tags["scalars"]
    assert {f"train/spike_rate/{layer}" for layer in ("conv1", "conv2", "fc1")} <= tags["scalars"]
    assert {"raster/conv1", "raster/conv2", "raster/fc1", "voltages"} <= tags["images"]
    assert {"firing_rate/conv1", "firing_rate/fc1"} <= tags["histograms"]
    assert {"weights/net.stem.0.weight", "weights/net.body.5.lifted_module.weight"} <= tags["histograms"]
    assert "_hparams_/experiment" in tags["hparams"]
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert summary["metrics"]["val/acc"] == pytest.approx(value)  # the optimised metric returned
    assert 0.0 <= summary["metrics"]["test/acc"] <= 1.0 and summary["date"] and "CPUs" in summary["machine"]
    table = results_table.rows([tmp_path], ["test/acc", "val/acc"])
    assert table[0].startswith("| command | overlay | test/acc | val/acc |")
    assert f"{100 * summary['metrics']['test/acc']:.2f}%" in table[2]


def test_bf16_mixed_precision_trains(tmp_path):
    """``trainer.precision=bf16-mixed``: Lightning's CPU autocast; the convolutions and linear
    layers run in bfloat16, the neuron layers in float32 (their fused kernels)."""
    cfg = compose_task(
        "mnist", [*QUICK, "trainer.precision=bf16-mixed", "callbacks=none", "logger=csv",
                  "trainer.limit_train_batches=2"], output_dir=tmp_path,
    )
    value = train(cfg)
    assert value is not None and 0.0 <= value <= 1.0


@pytest.mark.parametrize("encoder", ["constant_current", "poisson", "latency"])
def test_spike_encoders_run(encoder, tmp_path):
    cfg = compose_task(
        "mnist", [*QUICK, f"encoder={encoder}", "callbacks=none", "logger=csv", "trainer.limit_train_batches=2"],
        output_dir=tmp_path,
    )
    assert train(cfg) is not None
    assert (tmp_path / "csv" / "metrics.csv").exists()


def test_resume_from_checkpoint(tmp_path):
    # train 1 epoch, then continue to 2 (no one-cycle schedule: its length is fixed at the start)
    quick = [*QUICK, "test=false", "scheduler.name=none"]
    first = tmp_path / "first"
    train(compose_task("mnist", quick, output_dir=first))
    ckpt = first / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=False)["epoch"] == 0
    second = tmp_path / "second"
    train(compose_task("mnist", [*quick, "trainer.max_epochs=2", f"ckpt_path={ckpt}"], output_dir=second))
    resumed = torch.load(second / "checkpoints" / "last.ckpt", weights_only=False)
    assert resumed["epoch"] == 1
    assert resumed["global_step"] == 8  # 4 batches restored + 4 new ones


def test_multirun_two_jobs(tmp_path):
    result = _run(["-m", "model=lif,lifbox", *QUICK, "callbacks=none", f"hydra.sweep.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir() and p.name.isdigit())
    assert jobs == ["0", "1"]
    for job in jobs:
        assert event_tags(tmp_path / job / "tensorboard")["scalars"] >= {"val/acc", "test/acc"}
    assert OmegaConf.load(tmp_path / "1" / ".hydra" / "overrides.yaml") is not None
    assert "model=lifbox" in (tmp_path / "1" / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.slow
def test_zoo_multirun_gives_one_row_per_model(tmp_path):
    """The zoo command of docs/results.md (a glob over the model group) on a debug budget: every
    run records its seconds per epoch, and results_table --zoo makes one row per model."""
    result = _run(["-m", "experiment=mnist", "model=glob(*lif,exclude=[coba_lif])", *QUICK, "callbacks=none",
                   "logger=csv", f"hydra.sweep.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = [json.loads((tmp_path / job / "metrics.json").read_text()) for job in ("0", "1")]
    assert sorted(s["model"] for s in summaries) == ["lif", "plif"]
    assert [s["experiment"] for s in summaries] == ["mnist", "mnist"]  # the overlay composed, for the rows
    assert all(len(s["epoch_seconds"]) == 1 and s["epoch_seconds"][0] > 0 for s in summaries)
    table = results_table.zoo_rows(results_table._run_dirs([str(tmp_path)], zoo=True), ["test/acc"])
    assert [row.split(" | ")[0] for row in table[2:]] == ["| `lif`", "| `plif`"], table


def test_optuna_search_returns_the_metric(tmp_path):
    result = _run(["-m", "hparams_search=mnist_optuna", *QUICK, "callbacks=none", "logger=csv",
                   "hydra.sweeper.n_trials=2", "hydra.sweeper.sampler.n_startup_trials=1",
                   f"hydra.sweep.dir={tmp_path}"])
    assert result.returncode == 0, result.stderr[-3000:]
    best = OmegaConf.load(tmp_path / "optimization_results.yaml")
    assert 0.0 <= best.best_value <= 1.0
    assert set(best.best_params) == {"optimizer.lr", "surrogate.alpha", "net.seq_length"}


def test_unknown_choice_fails_with_the_choices():
    result = _run(["model=no_such_model"], timeout=120)
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert "Could not find 'model/no_such_model'" in message
    assert "Available options in 'model'" in message and "lifbox" in message


# -- typed blocks: net, data, optimizer, scheduler (tasks/mnist/__init__.py) ----------------------------
@pytest.mark.parametrize("override,words", [
    ("net.hiden=3", ["full_key: net.hiden", "not in 'MNISTNet'"]),
    ("net.hidden=abc", ["full_key: net.hidden", "'abc' of type 'str' could not be converted to Integer"]),
    ("net.channels=[32,x]", ["full_key: net.channels", "Integer"]),
    ("net.decoder=median", ["full_key: net.decoder", "expected one of [max, mean]"]),
    ("net.readout.tau_mem_inv=fast", ["full_key: net.readout.tau_mem_inv", "Float"]),
    ("data.batch_sise=64", ["full_key: data.batch_sise", "not in 'MNISTData'"]),
    ("data.normalize=maybe", ["full_key: data.normalize", "not a valid bool"]),
    ("data.shift=1.5", ["full_key: data.shift", "could not be converted to Integer"]),
    ("net.trainable_per=pixel", ["full_key: net.trainable_per", "expected one of [layer, channel, neuron]"]),
    ("optimizer.name=adamx", ["full_key: optimizer.name", "expected one of [adam, adamw, sgd]"]),
    ("scheduler.step_size=1.5", ["full_key: scheduler.step_size", "Integer"]),
])
def test_a_misspelled_or_mistyped_key_fails_at_composition(override, words):
    with pytest.raises(ConfigCompositionException) as info:
        compose_task("mnist", [override])
    message = f"{info.value}\n{info.value.__cause__}"
    assert [w for w in words if w not in message] == [], message


@pytest.mark.parametrize("override,message", [
    ("data.batch_size=-1", "data.batch_size must be an integer >= 1, got -1"),
    ("data.eval_batch_size=0", "data.eval_batch_size must be an integer >= 1, got 0"),
    ("data.num_workers=-2", "data.num_workers must be an integer >= 0, got -2"),
    ("data.val_size=60000", "data.val_size must be an integer with 0 <= val_size <= 59999, got 60000"),
    ("data.shift=-1", "data.shift must be an integer with 0 <= shift <= 27, got -1"),
    ("net.seq_length=0", "net.seq_length must be a positive int, got 0"),
    ("net.dropout=1.0", "net.dropout must be in [0, 1), got 1.0"),
    ("net.channels=[32]", "net.channels must have two or three entries (conv1, conv2[, conv3]), got [32]"),
    ("net.trainable=[tau_mem]", "net.trainable must name numeric parameters of LIFParameters (tau_syn_inv, "
                                "tau_mem_inv, v_leak, v_th, v_reset, alpha), got 'tau_mem'"),
    ("model.trainable=[tau]", "model.trainable must name numeric parameters of LIFParameters (tau_syn_inv, "
                              "tau_mem_inv, v_leak, v_th, v_reset, alpha), got 'tau'"),  # plif's, the default
    ("+net.hiden=3", "net.hiden: not a key of MNISTNet; allowed: batch_norm, channels, decoder, dropout, dt, gain"),
    ("task.label_smoothing=1.0", "task.label_smoothing must be a number with 0 <= label_smoothing < 1, got 1.0"),
    ("task.tta_shift=5", "task.tta_shift must be an integer with 0 <= tta_shift <= 4, got 5"),
    ("task.tta_shift=true", "task.tta_shift must be an integer with 0 <= tta_shift <= 4, got True (bool)"),
])
def test_a_value_out_of_range_fails_before_any_data_work_naming_the_key(override, message, tmp_path):
    cfg = compose_task("mnist", [override, f"data.data_dir={tmp_path}/data"], output_dir=tmp_path / "run")
    with pytest.raises(ConfigError) as info:
        train(cfg)
    assert message in str(info.value)
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()


def test_plif_trains_its_time_constants_on_the_fused_path():
    """model=plif: one trainable tau_mem_inv per spiking layer, in the optimizer, with a
    gradient from the fused kernels (not the step loop), changed by a step."""
    from norse_core.fused import record_kernels

    torch.manual_seed(0)
    task = build_block(compose_task("mnist", ["model=plif", "scheduler.name=none", "net.hidden=32",
                                              "optimizer.neuron_lr=0.5", "optimizer.weight_decay=0.1"]), "task")
    taus = {name: task.net.layer(name).p_tau_mem_inv for name in ("conv1", "conv2", "fc1")}
    assert all(t.shape == () and float(t) == 100.0 for t in taus.values())
    optimizer = task.configure_optimizers()
    weights, neurons = optimizer.param_groups  # the time constants in a group of their own, no weight decay
    assert {id(t) for t in taus.values()} == {id(p) for p in neurons["params"]}
    assert (neurons["lr"], neurons["weight_decay"], weights["lr"], weights["weight_decay"]) == (0.5, 0.0, 0.002, 0.1)
    assert len(weights["params"]) + 3 == len(list(task.parameters()))
    images, labels = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0)), torch.arange(8)
    with record_kernels() as calls:
        torch.nn.functional.cross_entropy(task(images), labels).backward()
    assert [c for c in calls if c.startswith("LIF")] and len([c for c in calls if c.startswith("LIF")]) == 3, calls
    assert all(t.grad is not None and float(t.grad.abs()) > 0 for t in taus.values())
    optimizer.step()
    steps = [abs(float(t) - 100.0) for t in taus.values()]
    assert all(0 < step <= 0.5 + 1e-4 for step in steps) and max(steps) > 0.2, steps  # Adam's first step: <= neuron_lr


@pytest.mark.parametrize("per,shapes", [
    ("channel", [(32, 1, 1), (64, 1, 1), (256,)]),
    ("neuron", [(32, 12, 12), (64, 4, 4), (256,)]),
])
def test_trainable_neuron_parameters_per_channel_or_neuron(per, shapes):
    task = build_block(compose_task("mnist", ["experiment=mnist", "net.trainable=[tau_mem_inv,v_th]",
                                                f"net.trainable_per={per}"]), "task")
    assert task.hparams.model["name"] == "lif"  # net.trainable works with any model
    for name, shape in zip(("conv1", "conv2", "fc1"), shapes):
        layer = task.net.layer(name)
        assert layer.p_tau_mem_inv.shape == layer.p_v_th.shape == shape
    # net.trainable=[] turns plif's off
    plain = build_block(compose_task("mnist", ["model=plif", "net.trainable=[]"]), "task")
    assert not [n for n, _ in plain.named_parameters() if ".p_" in n]


def test_a_third_convolution_adds_the_spiking_layer_conv3():
    """net.channels with three entries: a 3x3 convolution (padding 1) on the 4x4 maps and its
    spiking layer conv3 before fc1, with its own settings (net.layers.conv3), trainable
    parameters of its shape and its own fused kernel call."""
    from norse_core.fused import record_kernels

    task = build_block(compose_task("mnist", ["model=plif", "net.channels=[8,16,24]", "net.hidden=32",
                                              "net.trainable_per=channel", "net.layers.conv3.v_th=0.7"]), "task")
    assert task.net.spiking_layers() == ["conv1", "conv2", "conv3", "fc1"]
    assert list(task.neuron_layers()) == ["conv1", "conv2", "conv3", "fc1"]
    assert [float(task.net.layer(n).p.v_th) for n in ("conv2", "conv3")] == [1.0, 0.7]
    assert [tuple(task.net.layer(n).p_tau_mem_inv.shape) for n in ("conv2", "conv3", "fc1")] == [(16, 1, 1), (24, 1, 1), (32,)]
    conv3 = [m for m in task.net.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    assert (conv3.in_channels, conv3.out_channels, conv3.kernel_size, conv3.padding) == (16, 24, (3, 3), (1, 1))
    images = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert task.net(images, record=True)[1]["spikes/conv3"].shape == (8, 4, 24, 4, 4)
    with record_kernels() as calls:
        logits = task(images)
        logits.sum().backward()
    assert logits.shape == (4, 10) and len([c for c in calls if c.startswith("LIF")]) == 4, calls
    assert float(task.net.layer("conv3").p_tau_mem_inv.grad.abs().sum()) > 0


def test_dropout_zeroes_the_same_inputs_at_every_step_while_training():
    """net.dropout: one mask per sample for all time steps, before fc1's and the readout's linear
    layers, scaled by 1 / (1 - p); the identity in eval; the spiking layers keep their names."""
    from tasks.mnist.model import TimeDropout

    drop = TimeDropout(0.25)
    x = torch.ones(6, 50, 40)
    y = drop(x)
    assert torch.equal(y, y[:1].expand_as(y))  # the same mask at every step
    assert torch.equal(y.unique(), torch.tensor([0.0, 4 / 3])) and 0.15 < float((y == 0).float().mean()) < 0.35
    assert torch.equal(drop.eval()(x), x)
    assert torch.equal(TimeDropout(0.0).train()(x), x)
    task = build_block(compose_task("mnist", ["net.dropout=0.5", "net.hidden=32"]), "task")
    drops = [m for m in task.net.body if isinstance(m, TimeDropout)]
    assert [d.p for d in drops] == [0.5, 0.5] and task.net.spiking_layers() == ["conv1", "conv2", "fc1"]
    images = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    spikes = task.net(images, record=True)[1]
    assert spikes["spikes/fc1"].shape == (8, 4, 32) and spikes["spikes/conv2"].shape == (8, 4, 64, 4, 4)
    task.eval()
    assert torch.equal(task(images), task(images))  # no dropout in eval
    task.train()
    torch.manual_seed(0)
    first = task(images)
    torch.manual_seed(1)
    assert not torch.equal(first, task(images))


def test_trainable_names_nested_parameters():
    from tasks.common.builders import trainable_options
    import norse_core as snn

    options = trainable_options(snn.LIFRefracParameters(), ["tau_mem_inv", "rho_reset"], "channel", (4, 3))
    assert options == {"trainable": ("lif.tau_mem_inv", "rho_reset"), "trainable_shape": (4, 1)}
    layer = snn.LIFRefrac(snn.LIFRefracParameters(), **options)
    assert layer.p_lif_tau_mem_inv.shape == (4, 1)
    assert trainable_options(snn.LIFParameters(), [], "neuron", (4,)) == {}
    with pytest.raises(ValueError, match="trainable_per must be one of layer, channel, neuron, got 'pixel'"):
        trainable_options(snn.LIFParameters(), ["v_th"], "pixel", (4,))


def test_typed_blocks_take_their_defaults_from_the_constructors(tmp_path):
    """A key left out of conf/mnist.yaml is the constructor's default, spelled out in the
    composed config; the blocks still build a plain-argument data module and task."""
    cfg = compose_task("mnist", output_dir=tmp_path)
    assert cfg.data.pin_memory is False and cfg.scheduler.step_size is None  # not in conf/mnist.yaml
    assert str(cfg.net.decoder) != "max" and OmegaConf.to_container(cfg.net, enum_to_str=True)["decoder"] == "max"
    data = build_block(cfg, "data")
    assert (data.batch_size, data.pin_memory) == (64, False)  # the default overlay, mnist_plif_b64
    task = build_block(compose_task("mnist", ["net.decoder=mean", "net.hidden=16"]), "task")
    assert task.hparams.net["decoder"] == "mean" and type(task.hparams.net["decoder"]) is str
    assert task.net.decoder == "mean"


def test_cli_names_a_mistyped_key():
    result = _run(["net.hidden=abc"], timeout=120)
    assert result.returncode != 0
    assert "full_key: net.hidden" in result.stderr and "could not be converted to Integer" in result.stderr


def test_conv_snn_takes_neuron_layers_without_norse_core_parameters():
    """scripts/bench_neurons.py (section 6) builds the task's network with other libraries'
    neuron layers and parameters ``None``; nothing asks those for trainable parameters."""
    from tasks.mnist.model import ConvSNN

    class Rectifier(torch.nn.Module):
        def __init__(self, p, dt):
            super().__init__()
            assert p is None

        def forward(self, x, state=None):
            return torch.relu(x), state

    logits, _ = ConvSNN(Rectifier, None, seq_length=2)(torch.rand(3, 1, 28, 28))
    assert logits.shape == (3, 10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("shape", [(6, 3, 8, 8), (2, 4, 7, 9)])
def test_fast_max_pool_equals_max_pool(dtype, shape):
    """The task network's pooling (channels-last forward, contiguous backward) gives
    ``F.max_pool2d``'s outputs and gradients, also for odd sizes, ties and strided inputs."""
    from tasks.mnist.model import FastMaxPool2d

    g = torch.Generator().manual_seed(0)
    base = torch.randn(shape[0], shape[1], shape[2], shape[3] * 2, generator=g).to(dtype)
    base[0, 0, :2, :2] = 1.0  # a tie in one window: both kernels route its gradient to the first maximum
    for x in (base[..., : shape[3]].contiguous(), base[..., ::2]):  # contiguous and strided
        pooled = []
        for pool in (FastMaxPool2d(2), torch.nn.MaxPool2d(2)):
            leaf = x.detach().clone().requires_grad_()
            out = pool(leaf)
            out.backward(torch.arange(out.numel(), dtype=dtype).reshape(out.shape))
            pooled.append((out, leaf.grad))
        (out, grad), (ref, ref_grad) = pooled
        assert out.is_contiguous() and torch.equal(out, ref) and torch.equal(grad, ref_grad)
    leaf = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)  # no ties
    assert torch.autograd.gradcheck(FastMaxPool2d(2), (leaf,))


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_label_smoothing_and_test_time_augmentation():
    """task.label_smoothing enters the training loss only; task.tta_shift=s adds test/acc_tta,
    the accuracy of the class probabilities averaged over the image and its copies moved by s px."""
    import torch.nn.functional as F
    from tasks.common.data import translate_images

    torch.manual_seed(0)
    task = build_block(compose_task("mnist", ["net.hidden=16", "net.gain=20", "task.label_smoothing=0.2", "task.tta_shift=2"]), "task")
    g = torch.Generator().manual_seed(1)
    images, labels = torch.randn(16, 1, 28, 28, generator=g), torch.randint(0, 10, (16,), generator=g)
    logits = task.net(images)[0]
    loss = task.training_step((images, labels), 0)
    assert torch.allclose(loss, F.cross_entropy(logits, labels, label_smoothing=0.2))
    assert not torch.allclose(loss, F.cross_entropy(logits, labels))
    task.eval()
    with torch.no_grad():
        task.test_step((images, labels), 0)
        views = [translate_images(images, dy, dx) for dy, dx in ((0, 0), (-2, 0), (2, 0), (0, -2), (0, 2))]
        probs = torch.stack([task.net(v)[0].softmax(-1) for v in views]).mean(0)
        plain = task.net(images)[0]
    assert float(task.test_acc_tta.compute()) == pytest.approx(float((probs.argmax(-1) == labels).float().mean()))
    assert float(task.test_acc.compute()) == pytest.approx(float((plain.argmax(-1) == labels).float().mean()))
    assert len(set(plain.argmax(-1).tolist())) > 2  # the network tells the images apart
    assert not torch.equal(probs.argmax(-1), plain.argmax(-1))  # the views change some answers


def test_tta_shift_logs_test_acc_tta(tmp_path):
    cfg = compose_task("mnist", [*QUICK, "task.tta_shift=1", "task.label_smoothing=0.1", "callbacks=none",
                                 "logger=csv", "trainer.limit_train_batches=2"], output_dir=tmp_path)
    train(cfg)
    metrics = run_metrics(tmp_path)
    assert 0.0 <= metrics["test/acc_tta"] <= 1.0 and 0.0 <= metrics["test/acc"] <= 1.0
