"""The project's own set-up: CI runs exactly the README's test command."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```bash\n(.+?)\n```", readme)
    test_command = [c for c in commands if "pytest" in c]
    assert len(test_command) == 1, commands
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command[0] in ci


def test_outputs_and_data_are_ignored():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "outputs/*" in ignored and "data/" in ignored
    assert (ROOT / "outputs" / ".gitkeep").exists()


def test_runs_started_in_the_same_second_get_their_own_directories():
    from hydra import compose, initialize_config_dir

    import tasks.common.runner  # noqa: F401  (registers the config resolvers)

    dirs = []
    for _ in range(2):
        with initialize_config_dir(version_base="1.3", config_dir=str(ROOT / "conf")):
            cfg = compose(config_name="cartpole", return_hydra_config=True)
        dirs.append((cfg.hydra.run.dir, cfg.hydra.sweep.dir))
    (run_a, sweep_a), (run_b, sweep_b) = dirs
    assert re.search(r"outputs/cartpole/runs/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_\d{6}$", run_a), run_a
    assert re.search(r"outputs/cartpole/multirun/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_\d{6}$", sweep_a), sweep_a
    assert run_a != run_b and sweep_a != sweep_b


def test_ci_runs_fused_tests_on_other_cpu_code_paths():
    """Fused-vs-reference equality must not depend on the CPU's code path: CI runs those tests
    again under MKL's portable path and ATen's oldest vector code, with CI=true (the C++ loops
    must build there)."""
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for variant in ("MKL_CBWR=COMPATIBLE", "ATEN_CPU_CAPABILITY=default"):
        assert any(line.startswith(variant) and "tests/test_fused.py" in line for line in ci), variant
    assert 'export CI="${CI:-true}"' in ci
