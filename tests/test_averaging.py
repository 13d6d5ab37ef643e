"""``callbacks=ema`` (tasks/common/averaging.py): validation, checkpoints and tests use the
exponential moving average of the weights; training and resumes use the trained weights."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from tasks.common.averaging import EMA, ema_update
from tasks.common.runner import train
from tests.helpers import compose_task, run_metrics
from tests.test_reliability import TINY


class Line(pl.LightningModule):
    """A linear model on fixed data, plain SGD: its weights after each step are recorded, and
    the weights each validation and test step sees."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(3, 1)
        self.bn = torch.nn.BatchNorm1d(3)
        self.trained, self.validated, self.tested = [], [], []

    def _weights(self):
        return torch.cat([p.detach().clone().flatten() for p in self.parameters()] + [self.bn.running_mean.clone()])

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.fc(self.bn(x)), y)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self.trained.append(self._weights())

    def validation_step(self, batch, batch_idx):
        self.validated.append(self._weights())
        self.log("val/loss", torch.nn.functional.mse_loss(self.fc(self.bn(batch[0])), batch[1]))

    def test_step(self, batch, batch_idx):
        self.tested.append(self._weights())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.2)


def _loader():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(24, 3, generator=g)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5]])),
                                       batch_size=4)


def test_ema_validates_checkpoints_and_tests_the_average(tmp_path):
    decay = 0.5
    model, ema = Line(), EMA(decay=decay)
    checkpoint = ModelCheckpoint(dirpath=tmp_path, monitor="val/loss", save_top_k=1)
    trainer = pl.Trainer(max_epochs=2, callbacks=[ema, checkpoint], logger=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=1)
    trainer.fit(model, train_dataloaders=_loader(), val_dataloaders=_loader())
    # the average of the weights after every step: the first copied, then d * avg + (1 - d) * w,
    # d = min(decay, (1 + n) / (10 + n)) after n updates (2/11, 3/12, ..., then 0.5 from n = 8)
    averages, average = [], None
    for n, w in enumerate(model.trained):
        d = min(decay, (1 + n) / (10 + n))
        average = w.clone() if average is None else d * average + (1 - d) * w
        averages.append(average)
    assert len(model.trained) == 12
    per_epoch = len(model.trained) // 2
    assert len(model.validated) == 2
    for epoch, seen in enumerate(model.validated):  # validation saw the average, not the trained weights
        assert torch.allclose(seen, averages[(epoch + 1) * per_epoch - 1], atol=1e-6)
        assert not torch.allclose(seen, model.trained[(epoch + 1) * per_epoch - 1], atol=1e-3)
    saved = torch.load(checkpoint.best_model_path, weights_only=True)
    assert set(saved["current_model_state"]) == set(saved["state_dict"])  # the trained weights, for resuming
    assert not torch.equal(saved["state_dict"]["fc.weight"], saved["current_model_state"]["fc.weight"])
    best = int(saved["epoch"])
    trainer.test(model, dataloaders=_loader(), ckpt_path=checkpoint.best_model_path, weights_only=True)
    assert torch.equal(model.tested[0], model.validated[best])  # the test ran the averaged weights of that epoch


@pytest.mark.parametrize("kwargs, words", [
    ({"decay": 1.0}, "decay must be a number with 0 <= decay < 1, got 1.0"),
    ({"decay": -0.1}, "got -0.1"),
    ({"decay": "0.9"}, "got '0.9' (str)"),
    ({"decay": True}, "got True (bool)"),
    ({"start_step": -1}, "start_step must be an integer >= 0, got -1"),
    ({"warmup": "yes"}, "warmup must be True or False, got 'yes' (str)"),
])
def test_ema_rejects_bad_settings_naming_them(kwargs, words):
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace(")", r"\)").replace("(", r"\(")):
        EMA(**kwargs)


def test_mnist_run_with_ema_resumes_and_tests_the_average(tmp_path):
    """``callbacks=ema`` on a real (tiny) run: the best checkpoint holds the average and the
    trained weights; a run stopped after its first epoch and resumed from its ``last.ckpt``
    ends with the weights, averages and metrics of an uninterrupted one."""
    full, first, resumed = tmp_path / "full", tmp_path / "first", tmp_path / "resumed"
    ema = [*TINY, "callbacks=ema", "callbacks.ema.decay=0.9", "callbacks.spike_monitor=null",
           "callbacks.progress_bar=null", "scheduler.name=none"]
    train(compose_task("mnist", ema, output_dir=full))
    best = next((full / "checkpoints").glob("epoch*.ckpt"))
    saved = torch.load(best, weights_only=True)
    assert {"current_model_state", "averaging_state"} <= set(saved)
    assert any(not torch.equal(saved["state_dict"][k], saved["current_model_state"][k]) for k in saved["state_dict"])
    metrics = run_metrics(full)
    assert 0.0 <= metrics["test/acc"] <= 1.0 and 0.0 <= metrics["val/acc"] <= 1.0
    train(compose_task("mnist", [*ema, "trainer.max_epochs=1", "test=false"], output_dir=first))
    train(compose_task("mnist", [*ema, f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}"], output_dir=resumed))
    end, after = (torch.load(run / "checkpoints" / "last.ckpt", weights_only=True) for run in (full, resumed))
    assert after["global_step"] == end["global_step"] == 24
    for weights in ("state_dict", "current_model_state"):  # the average and the trained weights
        assert end[weights].keys() == after[weights].keys()
        assert all(torch.equal(end[weights][k], after[weights][k]) for k in end[weights])
    assert run_metrics(resumed) == metrics


def test_ema_update_with_and_without_warmup():
    old, new = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 6.0])
    averaged = [old.clone()]
    ema_update(averaged, [new], torch.tensor(1), decay=0.9, warmup=False)
    assert torch.allclose(averaged[0], 0.9 * old + 0.1 * new)
    averaged = [old.clone()]
    ema_update(averaged, [new], torch.tensor(1), decay=0.9, warmup=True)  # d = 2 / 11
    assert torch.allclose(averaged[0], 2 / 11 * old + 9 / 11 * new)
    counters = [torch.tensor(3)]
    ema_update(counters, [torch.tensor(7)], torch.tensor(5), decay=0.9, warmup=True)
    assert counters[0].item() == 7  # integer buffers follow the trained model
