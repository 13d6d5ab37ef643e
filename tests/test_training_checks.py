"""The runner's training-health warnings (``tasks.common.checks.HealthCheck``), its use of
Lightning's public API only, and ``python -m tasks.<name> --help``."""

from __future__ import annotations

import re
from types import SimpleNamespace
import subprocess
import sys
import warnings

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

import norse_core as snn
from tasks.common.checks import HealthCheck, HealthWarning, support_width
from tests.helpers import REPO

STEPS, BATCH, NEURONS = 20, 8, 32


class FourLayers(pl.LightningModule):
    """Four spiking layers, each fed its own input (``x`` uniform in [0, 0.5]): ``silent``
    (no input), ``saturated`` (5 per step into integrate-and-fire neurons: a spike every
    step), ``narrow`` (a surrogate 1000 times sharper than the default: no voltage lies
    within its support) and ``healthy``."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.net = nn.ModuleDict({
            "silent": snn.LIF(), "saturated": snn.IAF(), "narrow": snn.IAF(snn.IAFParameters(alpha=1e5)),
            "healthy": snn.IAF(),
        })

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inputs = {"silent": 0 * x, "saturated": x + 5.0, "narrow": x, "healthy": x}
        return sum(self.net[name](inputs[name])[0].mean() for name in inputs) * self.scale

    def training_step(self, batch, batch_idx):
        return self(batch[0].transpose(0, 1))

    def validation_step(self, batch, batch_idx):
        self(batch[0].transpose(0, 1))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def _fit(module: pl.LightningModule, check: HealthCheck, epochs: int = 2) -> list:
    data = torch.utils.data.TensorDataset(0.5 * torch.rand(4 * BATCH, STEPS, NEURONS, generator=torch.Generator().manual_seed(0)))
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH)
    trainer = pl.Trainer(max_epochs=epochs, limit_train_batches=1, limit_val_batches=2, num_sanity_val_steps=0,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[check], accelerator="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(module, loader, loader)
    return [str(w.message) for w in caught if issubclass(w.category, HealthWarning)]


def test_silent_saturated_and_gradientless_layers_are_named_once_with_the_setting_to_change():
    module = FourLayers()
    messages = _fit(module, HealthCheck(gain="net.input_scale", threshold="net.neuron.v_th"), epochs=2)
    by_layer = {re.match(r"spiking layer '([\w.]+)'", m).group(1): m for m in messages}
    assert len(messages) == 3 and set(by_layer) == {"net.silent", "net.saturated", "net.narrow"}  # once, after epoch 0
    silent = by_layer["net.silent"]
    assert "(LIF)" in silent and "almost silent, 0.000% of its neurons fire" in silent
    assert "raise its input current (net.input_scale" in silent and "lower its threshold (net.neuron.v_th)" in silent
    assert "saturated, 100.0% of its neurons fire every step" in by_layer["net.saturated"]
    assert "lower its input current (net.input_scale) or raise its threshold (net.neuron.v_th)" in by_layer["net.saturated"]
    narrow = by_layer["net.narrow"]
    assert "outside the surrogate's support, 0.00% of them within 9e-05 of the threshold" in narrow
    assert "smaller surrogate.alpha" in narrow and "silent" not in narrow and "saturated" not in narrow
    # measured once: the hooks are gone, later epochs cost nothing
    assert all(not layer._forward_hooks for layer in module.net.values())


def test_a_layer_the_task_names_is_warned_about_by_that_name_with_its_own_setting():
    """With ``neuron_layers()`` (a task's names of its spiking layers), a warning names the
    layer as ``net.layers.<name>`` does and, while other layers are fine, suggests that key;
    when every layer has a problem, the setting for all of them (``net.neuron.v_th``)."""
    module = FourLayers()
    module.neuron_layers = lambda: {f"l{i}": layer for i, layer in enumerate(module.net.values())}
    by_layer = {m.split(" at ")[0]: m for m in _fit(module, HealthCheck())}
    assert set(by_layer) == {"spiking layer 'l0' (net.silent, LIF)", "spiking layer 'l1' (net.saturated, IAF)",
                             "spiking layer 'l2' (net.narrow, IAF)"}
    assert "lower its threshold (net.layers.l0.v_th)" in by_layer["spiking layer 'l0' (net.silent, LIF)"]
    assert "raise its threshold (net.layers.l1.v_th)" in by_layer["spiking layer 'l1' (net.saturated, IAF)"]
    alone = FourLayers()
    alone.net = nn.ModuleDict({"silent": snn.LIF()})
    alone.forward = lambda x: alone.net["silent"](0 * x)[0].mean() * alone.scale
    alone.neuron_layers = lambda: {"fc1": alone.net["silent"]}
    (message,) = _fit(alone, HealthCheck())
    assert message.startswith("spiking layer 'fc1' (net.silent, LIF)") and "lower its threshold (net.neuron.v_th)" in message


def test_the_threshold_setting_is_named_by_the_layers_own_field():
    check = HealthCheck(threshold="model.p.v_th")
    silent = lambda module: SimpleNamespace(module=module, outputs=1000, spikes=0, voltages=0)  # noqa: E731
    assert "lower its threshold (model.p.v_thresh)" in check.problems(silent(snn.CobaLIFCell(2, 3)))[0]
    assert "lower its threshold (model.p.v_th)" in check.problems(silent(snn.LIFCell()))[0]
    assert "lower its threshold (net.layers.fc1.v_thresh)" in check.problems(silent(snn.CobaLIFCell(2, 3)), "fc1")[0]


def test_a_healthy_layer_and_a_task_without_validation_give_no_warning():
    module = FourLayers()
    module.net = nn.ModuleDict({"healthy": snn.IAF()})
    module.forward = lambda x: module.net["healthy"](x)[0].mean() * module.scale
    assert _fit(module, HealthCheck()) == []
    assert _fit(FourLayers(), HealthCheck(), epochs=0) == []


def test_thresholds_are_checked():
    with pytest.raises(ValueError, match=r"HealthCheck: saturated must be a fraction in \[0, 1\], got 90"):
        HealthCheck(saturated=90)


@pytest.mark.parametrize("method, alpha, width", [("super", 100.0, 0.09), ("triangle", 1.0, 0.99),
                                                  ("heaviside", 1.0, 0.0)])
def test_support_width_is_where_the_surrogate_is_above_one_percent_of_its_peak(method, alpha, width):
    assert support_width(method, alpha) == pytest.approx(width, rel=1e-6)


# -- Lightning's public API only --------------------------------------------------------------
def test_tasks_use_no_private_lightning_attributes():
    """Private attributes of Lightning objects (``trainer._*``, ``fit_loop._*``, a
    ``ModelCheckpoint``'s ``self._*`` helpers) change without notice; a Lightning release must
    not be able to break resume without a failing test, so the runner uses none."""
    private = re.compile(r"(trainer|fit_loop|epoch_loop|strategy|connector)\._\w|_logger_connector|_combined_loader|"
                         r"self\._(save_last|save_topk|monitor_candidates|every_n|should_skip|should_save)")
    found = [f"{path.relative_to(REPO)}:{n}: {line.strip()}" for path in sorted((REPO / "tasks").rglob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if private.search(line) and not line.lstrip().startswith("#")]
    assert found == []


def test_precision_choices_are_lightnings():
    """``trainer.precision`` is checked against a copy of Lightning's choices (a private type,
    so not imported): a Lightning release that adds or drops one fails here, not a user's run."""
    import typing

    from lightning_fabric import connector

    from tasks.common.validation import PRECISIONS

    def choices(annotation) -> list:
        args = typing.get_args(annotation)
        return [c for a in args for c in (choices(a) if typing.get_args(a) else [a])]

    assert sorted(map(str, PRECISIONS)) == sorted(map(str, choices(connector._PRECISION_INPUT)))


# -- --help -----------------------------------------------------------------------------------
@pytest.mark.parametrize("task, says, options", [
    ("mnist", "classifies MNIST digits", ["experiment=mnist_plif_b64", "model=plif", "surrogate=super_wide", "encoder=direct",
                                          "net.hidden=256", "trainer.max_epochs=16", "data.batch_size=64"]),
    ("memory", "store and recall", ["model=lsnn", "net.n_adaptive=10", "net.neuron.v_th=0.5"]),
    ("cartpole", "CartPole-v1", ["env=cartpole", "algo.name=ppo", "net.hidden=64"]),
])
def test_help_says_what_the_task_is_and_shows_the_main_options_with_defaults(task, says, options):
    result = subprocess.run([sys.executable, "-m", f"tasks.{task}", "--help", "seed=5"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    assert text.startswith(f"tasks.{task}: ") and says in text
    assert all(option in text for option in options), text[:1500]
    assert "seed=5" in text  # overrides show in the help
    assert "== Config groups" in text and "surrogate: " in text and "powered by Hydra" not in text
