"""The end of every run says where its outputs are: the run directory, ``metrics.json`` and the
command that opens its TensorBoard logs (``report_outputs`` in tasks/common/runner.py)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest
import pytorch_lightning as pl
from omegaconf import open_dict

from tasks.common.runner import train
from tests.helpers import REPO, compose_task

TINY = ["threads=1", "algo.max_env_steps=64", "algo.rollout_steps=16", "algo.num_envs=2", "eval.every=1",
        "eval.episodes=2", "eval.episode_figure=false"]
LABELS = ("run directory", "metrics", "view in TensorBoard")


class Boom(pl.Callback):
    """Fails the first training batch."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        raise RuntimeError("boom")


def _report(text: str) -> Dict[str, str]:
    """``{label: value}`` of the report lines in ``text``."""
    found = {}
    for line in text.splitlines():
        for label in LABELS:
            if line.startswith(f"{label}: "):
                found[label] = line[len(label) + 2:]
    return found


def _logdir(command: str) -> Path:
    words = shlex.split(command)
    assert words[:2] == ["tensorboard", "--logdir"] and len(words) == 3, command
    return Path(words[2])


def test_a_run_prints_its_directory_metrics_and_tensorboard_command(tmp_path):
    run = tmp_path / "a run"  # the command must quote the space
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, "-m", "tasks.cartpole", *TINY, f"hydra.run.dir={run}"], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = _report(result.stdout)
    assert Path(report["run directory"]) == run and run.is_dir()
    assert Path(report["metrics"]) == run / "metrics.json" and (run / "metrics.json").is_file()
    logdir = _logdir(report["view in TensorBoard"])
    assert logdir == run / "tensorboard" and any(logdir.glob("events.out.tfevents.*"))
    assert f"run directory: {run}" in (run / "cartpole.log").read_text()  # logged too


def test_eval_only_and_csv_runs_report_too(tmp_path, capsys):
    train(compose_task("cartpole", [*TINY, "test=false"], output_dir=tmp_path / "fit"))
    capsys.readouterr()
    ckpt = tmp_path / "fit" / "checkpoints" / "last.ckpt"
    train(compose_task("cartpole", ["eval_only=true", f"ckpt_path={ckpt}", "eval.episodes=2"],
                       output_dir=tmp_path / "eval"))
    report = _report(capsys.readouterr().out)
    assert Path(report["run directory"]) == tmp_path / "eval"
    assert Path(report["metrics"]) == tmp_path / "eval" / "metrics.json" and Path(report["metrics"]).is_file()
    assert any(_logdir(report["view in TensorBoard"]).glob("events.out.tfevents.*"))
    # no TensorBoard logger, no TensorBoard command
    train(compose_task("cartpole", [*TINY, "test=false", "logger=csv", "callbacks=none"], output_dir=tmp_path / "csv"))
    report = _report(capsys.readouterr().out)
    assert set(report) == {"run directory", "metrics"} and Path(report["metrics"]).is_file()


def test_a_failed_run_still_says_where_its_outputs_are(tmp_path, capsys):
    cfg = compose_task("cartpole", [*TINY, "callbacks=none"], output_dir=tmp_path)
    with open_dict(cfg):
        cfg.callbacks = {"boom": {"_target_": f"{__name__}.Boom"}}
    with pytest.raises(RuntimeError, match="boom"):
        train(cfg)
    report = _report(capsys.readouterr().out)
    assert set(report) == {"run directory", "view in TensorBoard"}  # no metrics.json was written
    assert Path(report["run directory"]) == tmp_path and _logdir(report["view in TensorBoard"]).is_dir()
