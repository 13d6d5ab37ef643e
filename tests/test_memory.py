"""The store/recall memory task: data generation, a short logged run, and learning."""

from __future__ import annotations

import pytest
import torch

from tasks.common.runner import train
from tasks.memory.data import RECALL, STORE, VALUE0, VALUE1, StoreRecallDataModule, store_recall_batch
from tasks.memory.task import MemoryTask
from tests.helpers import compose_task, event_tags, run_metrics

SMALL = dict(n_periods=6, period_steps=40, min_delay=1, max_delay=3, max_store_period=1)
# a tiny run of the task: 4 batches of 8 sequences of the SMALL shape
SHORT = ["debug=default", "data.batch_size=8", "data.val_size=8", "data.test_size=8",
         *(f"data.{key}={value}" for key, value in SMALL.items())]


def test_batch_shapes_population_coding_and_placement():
    batch = store_recall_batch(32, generator=torch.Generator().manual_seed(0))
    assert batch.spikes.shape == (12 * 200, 32, 20) and batch.recall_mask.shape == (2400, 32)
    assert batch.label.shape == batch.store_period.shape == (32,)
    assert torch.all(batch.recall_period - batch.store_period >= 3) and torch.all(batch.recall_period <= 11)
    # the label is the bit shown in the store period
    assert torch.equal(batch.label, batch.bits[torch.arange(32), batch.store_period])
    groups = batch.spikes.unflatten(-1, (4, 5)).unflatten(0, (12, 200)).sum(dim=(1, 4))  # (period, B, group)
    for b in range(32):
        s, r = int(batch.store_period[b]), int(batch.recall_period[b])
        assert groups[s, b, STORE] > 0 and groups[:, b, STORE].sum() == groups[s, b, STORE]
        assert groups[r, b, RECALL] > 0 and groups[:, b, RECALL].sum() == groups[r, b, RECALL]
        assert groups[r, b, VALUE0] == 0 and groups[r, b, VALUE1] == 0  # nothing to copy at recall
        for period in range(12):
            if period != r:
                shown = VALUE1 if batch.bits[b, period] else VALUE0
                assert groups[period, b, 1 - shown if shown in (0, 1) else shown] == 0
    assert torch.all(batch.recall_mask.float().sum(0) == 200)


def test_rates_match_the_settings():
    batch = store_recall_batch(256, generator=torch.Generator().manual_seed(1))
    shown = batch.spikes[..., :10].sum(-1) / 5  # value groups: one of them is on, 5 neurons
    on = ~batch.recall_mask
    assert (shown[on].mean() / 0.001).item() == pytest.approx(100.0, rel=0.05)
    store = batch.spikes[..., 10:15].sum((0, 2)) / 5 / 200 / 0.001
    assert store.mean().item() == pytest.approx(50.0, rel=0.1)


