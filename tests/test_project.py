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
