"""Code shared by every task: the Hydra/Lightning runner, the task base module, builders of
neurons and encoders from configs, and the TensorBoard spike monitor."""

from pathlib import Path

from omegaconf import OmegaConf

#: The repository root (holds conf/, data/, outputs/).
REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "conf"

if not OmegaConf.has_resolver("repo_root"):
    OmegaConf.register_new_resolver("repo_root", lambda: str(REPO_ROOT))
