"""Shared test helpers: compose task configs in-process, read a run's metrics.json and TensorBoard event files."""

from __future__ import annotations

import glob
import importlib
import json
from pathlib import Path
from typing import Any, Dict, List, Sequence, Set

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from tasks.common import CONFIG_DIR

REPO = Path(__file__).resolve().parents[1]


def compose_task(config_name: str, overrides: Sequence[str] = (), output_dir: Path | None = None) -> DictConfig:
    """The task config as ``python -m tasks.<name> overrides`` would see it, with outputs
    under ``output_dir``."""
    importlib.import_module(f"tasks.{config_name}")  # registers the task's typed config blocks
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose(config_name=config_name, overrides=list(overrides))
    if output_dir is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
    return cfg


def run_metrics(run_dir: Path) -> Dict[str, Any]:
    """The metrics a run wrote to ``<run_dir>/metrics.json``."""
    return json.loads((Path(run_dir) / "metrics.json").read_text())["metrics"]


def event_tags(log_dir: Path) -> Dict[str, Set[str]]:
    """Tags per kind (scalars, images, histograms, hparams) in every event file under log_dir."""
    from tensorboard.backend.event_processing import event_file_loader

    tags: Dict[str, Set[str]] = {"scalars": set(), "images": set(), "histograms": set(), "hparams": set()}
    files: List[str] = glob.glob(str(Path(log_dir) / "**" / "events.out.tfevents.*"), recursive=True)
    for path in files:
        for event in event_file_loader.EventFileLoader(path).Load():
            for value in event.summary.value:
                # the loader migrates legacy summaries to tensors tagged by plugin
                plugin = value.metadata.plugin_data.plugin_name
                if plugin in tags:
                    tags[plugin].add(value.tag)
    return tags
