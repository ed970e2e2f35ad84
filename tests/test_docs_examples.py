"""README's "Audit your own model": the code it shows is the files in docs/examples, and its
commands run as written (from a folder laid out like the repository root)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import memlens as ml

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Audit your own model"


def _section(text: str, heading: str, level: str = "## ") -> str:
    start = text.index(heading)
    rest = text[start + len(heading):]
    ends = [m.start() for m in re.finditer(rf"^{re.escape(level)}|^## ", rest, re.M)]
    return rest[: ends[0]] if ends else rest


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


@pytest.fixture(scope="module")
def readme_section() -> str:
    return _section((ROOT / "README.md").read_text(encoding="utf-8"), SECTION)


def test_the_readme_shows_each_example_file_exactly(readme_section):
    shown = {}
    for block in _blocks(readme_section, "python"):
        first = block.splitlines()[0]
        match = re.match(r"# (docs/examples/\S+\.py)", first)
        if match:
            shown[match.group(1)] = block
    assert {"docs/examples/train_function.py", "docs/examples/save_checkpoints.py",
            "docs/examples/make_predictions.py"} <= set(shown)  # fmt: skip
    for path, block in shown.items():
        assert (ROOT / path).read_text(encoding="utf-8") == block, f"README and {path} differ"


@pytest.fixture
def workspace(tmp_path, monkeypatch, one_torch_thread):
    """A folder with the repository's docs/ in it, as the commands expect; one torch thread."""
    (tmp_path / "docs").symlink_to(ROOT / "docs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "400")
    return tmp_path


def _run_commands(section: str, run_cli) -> list[str]:
    """Run every command of the section's bash blocks; return what each `memlens` command printed."""
    printed = []
    for block in _blocks(section, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            argv = shlex.split(line, comments=True)
            if not argv:
                continue
            if argv[0] == "memlens":
                code, stdout, err = run_cli(*argv[1:])
                assert code == 0, (line, err)
                printed.append(stdout)
            else:
                assert argv[0] == "python", line
                env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
                done = subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, text=True, timeout=300)
                assert done.returncode == 0, (line, done.stderr)
    return printed


def test_your_training_function(readme_section, workspace, run_cli):
    printed = _run_commands(_section(readme_section, "### Your training function", "### "), run_cli)
    auroc = float(re.search(r"AUROC of memorization for finding them ([0-9.]+)", printed[-1]).group(1))
    assert auroc >= 0.98  # the README says ≈ 0.99
    assert ml.Run.open(workspace / "runs/own-function").config["trainer"]["trainer"] == "function"


def test_your_checkpoints(readme_section, workspace, run_cli):
    printed = _run_commands(_section(readme_section, "### Your checkpoints", "### "), run_cli)
    assert "sorted by name in natural order" in printed[0]
    run = ml.Run.open(workspace / "runs/own-checkpoints")
    assert run.config["trainer"]["model"] == "8 state_dict checkpoints" and (run.path / "report.html").exists()


def test_your_predictions(readme_section, workspace, run_cli):
    _run_commands(_section(readme_section, "### Your predictions", "### "), run_cli)
    run = ml.Run.open(workspace / "runs/own-predictions")
    assert set(run.mia["attacks"]) == {"lira-online", "lira-offline", "rmia", "loss"}
    assert run.membership.shape == (16, 569)
