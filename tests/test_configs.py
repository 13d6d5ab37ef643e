"""Config values mean what they say: a primary config's keys survive composition with its
groups, the overlays (debug, hparams_search, env presets) override it, every default has one
value, and default runs build with the values docs/results.md was measured with."""

from __future__ import annotations

import ast
import dataclasses
import enum
import inspect
import os
import pickle
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Tuple

import pytest
import torch
from hydra.errors import ConfigCompositionException
from hydra.utils import get_class
from omegaconf import DictConfig, ListConfig, OmegaConf

import norse_core as snn
from tasks.cartpole.data import CartPoleDataModule
from tasks.common.errors import ConfigError
from tasks.common.validation import validate_config
from tasks.cartpole.env import evaluate, make_envs
from tasks.cartpole.policy import ObservationCoding, SpikingPolicy
from tasks.cartpole.task import AlgoConfig, EvalSchedule
from tasks.memory.data import StoreRecallDataModule, store_recall_batch
from tasks.memory.task import MemoryNet, MemoryTask
from tasks.mnist.data import MNISTDataModule
from tasks.mnist.model import ConvSNN
from tests.helpers import REPO, compose_task

TASKS = ("mnist", "memory", "cartpole")
OVERLAYS = ("debug", "hparams_search", "env", "experiment")  # groups meant to override the primary config
CONF = REPO / "conf"


def _leaves(node: Any, prefix: str = "") -> Iterator[Tuple[str, Any]]:
    """``(dotted key, value)`` of every leaf of a plain container (an empty mapping is a leaf)."""
    if isinstance(node, Mapping) and node:
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}{key}.")
    else:
        yield prefix[:-1], node


def _own_keys(path: Path) -> Dict[str, Any]:
    """The leaves a config file sets itself (not its ``defaults`` list), unresolved, with those of
    the files of its group it lists as defaults (``debug/anomaly`` includes ``debug/default``)."""
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    keys: Dict[str, Any] = {}
    for entry in raw.pop("defaults", []):
        if isinstance(entry, str) and (path.parent / f"{entry}.yaml").exists():  # not a schema
            keys.update(_own_keys(path.parent / f"{entry}.yaml"))
    raw.pop("hydra", None)  # the sweeper settings are Hydra's, not the job's
    keys.update(_leaves(raw))
    return keys


def _composed(cfg: DictConfig) -> Dict[str, Any]:
    return dict(_leaves(OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)))


def _groups(task: str) -> List[str]:
    """The groups in the defaults list of ``conf/<task>.yaml``."""
    defaults = OmegaConf.to_container(OmegaConf.load(CONF / f"{task}.yaml"))["defaults"]
    return [next(iter(d)) for d in defaults if isinstance(d, dict)]