def test_determinism_and_bad_settings():
    a = store_recall_batch(4, generator=torch.Generator().manual_seed(3))
    b = store_recall_batch(4, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    dm1, dm2 = StoreRecallDataModule(batch_size=8, seed=5, **SMALL), StoreRecallDataModule(batch_size=8, seed=5, **SMALL)
    dm1.setup(), dm2.setup()
    assert torch.equal(next(iter(dm1.train_dataloader())).spikes, next(iter(dm2.train_dataloader())).spikes)
    assert torch.equal(dm1.test_batches[0].label, dm2.test_batches[0].label)
    with pytest.raises(ValueError, match="max_store_period \\+ max_delay = 14 must be < n_periods = 12"):
        store_recall_batch(2, max_delay=12)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        StoreRecallDataModule(batch_size=0)


def test_short_run_logs_figures(tmp_path):
    value = train(compose_task("memory", SHORT, output_dir=tmp_path))
    assert value is not None
    tags = event_tags(tmp_path / "tensorboard")
    assert {"train/loss", "train/recall_acc", "train/rate_hz", "val/recall_acc", "test/recall_acc",
            "hp/val_recall_acc"} <= tags["scalars"]
    assert {"sequence", "raster/input", "raster/hidden", "threshold/adaptive", "voltages"} <= tags["images"]


def test_eval_only_tests_a_saved_checkpoint_again(tmp_path):
    """``eval_only=true ckpt_path=...`` trains nothing and gives the test numbers of the run that
    saved the checkpoint (the test batches are fixed by the seed)."""
    train(compose_task("memory", SHORT, output_dir=tmp_path / "fit"))
    (best,) = (tmp_path / "fit" / "checkpoints").glob("epoch*.ckpt")
    train(compose_task("memory", [*SHORT, "eval_only=true", f"ckpt_path={best}"], output_dir=tmp_path / "eval"))
    fitted, evaluated = run_metrics(tmp_path / "fit"), run_metrics(tmp_path / "eval")
    assert evaluated["test/recall_acc"] == fitted["test/recall_acc"]
    assert not any(key.startswith("val/") for key in evaluated)  # no training, so no validation
    assert not (tmp_path / "eval" / "checkpoints").exists() or not any((tmp_path / "eval" / "checkpoints").iterdir())


def test_lif_model_runs_and_unsupported_model_is_refused(tmp_path):
    cfg = compose_task("memory", ["model=lif"], output_dir=tmp_path)
    from omegaconf import OmegaConf

    kwargs = OmegaConf.to_container(cfg.task, resolve=True, enum_to_str=True)
    kwargs.pop("_target_")
    task = MemoryTask(**kwargs)
    voltages, hidden, state = task(torch.zeros(50, 2, 20))
    assert voltages.shape == (50, 2, 2) and not hasattr(state, "b")
    kwargs["model"] = dict(kwargs["model"], name="iaf")
    with pytest.raises(ValueError, match="supports model=lsnn\\|lif, got model=iaf"):
        MemoryTask(**kwargs)


def test_tiny_lsnn_learns_short_delays(tmp_path):
    """Deterministic: a fixed seed, a short-delay variant, 120 Adam steps; chance is 50%."""
    from norse_core import fused

    fused.build_extension()  # the compiled recurrent loop (cached after the first build); else portable
    torch.manual_seed(0)
    cfg = compose_task("memory", [], output_dir=tmp_path)
    from omegaconf import OmegaConf

    kwargs = OmegaConf.to_container(cfg.task, resolve=True, enum_to_str=True)
    kwargs.pop("_target_")
    task = MemoryTask(**kwargs)
    opt = torch.optim.Adam(task.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(0)
    for _ in range(120):
        batch = store_recall_batch(32, generator=generator, **SMALL)
        ce, reg, acc, _ = task._losses(batch)
        opt.zero_grad()
        (ce + task.reg_weight * reg).backward()
        opt.step()
    test = store_recall_batch(512, generator=torch.Generator().manual_seed(99), **SMALL)
    with torch.no_grad():
        _, _, acc, _ = task._losses(test)
    assert acc > 0.8  # chance is 0.5


def test_learning_curve_plot_reads_tensorboard_logs(tmp_path):
    """scripts/plot_learning_curves.py (the figure in docs/results.md) reads a run's scalars."""
    import json

    from torch.utils.tensorboard import SummaryWriter

    from scripts import plot_learning_curves

    run = tmp_path / "run"
    writer = SummaryWriter(str(run / "tensorboard"))
    for step, value in enumerate([0.5, 0.7, 0.99]):
        writer.add_scalar("val/recall_acc", value, step * 100)
    writer.close()
    (run / "metrics.json").write_text(json.dumps({"command": "python -m tasks.memory seed=1"}))
    seconds, steps, values = plot_learning_curves.read_curve(run, "val/recall_acc")
    assert steps == [0, 100, 200] and values == pytest.approx([0.5, 0.7, 0.99]) and seconds[0] >= 0
    assert plot_learning_curves.label_of(run) == "tasks.memory seed=1"
    out = tmp_path / "curves.png"
    assert plot_learning_curves.main([str(run), "--metric", "val/recall_acc", "--target", "0.97", "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    with pytest.raises(ValueError, match="no scalar 'test/nothing'"):
        plot_learning_curves.read_curve(run, "test/nothing")
    assert plot_learning_curves.main([str(tmp_path / "missing"), "--metric", "x"]) == 2


def test_eprop_short_run_logs_the_same_metrics_and_updates_online(tmp_path, monkeypatch):
    """``learning=eprop`` through the same runner: the same scalars and figures as BPTT; with
    ``learning.update_every=80`` on sequences of 240 steps, each batch makes 2 optimizer steps
    inside the sequence and Lightning the third (random feedback, a buffer of the task)."""
    calls = []
    original = MemoryTask._online_update

    def counting(self, step):
        calls.append(step)
        return original(self, step)

    monkeypatch.setattr(MemoryTask, "_online_update", counting)
    overrides = SHORT + ["learning=eprop", "learning.update_every=80", "learning.feedback=random"]
    value = train(compose_task("memory", overrides, output_dir=tmp_path))
    assert value is not None
    tags = event_tags(tmp_path / "tensorboard")
    assert {"train/loss", "train/recall_acc", "train/rate_hz", "val/recall_acc", "test/recall_acc",
            "hp/val_recall_acc"} <= tags["scalars"]
    assert {"sequence", "raster/hidden", "threshold/adaptive"} <= tags["images"]
    assert calls == [80, 160, 240] * 4  # debug=default: 4 training batches


def test_eprop_training_step_returns_the_eprop_gradient(tmp_path):
    """The loss ``training_step`` returns has the logged value and, backpropagated, adds
    e-prop's gradient to what ``.grad`` held (Lightning's gradient accumulation keeps working);
    bad ``learning`` settings are named."""
    from omegaconf import OmegaConf

    cfg = compose_task("memory", ["learning=eprop"], output_dir=tmp_path)
    kwargs = OmegaConf.to_container(cfg.task, resolve=True, enum_to_str=True)
    kwargs.pop("_target_")
    torch.manual_seed(0)
    task = MemoryTask(**kwargs)
    task.log_dict = lambda *args, **kw: None  # no trainer attached
    batch = store_recall_batch(4, generator=torch.Generator().manual_seed(0), **SMALL)
    _, _, _, _, gradients = task._eprop_gradients(batch)
    task.eprop.chunk_size = 7  # the per-chunk errors (recall, running rate) do not depend on the chunks
    _, _, _, _, again = task._eprop_gradients(batch)
    # float32 sums over 240 steps grouped by other chunks: equal to rounding, which scales with a
    # tensor's largest entry (an AMD EPYC differed by 4e-9 in an entry of a tensor reaching 0.01)
    assert all(torch.allclose(g, h, rtol=1e-5, atol=1e-5 * float(h.abs().max())) for (_, g), (_, h) in zip(gradients, again))
    task.eprop.chunk_size = 128
    held = {p: torch.full_like(p, 0.5) for p in task.parameters()}
    for p, value in held.items():
        p.grad = value.clone()
    loss = task.training_step(batch, 0)
    ce, reg, _, _ = task._losses(batch)  # BPTT's loss on the same batch: the same forward
    assert loss.item() == pytest.approx((ce + task.reg_weight * reg).item(), rel=1e-5)
    assert all(torch.equal(p.grad, held[p]) for p in task.parameters())  # untouched by the e-prop run
    loss.backward()
    for p, g in gradients:
        assert torch.allclose(p.grad, held[p] + g, rtol=0, atol=1e-7)
    assert any(g.abs().max() > 0 for _, g in gradients)
    with pytest.raises(ValueError, match="learning.name must be one of bptt, eprop, got 'rtrl'"):
        MemoryTask(**dict(kwargs, learning={"name": "rtrl"}))
    with pytest.raises(ValueError, match="feedback must be one of symmetric, random, got 'none'"):
        MemoryTask(**dict(kwargs, learning=dict(kwargs["learning"], feedback="none")))
