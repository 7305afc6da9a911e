"""Every `dqnlab` command the README, docs and examples show must run as written: its subcommand and
flags exist in the parser (checked without running them), and the example scripts find dqnlab in a
fresh clone where only `make demo` has run (no activated venv)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dqnlab.cli import _build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCUMENTS += sorted((ROOT / "examples").glob("*.md"))
EXAMPLES = sorted(path for path in (ROOT / "examples").glob("*.sh") if not path.name.startswith("_"))
COMMAND = re.compile(r"(?<![\w/.$-])dqnlab ([a-z][\w-]*)(.*)")
FLAG = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")


def _code(text: str) -> list[str]:
    """The code a markdown file shows, one command per line: fenced and indented blocks (continuation
    lines joined: a trailing backslash, or an indented `[--flag ...]` of a synopsis) and inline spans."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.startswith("    "):
            if lines and (lines[-1].endswith("\\") or re.match(r"\s+\[?--", line)):
                lines[-1] = lines[-1].rstrip("\\") + " " + line.strip()
            else:
                lines.append(line.strip())
        else:
            lines.extend(re.findall(r"`([^`]+)`", line))
    return lines


def _documented_commands() -> list[tuple[str, str, list[str]]]:
    """(where, subcommand, flags) of every dqnlab command shown in the documents."""
    found = []
    for document in DOCUMENTS:
        for line in _code(document.read_text()):
            line = re.sub(r"\s#\s.*", "", line)  # a shell comment
            for match in COMMAND.finditer(line):
                if line[: match.start()].rstrip().endswith(("from", "import")):
                    continue  # Python: `from dqnlab import Agent`
                found.append((f"{document.name}: {line}", match.group(1), FLAG.findall(match.group(2))))
    return found


def _options(parser) -> dict[str, set[str]]:
    subparsers = next(action for action in parser._actions if action.dest == "command")
    return {name: set(sub._option_string_actions) for name, sub in subparsers.choices.items()}


def test_the_documents_show_commands_of_every_kind():
    shown = {command for _, command, _ in _documented_commands()}
    assert {"train", "evaluate", "env-info", "experiment", "compare", "plot", "presets"} <= shown


def test_every_documented_command_and_flag_exists():
    options = _options(_build_parser())
    wrong = []
    for where, command, flags in _documented_commands():
        if command not in options:
            wrong.append(f"{where}: no subcommand {command!r}")
        elif unknown := [flag for flag in flags if flag not in options[command]]:
            wrong.append(f"{where}: dqnlab {command} has no {', '.join(unknown)}")
    assert not wrong, "\n".join(wrong)


@pytest.fixture
def fresh_clone(tmp_path):
    """A clone after `make demo`, whose .venv/bin/dqnlab records its arguments, and a PATH (no
    activated venv) on which there is no dqnlab."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    fake = tmp_path / ".venv" / "bin" / "dqnlab"
    fake.parent.mkdir(parents=True)
    fake.write_text(f'#!/bin/bash\nprintf "%s\\0" "$@" > {tmp_path / "argv"}\n')  # records its arguments
    fake.chmod(0o755)
    path = ":".join(p for p in ("/usr/bin", "/bin") if not (Path(p) / "dqnlab").exists())
    environ = {key: value for key, value in os.environ.items() if key != "DQNLAB"}
    return tmp_path, {**environ, "PATH": path}


CASES = [(path.name, "CartPole-v1") for path in EXAMPLES] + [("table_linear_mlp.sh", "MountainCar-v0")]


@pytest.mark.parametrize("script, env_id", CASES)
def test_example_scripts_run_the_clones_dqnlab_without_an_activated_venv(fresh_clone, script, env_id):
    clone, environ = fresh_clone
    result = subprocess.run(
        ["bash", str(clone / "examples" / script)],
        capture_output=True,
        text=True,
        cwd=clone,
        env={**environ, "ENV": env_id},
    )
    assert result.returncode == 0, result.stderr
    argv = (clone / "argv").read_text().split("\0")[:-1]
    assert argv[:2] == ["experiment", env_id]
    _build_parser().parse_args(argv)  # the real parser takes every flag the script passes


def test_example_scripts_say_what_to_do_when_dqnlab_is_not_installed(fresh_clone):
    clone, environ = fresh_clone
    shutil.rmtree(clone / ".venv")
    result = subprocess.run(
        ["bash", str(clone / "examples" / "cartpole_double.sh")], capture_output=True, text=True, env=environ
    )
    assert result.returncode == 2
    assert "run make demo" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_no_document_installs_dqnlab_from_pypi_where_it_is_not_published():
    for document in [*DOCUMENTS, ROOT / "src" / "dqnlab" / "distributed" / "__init__.py"]:
        assert not re.search(r"pip install '?dqnlab\[", document.read_text()), document.name


REPO_PATH = re.compile(r"(?<![\w/.-])((?:src|tests|benchmarks|scripts|examples|docs)/[\w/.-]*\w)")
ELSEWHERE = {"examples/dqn.py"}  # kenjyoung/MinAtar's, which docs/minatar.md quotes


def test_every_file_the_documents_name_exists():
    """A renamed test or module leaves its old path in the prose: every path of this repository that a
    document names (from the root, or from src/dqnlab/ as `envs/factory.py`) must exist."""
    missing = [
        f"{document.name}: {path}"
        for document in DOCUMENTS
        for path in REPO_PATH.findall(document.read_text())
        if path not in ELSEWHERE and not (ROOT / path).exists() and not (ROOT / "src" / "dqnlab" / path).exists()
    ]
    assert not missing, "\n".join(missing)