def _options(group: str) -> List[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _differences(expected: Mapping[str, Any], composed: Mapping[str, Any]) -> List[str]:
    return [f"{k}: {v!r} set, {composed.get(k, '<missing>')!r} composed" for k, v in expected.items()
            if composed.get(k, "<missing>") != v]


# -- 1. the primary config wins over its groups; the overlays win over it -------------------------------
@pytest.mark.parametrize("task", TASKS)
def test_primary_config_keys_survive_composition(task):
    """Every value conf/<task>.yaml sets is the composed value, with the default groups and
    with every option of every group (trainer/default.yaml must not undo trainer.* here)."""
    own = _own_keys(CONF / f"{task}.yaml")
    assert any(k.startswith("trainer.") for k in own)
    groups = [g for g in _groups(task) if g not in (*OVERLAYS, "paths", "hydra")]
    runs = [[]] + [[f"{g}={o}"] for g in groups for o in _options(g)]
    alone = ["~experiment"] if task == "mnist" else []  # MNIST's defaults list ends with an overlay
    problems = {" ".join(ov) or "defaults": _differences(own, _composed(compose_task(task, [*alone, *ov])))
                for ov in runs}
    assert {k: v for k, v in problems.items() if v} == {}


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("group", OVERLAYS)
def test_overlays_override_the_primary_config(task, group):
    """debug=..., hparams_search=... and the env presets set what they say over conf/<task>.yaml."""
    if group not in _groups(task):
        pytest.skip(f"{task} has no {group} group")
    for option in _options(group):
        if group == "experiment" and not option.startswith(f"{task}_") and option != task:
            continue  # another task's overlay
        composed = _composed(compose_task(task, [f"{group}={option}"]))
        assert _differences(_own_keys(CONF / group / f"{option}.yaml"), composed) == [], option


@pytest.mark.parametrize("task", TASKS)
def test_debug_default_still_shrinks_the_run(task):
    quick = compose_task(task, ["debug=default"])
    assert (quick.trainer.max_epochs, quick.trainer.limit_train_batches, quick.trainer.log_every_n_steps) == (1, 4, 1)


def test_composed_configs_pickle_into_a_fresh_process(tmp_path):
    """trainer=ddp_spawn pickles the trainer, whose callbacks hold the config: the typed blocks'
    classes (made at import) must be found by name when a new process loads them."""
    for task in TASKS:
        cfg = compose_task(task, ["trainer=ddp_spawn"], output_dir=tmp_path / task)
        (tmp_path / f"{task}.pkl").write_bytes(pickle.dumps(cfg))
    load = ("import pickle, sys\n"
            "for task in sys.argv[1:]:\n"
            "    cfg = pickle.loads(open(task + '.pkl', 'rb').read())\n"
            "    print(task, type(cfg.net).__name__, cfg.net._metadata.object_type.__qualname__, cfg.optimizer.name)")
    result = subprocess.run([sys.executable, "-c", load, *TASKS], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[:3] == [
        "mnist DictConfig MNISTNet OptimizerName.adam", "memory DictConfig MemoryNetConfig OptimizerName.adam",
        "cartpole DictConfig CartPoleNet OptimizerName.adam"], result.stdout


def test_memory_logs_every_ten_steps():
    """conf/memory.yaml's trainer.log_every_n_steps (10), not trainer/default.yaml's (20)."""
    assert compose_task("memory").trainer.log_every_n_steps == 10


# -- 1b. the experiment overlays are the rows of docs/results.md -------------------------------------------
def _result_rows() -> List[Tuple[str, List[str], List[str]]]:
    """``(task, command overrides, overlay overrides)`` of every table row of docs/results.md
    whose first cell is a command; the overlay overrides are empty when the row names none."""
    rows = []
    for line in (REPO / "docs" / "results.md").read_text().splitlines():
        match = re.match(r"\| `python -m tasks\.(\w+)([^`]*)`[^|]*\|([^|]*)\|", line)
        if match:
            overlay = re.fullmatch(r"\s*`(experiment=[^`]+)`\s*", match.group(3))
            rows.append((match.group(1), shlex.split(match.group(2)),
                         shlex.split(overlay.group(1)) if overlay else []))
    return rows


#: Overlays of configurations not run in full yet: their rows come with their results.
CANDIDATES: set = set()


def test_a_candidate_overlay_composes_and_pins_its_choices():
    cfg = compose_task("mnist", ["experiment=mnist_plif_shift"])
    assert (cfg.model.name, cfg.data.shift, cfg.optimizer.neuron_lr, cfg.trainer.max_epochs) == ("plif", 2, 0.05, 15)
    cfg = compose_task("mnist", ["experiment=mnist_plif_affine"])
    assert (cfg.data.rotate, cfg.data.scale, cfg.trainer.precision) == (10.0, 0.1, "bf16-mixed")
    cfg = compose_task("mnist", ["experiment=mnist_plif_wide"])
    assert (list(cfg.net.channels), cfg.net.hidden, cfg.net.seq_length, cfg.trainer.max_epochs) == ([48, 96], 512, 6, 16)
    assert (cfg.model.name, cfg.data.rotate, cfg.trainer.precision) == ("plif", 10.0, "bf16-mixed")
    cfg = compose_task("mnist", ["experiment=mnist_plif_best"])
    assert (cfg.surrogate.method, cfg.surrogate.alpha, cfg.task.tta_shift, cfg.callbacks.ema is not None) == ("super", 15.0, 1, True)
    assert cfg.data.batch_size == 128
    b64 = compose_task("mnist", ["experiment=mnist_plif_b64"])  # mnist_plif_best with batches of 64, nothing else
    assert b64.data.batch_size == 64
    assert OmegaConf.to_container(b64) == OmegaConf.to_container(
        compose_task("mnist", ["experiment=mnist_plif_best", "data.batch_size=64"]))
    for name in CANDIDATES:
        pinned = OmegaConf.load(CONF / "experiment" / f"{name}.yaml")
        assert "seed" in pinned and any("override /model" in d for d in pinned.defaults), name


def test_the_mnist_default_is_the_best_measured_overlay_and_experiment_mnist_the_lif_network():
    """``python -m tasks.mnist [seed=N]`` is ``experiment=mnist_plif_b64 [seed=N]`` (docs/results.md);
    ``experiment=mnist`` is conf/mnist.yaml alone, the LIF network recorded before the change."""
    for seed in ([], ["seed=2"]):
        default = OmegaConf.to_container(compose_task("mnist", seed))
        assert default == OmegaConf.to_container(compose_task("mnist", ["experiment=mnist_plif_b64", *seed]))
    assert (default["model"]["name"], default["surrogate"], default["trainer"]["max_epochs"], default["data"]["batch_size"]) == (
        "plif", {"method": "super", "alpha": 15.0}, 16, 64)
    lif = compose_task("mnist", ["experiment=mnist"])
    assert OmegaConf.to_container(lif) == OmegaConf.to_container(compose_task("mnist", ["~experiment"]))
    assert (lif.model.name, lif.surrogate.alpha, lif.trainer.max_epochs, lif.seed, lif.task.tta_shift) == ("lif", 100.0, 10, 1234, 0)
    # a surrogate chosen on the command line comes with its own settings, not the default's alpha 15
    assert OmegaConf.to_container(compose_task("mnist", ["surrogate=triangle"]).surrogate) == {"method": "triangle", "alpha": 1.0}


def test_every_result_row_names_an_existing_overlay_of_its_task():
    rows = _result_rows()
    assert {task for task, _, _ in rows} == set(TASKS) and len(rows) >= 20
    for task, command, overlay in rows:
        assert overlay, f"python -m tasks.{task} {' '.join(command)}: no experiment=... cell"
        name = overlay[0].split("=", 1)[1]
        assert (CONF / "experiment" / f"{name}.yaml").exists(), name
        assert name == task or name.startswith(f"{task}_"), f"{name} is not an overlay of {task}"
    named = {o[0].split("=", 1)[1] for _, _, o in rows}
    assert set(_options("experiment")) - CANDIDATES == named  # and no overlay without a row
    assert not CANDIDATES & named, "a candidate with a row: remove it from CANDIDATES"


@pytest.mark.parametrize("task,command,overlay", _result_rows(), ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_overlay_composes_the_config_of_its_row(task, command, overlay):
    """``experiment=<name> [seed=N]`` composes exactly what the row's command composed, and
    pins the row's group choices (a changed default elsewhere cannot move the row)."""
    assert OmegaConf.to_container(compose_task(task, overlay)) == OmegaConf.to_container(compose_task(task, command))
    name = overlay[0].split("=", 1)[1]
    pinned = OmegaConf.load(CONF / "experiment" / f"{name}.yaml")
    assert "seed" in pinned and any("override /model" in d for d in pinned.defaults), name


def test_an_overlay_differs_from_the_defaults_and_debug_still_shrinks_it():
    """The overlays set something (a test that compares a no-op overlay with itself would pass)."""
    assert compose_task("mnist", ["experiment=mnist_lifbox"]).model.name == "lifbox"
    assert compose_task("memory", ["experiment=memory_eprop_short"]).data.period_steps == 40
    quick = compose_task("cartpole", ["experiment=cartpole_masked_feedforward", "debug=default"])
    assert (quick.env.name, quick.net.recurrent, quick.trainer.limit_train_batches) == ("cartpole_masked", False, 4)


# -- 1c. typed blocks: a misspelled or mistyped key fails at composition, naming it ------------------------
# (MNIST's cases: tests/test_mnist_task.py)
@pytest.mark.parametrize("task,override,words", [
    ("memory", "net.n_regulr=3", ["full_key: net.n_regulr", "not in 'MemoryNetConfig'"]),
    ("memory", "net.n_adaptive=many", ["full_key: net.n_adaptive", "could not be converted to Integer"]),
    ("memory", "net.neuron.v_thresh=x", ["full_key: net.neuron.v_thresh", "could not be converted to Float"]),
    ("memory", "net.neuron.vth=0.3", ["full_key: net.neuron.vth", "not in 'NeuronSettings(tau_syn_inv, ", " v_th, "]),
    ("memory", "net.layers.hidden.v_th=0.3", ["full_key: net.layers.hidden", "hidden.v_th=0.3",
                                              "not in 'MemoryLayers(recurrent)'"]),
    ("memory", "data.period_step=40", ["full_key: data.period_step", "not in 'MemoryData'"]),
    ("memory", "data.max_delay=2.5", ["full_key: data.max_delay", "could not be converted to Integer"]),
    ("memory", "data.batch_size=2.5", ["full_key: data.batch_size", "could not be converted to Integer"]),
    ("memory", "optimizer.nme=adam", ["full_key: optimizer.nme", "not in 'OptimizerConfig'"]),
    ("memory", "scheduler.name=linear", ["full_key: scheduler.name", "expected one of [none, onecycle, cosine, step]"]),
    ("cartpole", "net.hiden=32", ["full_key: net.hiden", "not in 'CartPoleNet'"]),
    ("cartpole", "net.recurrent=maybe", ["full_key: net.recurrent", "not a valid bool"]),
    ("cartpole", "net.readout=spikes", ["full_key: net.readout", "expected one of [li, spike_count]"]),
    ("cartpole", "net.time_constants=[10,fast]", ["full_key: net.time_constants", "Float"]),
    ("cartpole", "net.li.tau_mem_inv=slow", ["full_key: net.li.tau_mem_inv", "Float"]),
    ("cartpole", "net.neuron.tau_adapt=50", ["full_key: net.neuron.tau_adapt", "not in 'NeuronSettings(", "tau_adapt_inv"]),
    ("cartpole", "net.layers.hidden.vth=0.5", ["full_key: net.layers.hidden.vth", "vth=0.5", "not in 'NeuronSettings(",
                                               " v_th, "]),
    ("cartpole", "net.layers.output.v_th=0.5", ["full_key: net.layers.output", "not in 'CartPoleLayers(hidden, readout)'"]),
    ("mnist", "net.layers.fc2.v_th=0.8", ["full_key: net.layers.fc2", "fc2.v_th=0.8", "not in 'MNISTLayers(conv1, conv2, conv3, fc1)'"]),
    ("mnist", "net.layers.fc1.v_thr=0.8", ["full_key: net.layers.fc1.v_thr", "v_thr=0.8", "not in 'NeuronSettings(", " v_th, "]),
    ("cartpole", "data.batch_size=16", ["full_key: data.batch_size", "not in 'CartPoleData'"]),
    ("cartpole", "data.num_envs=two", ["full_key: data.num_envs", "could not be converted to Integer"]),
    ("cartpole", "optimizer.lr=fast", ["full_key: optimizer.lr", "could not be converted to Float"]),
    ("cartpole", "algo.nme=a2c", ["full_key: algo.nme", "not in 'AlgoConfig'"]),
    ("cartpole", "algo.name=dqn", ["full_key: algo.name", "expected one of [ppo, a2c, reinforce]"]),
    ("cartpole", "algo.gamma=high", ["full_key: algo.gamma", "could not be converted to Float"]),
    ("cartpole", "eval.evry=3", ["full_key: eval.evry", "not in 'CartPoleEval'"]),
    ("cartpole", "eval.keep_best=perhaps", ["full_key: eval.keep_best", "not a valid bool"]),
    ("cartpole", "env.observ=[0,2]", ["full_key: env.observ", "not in 'CartPoleEnv'"]),
    ("cartpole", "env.observe=[0,x]", ["full_key: env.observe", "Integer"]),
    ("cartpole", "coding.name=binary", ["full_key: coding.name", "expected one of [signed, population]"]),
    ("cartpole", "coding.sigmaa=2", ["full_key: coding.sigmaa", "not in 'CartPoleCoding'"]),
])
def test_a_misspelled_or_mistyped_key_fails_at_composition(task, override, words):
    with pytest.raises(ConfigCompositionException) as info:
        compose_task(task, [override])
    message = f"{info.value}\n{info.value.__cause__}"
    assert [w for w in words if w not in message] == [], message


def test_cartpole_data_module_takes_no_unknown_arguments():
    """debug=default no longer sets data.batch_size for every task; nothing to swallow."""
    assert "data" not in OmegaConf.load(CONF / "debug" / "default.yaml")
    with pytest.raises(TypeError, match="batch_size"):
        CartPoleDataModule(env={}, batch_size=16)


@pytest.mark.parametrize("task", TASKS)
def test_an_added_key_on_a_typed_block_is_refused(task, tmp_path):
    cfg = compose_task(task, ["+net.hiden=3"], output_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"net\.hiden: not a key of \w+Net"):
        validate_config(cfg)


# -- 2. one value per default -----------------------------------------------------------------------------
def _parameter_defaults(fn: Callable) -> Dict[str, Any]:
    return {name: p.default for name, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _disagreements(fn: Callable, config: DictConfig, rename: Mapping[str, str] = {}) -> List[str]:
    """The keys of ``config`` whose value differs from the default of ``fn``'s parameter of
    that name (interpolations are another key's value: skipped)."""
    defaults = _parameter_defaults(fn)
    out = []
    for key in config:
        name = rename.get(key, key)
        if name not in defaults or OmegaConf.is_interpolation(config, key):
            continue
        value = config[key]
        value = OmegaConf.to_container(value, enum_to_str=True) if isinstance(value, (DictConfig, ListConfig)) else value
        value = value.name if isinstance(value, enum.Enum) else value  # a typed choice
        default = defaults[name]
        if dataclasses.is_dataclass(default):  # a typed sub-block (net.neuron)
            default = dataclasses.asdict(default)
        elif hasattr(default, "_asdict"):  # parameters (a NamedTuple) against their config mapping
            default = {k: default._asdict().get(k) for k in value} if isinstance(value, dict) else default
        elif isinstance(default, tuple):
            default = list(default)
        if value != default:
            out.append(f"{fn.__qualname__}({name}={default!r}), config {key}: {value!r}")
    return out


def test_config_values_equal_the_constructor_defaults():
    """Where a class or function the config feeds has a default, the config spells out that
    same value (or leaves the key out): a default has one value wherever it is written."""
    cartpole, masked = compose_task("cartpole"), compose_task("cartpole", ["env=cartpole_masked"])
    mnist, memory = compose_task("mnist", ["~experiment"]), compose_task("memory")  # conf/mnist.yaml alone
    problems = [
        *_disagreements(SpikingPolicy, cartpole.net, {"li": "readout_p"}),
        *_disagreements(ObservationCoding, cartpole.coding),
        *_disagreements(make_envs, cartpole.env, {"id": "env_id"}),
        *_disagreements(evaluate, cartpole.eval),
        *_disagreements(ConvSNN, mnist.net, {"readout": "readout_p"}),
        *_disagreements(MNISTDataModule, mnist.data),
        *_disagreements(StoreRecallDataModule, memory.data),
        *_disagreements(store_recall_batch, memory.data),
        *_disagreements(MemoryTask, memory.task),
        *_disagreements(MemoryNet, memory.net),
        *_disagreements(CartPoleDataModule, cartpole.data),
        *_disagreements(AlgoConfig, cartpole.algo),
        *_disagreements(EvalSchedule, cartpole.eval),
    ]
    assert problems == []
    # the preset changes the environment, not the defaults of what it leaves alone
    assert _disagreements(make_envs, masked.env, {"id": "env_id"}) == [
        "make_envs(observe=None), config observe: [0, 2]"]
    assert _disagreements(MNISTDataModule, compose_task("mnist").data) == [  # the default overlay, mnist_plif_b64
        "MNISTDataModule(batch_size=128), config batch_size: 64", "MNISTDataModule(shift=0), config shift: 2", "MNISTDataModule(rotate=0.0), config rotate: 10.0",
        "MNISTDataModule(scale=0.0), config scale: 0.1"]


def _config_keys() -> set:
    keys = set()
    for task in TASKS:
        for dotted in _composed(compose_task(task, ["env=cartpole_masked"] if task == "cartpole" else [])):
            keys.update(dotted.split("."))
    return keys


def test_tasks_have_no_fallback_values_of_config_keys():
    """No ``cfg.get("<config key>", <value>)`` in the task code: a value there would be a second
    default beside the config's (and the constructors'), free to disagree with them. ``None``
    and the ``"?"`` placeholder of the TensorBoard dashboard are no values a run uses."""
    keys = _config_keys()
    found = []
    for path in sorted((REPO / "tasks").glob("[!_]*/*.py")):
        if path.parent.name == "common":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("get", "pop") and len(node.args) == 2):
                continue
            key, default = node.args
            literal = isinstance(default, (ast.Constant, ast.Tuple, ast.List, ast.Dict))
            if (isinstance(key, ast.Constant) and key.value in keys and literal
                    and not (isinstance(default, ast.Constant) and default.value in (None, "?"))):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    assert found == []


def _build(task: str, overrides: List[str] = (), drop: Mapping[str, List[str]] = {}) -> Any:
    """The task module of a composed config (seeded), with the keys ``drop[block]`` removed
    from ``task.<block>``."""
    cfg = compose_task(task, list(overrides), output_dir=Path("unused"))
    kwargs = OmegaConf.to_container(cfg.task, resolve=True, enum_to_str=True)
    target = get_class(kwargs.pop("_target_"))
    for block, keys in drop.items():
        for key in keys:
            kwargs[block].pop(key)
    torch.manual_seed(0)
    return target(**kwargs)


@pytest.mark.parametrize("env", ["cartpole", "cartpole_masked"])
def test_cartpole_builds_the_measured_policy_with_or_without_the_defaults_spelled_out(env):
    """The default runs (docs/results.md) used recurrent_init 0, logit_scale 10 and
    value_scale 10; a config that leaves these keys out builds the very same policy."""
    full = _build("cartpole", [f"env={env}"]).policy
    assert (full.logit_scale, full.value_scale) == (10.0, 10.0)
    assert full.coding.name == ("signed" if env == "cartpole_masked" else "population")
    if env == "cartpole_masked":
        assert torch.count_nonzero(full.hidden.recurrent_weights) == 0  # recurrent_init 0
    # the keys that equal SpikingPolicy's defaults (gain: the task multiplies it by the model's)
    defaults = _parameter_defaults(SpikingPolicy)
    net = compose_task("cartpole", [f"env={env}"]).net
    spelled_out = [k for k in net if k != "gain" and k in defaults and net[k] == defaults[k]]
    assert {"logit_scale", "value_scale", "recurrent_init", "hidden", "dt"} <= set(spelled_out)
    bare = _build("cartpole", [f"env={env}"], {"net": spelled_out}).policy
    assert (bare.logit_scale, bare.value_scale) == (full.logit_scale, full.value_scale)
    assert full.state_dict().keys() == bare.state_dict().keys()
    for name, value in full.state_dict().items():
        assert torch.equal(value, bare.state_dict()[name]), name


def test_memory_runs_with_the_measured_values_with_or_without_its_net_keys():
    """recurrent_scale 0.5, reg_weight 1e-4 and 100 batches per epoch (docs/results.md); a
    ``net`` without its keys builds the same network (MemoryNet's defaults are these values)."""
    task = _build("memory")
    unscaled = _build("memory", ["net.recurrent_scale=1.0"])
    assert torch.allclose(task.recurrent.recurrent_weights, 0.5 * unscaled.recurrent.recurrent_weights)
    assert task.reg_weight == pytest.approx(1e-4)
    keys = ["n_regular", "n_adaptive", "dt", "input_scale", "recurrent_scale", "readout_tau_mem_inv", "target_rate",
            "reg_weight", "neuron"]
    bare = _build("memory", drop={"net": keys})
    assert (bare.reg_weight, bare.target_rate, bare.recurrent.p.v_th) == (task.reg_weight, task.target_rate, 0.5)
    for name, value in task.state_dict().items():
        assert torch.equal(value, bare.state_dict()[name]), name
    assert compose_task("memory").data.batches_per_epoch == StoreRecallDataModule().batches_per_epoch == 100


def test_mnist_net_defaults_build_the_same_network():
    """conf/mnist.yaml's net block equals ConvSNN's defaults: leaving it out changes nothing."""
    full = _build("mnist").net
    bare = _build("mnist", drop={"net": ["seq_length", "channels", "hidden", "batch_norm", "decoder", "dt",
                                         "readout"]}).net
    assert full.seq_length == bare.seq_length and full.decoder == bare.decoder
    assert full.state_dict().keys() == bare.state_dict().keys()
    for name, value in full.state_dict().items():
        assert torch.equal(value, bare.state_dict()[name]), name


# -- 4. every option of every group composes AND builds --------------------------------------------------
#: (task, override) -> the clear error the build gives instead (combinations a task does not support).
UNSUPPORTED = {
    **{("memory", f"model={m}"): "the memory task supports model=lsnn|lif"
       for m in ("coba_lif", "iaf", "izhikevich", "lif_adex", "lif_ex", "lif_refrac", "lifbox", "plif")},
    ("cartpole", "model=plif"): "are not wired into the CartPole policy yet",
}


def _group_runs() -> List[Tuple[str, str, List[str]]]:
    """``(task, group, [group=option, ...])`` for every group in conf/<task>.yaml's defaults
    list (another task's overlays left out), and ``(task, "defaults", [""])``."""
    runs = []
    for task in TASKS:
        runs.append((task, "defaults", [""]))
        for group in _groups(task):
            options = [o for o in _options(group) if group not in ("experiment", "hparams_search")
                       or o == task or o.startswith(f"{task}_")]
            if options:
                runs.append((task, group, [f"{group}={o}" for o in options]))
    return runs


def _instantiated(task: str, override: str, tmp_path: Path) -> Dict[str, Any]:
    """The data module, the task module (its network inside), the callbacks and the loggers
    of a composed config, as :func:`tasks.common.runner.train` builds them (no data prepared,
    no trainer: ``trainer=gpu``/``ddp`` need the hardware)."""
    from tasks.common.runner import _instantiate_all, build_block

    cfg = compose_task(task, [override] if override else [], output_dir=tmp_path)
    torch.manual_seed(0)
    return {"data": build_block(cfg, "data"), "task": build_block(cfg, "task"),
            "callbacks": _instantiate_all(cfg.get("callbacks")), "loggers": _instantiate_all(cfg.get("logger"))}


def test_every_group_of_every_task_is_covered():
    covered = {(task, group) for task, group, _ in _group_runs()}
    no_option = {("memory", "hparams_search")}  # no search for the memory task (yet)
    assert {(t, g) for t in TASKS for g in _groups(t)} - no_option == covered - {(t, "defaults") for t in TASKS}
    assert ("cartpole", "env") in covered and ("memory", "learning") in covered


@pytest.mark.parametrize("task,group,runs", _group_runs(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_option_of_every_group_builds(task, group, runs, tmp_path):
    """Data module, task (and its network), callbacks and loggers of each ``group=option``:
    they build, or fail with the task's clear error for an unsupported combination."""
    problems = []
    for override in runs:
        expected = UNSUPPORTED.get((task, override))
        try:
            built = _instantiated(task, override, tmp_path / "run")
        except Exception as exc:  # noqa: BLE001 - collected, reported together
            if expected is None or expected not in str(exc):
                problems.append(f"{override or 'defaults'}: {type(exc).__name__}: {exc}")
            continue
        if expected is not None:
            problems.append(f"{override}: built, expected the error {expected!r}")
            continue
        parameters = sum(p.numel() for p in built["task"].parameters())
        if parameters == 0 or not built["callbacks"] and override != "callbacks=none":
            problems.append(f"{override or 'defaults'}: {parameters} parameters, {len(built['callbacks'])} callbacks")
    assert problems == []
    assert not (tmp_path / "run" / "data").exists()  # nothing downloaded or prepared


# -- 5. neuron parameters: net.neuron, the same in every task ---------------------------------------------
def _thresholds(module: torch.nn.Module) -> List[float]:
    """``v_th`` of every spiking layer of the network (nested parameters too: LIFRefrac's
    ``p.lif``), not of the input encoder (its own config: ``encoder.module``)."""
    found = []
    for name, layer in module.named_modules():
        if "encoder" in name:
            continue
        p = getattr(layer, "p", None)
        while p is not None and hasattr(p, "_fields") and "v_th" not in p._fields:
            p = next((v for v in p if hasattr(v, "_fields")), None)
        if p is not None and hasattr(p, "v_th"):
            found.append(float(p.v_th))
    return found


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("model", ["lif", "lif_refrac"])
def test_net_neuron_sets_every_spiking_layer_in_every_task(task, model):
    """``net.neuron.v_th=0.75`` reaches every spiking layer, whatever the task; a parameter the
    model lacks (LIF: ``tau_adapt_inv``) is ignored; ``null`` keeps the model's value."""
    if task == "memory" and model == "lif_refrac":
        pytest.skip("the memory task supports lsnn and lif")
    default = _thresholds(_build(task, [f"model={model}", "net.neuron.v_th=null"]))
    changed = _thresholds(_build(task, [f"model={model}", "net.neuron.v_th=0.75", "net.neuron.tau_adapt_inv=3.0"]))
    assert len(changed) >= 1 and len(changed) == len(default)
    assert changed == [0.75] * len(changed) and 0.75 not in default


@pytest.mark.parametrize("task,overrides,layer", [
    ("mnist", [], "conv1"), ("mnist", [], "fc1"), ("memory", [], "recurrent"), ("cartpole", [], "hidden"),
    ("cartpole", ["net.readout=spike_count"], "readout"), ("cartpole", ["env=cartpole_masked"], "hidden"),
])
def test_net_layers_sets_one_layer_over_net_neuron(task, overrides, layer):
    """``net.layers.<layer>.v_th`` reaches that layer's parameters and no other's, over
    ``net.neuron.v_th``; ``neuron_layers()`` (the names the health warnings use) covers every
    spiking layer of the network."""
    built = _build(task, [*overrides, "net.neuron.v_th=0.75", f"net.layers.{layer}.v_th=0.6"])
    thresholds = {name: float(module.p.v_th) for name, module in built.neuron_layers().items()}
    assert layer in thresholds and thresholds == {name: 0.6 if name == layer else 0.75 for name in thresholds}
    assert sorted(_thresholds(built)) == sorted(thresholds.values())


def test_net_layers_refuses_a_layer_the_network_does_not_have():
    """CartPole's readout spikes only with ``net.readout=spike_count``; with the leaky
    integrator a setting for it would change nothing, so the build fails naming the key."""
    with pytest.raises(ConfigError, match=r"net\.layers\.readout=\{'v_th': 0\.5\}: this network has no spiking "
                                          r"layer 'readout'; its spiking layers: hidden$"):
        _build("cartpole", ["net.layers.readout.v_th=0.5"])
    with pytest.raises(ValueError, match=r"layer_p names no spiking layer: \['fc2'\]; the layers: conv1, conv2, fc1"):
        ConvSNN(snn.LIF, snn.LIFParameters(), layer_p={"fc2": snn.LIFParameters()})
    # MNIST's conv3 exists only with a third entry in net.channels
    with pytest.raises(ConfigError, match=r"net\.layers\.conv3=\{'v_th': 0\.5\}: this network has no spiking "
                                          r"layer 'conv3'; its spiking layers: conv1, conv2, fc1$"):
        _build("mnist", ["net.layers.conv3.v_th=0.5"])
    with pytest.raises(ValueError, match=r"layer_p names no spiking layer: \['conv3'\]; the layers: conv1, conv2, fc1"):
        ConvSNN(snn.LIF, snn.LIFParameters(), layer_p={"conv3": snn.LIFParameters()})
