"""The project's own set-up: CI runs exactly the README's test command."""

import re
from pathlib import Path

import pytest

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

    import tasks.cartpole  # noqa: F401  (registers its typed config blocks; the runner: the resolvers)

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


def test_results_table_aggregates_seeds(tmp_path):
    """``--seeds``: runs whose commands differ only in ``seed=`` become one row with the mean and
    the range of each metric; other commands stay separate."""
    import json

    from scripts import results_table

    runs = {"a": ("python -m tasks.mnist seed=1", 0.990), "b": ("python -m tasks.mnist seed=2", 0.996),
            "c": ("python -m tasks.mnist seed=3", 0.993), "d": ("python -m tasks.mnist experiment=mnist_lifbox seed=1", 0.98)}
    for name, (command, acc) in runs.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({
            "command": command, "metrics": {"test/acc": acc}, "fit_and_test_seconds": 600.0 + 10 * acc,
            "machine": "x86_64, 2 CPUs, Linux", "date": "2026-12-01"}))
    table = results_table.seed_rows(sorted(tmp_path.iterdir()), ["test/acc"])
    assert len(table) == 4, table
    assert table[2].startswith("| `python -m tasks.mnist` |  | 1, 2, 3 | 99.30% (99.00% to 99.60%) | 610 / 610 |"), table[2]
    assert table[3].startswith("| `python -m tasks.mnist experiment=mnist_lifbox` | `experiment=mnist_lifbox` | 1 | "
                               "98.00% (98.00% to 98.00%) |"), table[3]
    row = results_table.rows([tmp_path / "d"], ["test/acc"])[2]
    assert row.startswith("| `python -m tasks.mnist experiment=mnist_lifbox seed=1` | `experiment=mnist_lifbox seed=1` | 98.00% |")
    # a run that names no overlay but composed one by default (metrics.json "experiment") gets it in its cell
    summary = json.loads((tmp_path / "b" / "metrics.json").read_text())
    (tmp_path / "b" / "metrics.json").write_text(json.dumps({**summary, "experiment": "mnist_plif_best"}))
    row = results_table.rows([tmp_path / "b"], ["test/acc"])[2]
    assert row.startswith("| `python -m tasks.mnist seed=2` | `experiment=mnist_plif_best seed=2` | 99.60% |"), row


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_benchmark_rounds_balance_predecessors(n):
    """scripts/bench_neurons.py times its cases in orders where, over each cycle of rounds,
    every case comes right after every other case equally often; the round robin rounds its
    repeats up to whole cycles (when there is at least one) and times each case once per round."""
    import collections

    from scripts import bench_neurons

    cycle = n if n % 2 == 0 else 2 * n
    orders = bench_neurons.balanced_orders(n, 3 * cycle)
    assert all(sorted(order) == list(range(n)) for order in orders)
    pairs = collections.Counter((a, b) for order in orders for a, b in zip(order, order[1:]))
    assert len(pairs) == n * (n - 1) and set(pairs.values()) <= {3 * cycle // n}, pairs
    calls = collections.Counter()
    cases = {str(k): (lambda k=k: calls.update([k]) or (0.0, 0.0)) for k in range(n)}
    times = bench_neurons.round_robin(cases, repeats=cycle + 1, warmup=1)
    assert [len(times[str(k)][0]) for k in range(n)] == [2 * cycle] * n
    assert calls == {k: 2 * cycle + 1 for k in range(n)}
    if cycle > 2:  # fewer repeats than a cycle: as many rounds as asked
        times = bench_neurons.round_robin(cases, repeats=2, warmup=0)
        assert [len(times[str(k)][0]) for k in range(n)] == [2] * n


def test_benchmark_rounds_vary_the_cases_two_places_before():
    """Each cycle of the benchmark's balanced orders assigns the cases to the design's places
    anew, so the cases two places before a case vary: over six cycles of eight cases (section
    1) no case is two places before another in more than a quarter of the rounds (one
    assignment for all cycles: 18 of 48 rounds, two cases only)."""
    import collections

    from scripts import bench_neurons

    orders = bench_neurons.balanced_orders(8, 48)
    two_back = collections.Counter((order[k - 2], order[k]) for order in orders for k in range(2, 8))
    assert max(two_back.values()) <= 12, two_back
    assert len({tuple(order) for order in orders}) > 8  # not one square repeated


def test_benchmark_records_no_path_of_the_machine(tmp_path):
    """docs/benchmarks.md records the command that made it; an ``--output`` file outside the
    repository appears by its name only, one inside relative to the repository."""
    from scripts import bench_neurons

    outside = tmp_path / "run3.md"
    inside = ROOT / "docs" / "benchmarks.md"
    assert bench_neurons.recorded_command(["--sections", "15", "--output", str(outside)]) == (
        "python scripts/bench_neurons.py --sections 15 --output run3.md"
    )
    assert bench_neurons.recorded_command([f"--output={outside}", "--no-write"]) == (
        "python scripts/bench_neurons.py --output=run3.md --no-write"
    )
    assert bench_neurons.recorded_command(["--output", str(inside)]) == (
        "python scripts/bench_neurons.py --output docs/benchmarks.md"
    )
    recorded = re.search(r"^- command: `(.*)`$", inside.read_text(), re.M).group(1)
    assert not any(word.startswith(("/", "~")) or "=/" in word for word in recorded.split()), recorded


def test_results_table_zoo_has_one_row_per_model(tmp_path):
    """``--zoo``: a sweep folder's runs become one row per model with the test accuracy and the
    mean seconds per training epoch."""
    import json

    from scripts import results_table

    runs = {"0": ("lif", 0.99, [60.0, 62.0]), "1": ("plif", 0.992, [70.0, 72.0]), "2": ("lif", 0.98, [64.0, 66.0])}
    for name, (model, acc, epochs) in runs.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({
            "command": f"python -m tasks.mnist model={model}", "model": model, "metrics": {"test/acc": acc},
            "fit_and_test_seconds": 200.0, "epoch_seconds": epochs, "machine": "x86_64, 2 CPUs, Linux",
            "date": "2026-12-02"}))
    (tmp_path / "multirun.yaml").write_text("")  # a sweep folder's other contents are not runs
    table = results_table.zoo_rows(results_table._run_dirs([str(tmp_path)], zoo=True), ["test/acc"])
    assert table[2:] == ["| `lif` | 2 | 98.50% | 63.0 | 2 | x86_64, 2 CPUs, Linux | 2026-12-02 |",
                         "| `plif` | 1 | 99.20% | 71.0 | 2 | x86_64, 2 CPUs, Linux | 2026-12-02 |"], table
