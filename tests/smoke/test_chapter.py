"""Every command in docs/chapter.md still works: each is parsed against the CLI and its config checked;
the short ones (train on classic envs with a tiny budget, env-info, plot, evaluate) are run in order."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest

from dqnlab.cli import _build_parser, _resolve_config, main
from dqnlab.envs.atari import is_atari
from dqnlab.envs.factory import registered_id
from dqnlab.experiments.plan import build_variants, check_variants
from dqnlab.experiments.run import FULL_BUDGET
from dqnlab.presets import preset_config

ROOT = Path(__file__).resolve().parents[2]
CHAPTER = ROOT / "docs" / "chapter.md"
TINY_STEPS = ["--steps", "300"]  # for train commands that do not set their own budget
QUIET = ["--no-progress", "--set", "tensorboard=false", "--set", "device=cpu"]


def chapter_commands(text: str) -> list[str]:
    """The commands of ```sh blocks (backslash continuations joined) and of inline `dqnlab ...` spans,
    in the order they appear."""
    found: list[tuple[int, str]] = []
    for block in re.finditer(r"```sh\n(.*?)```", text, re.S):
        joined = re.sub(r"\s*\\\n\s*", " ", block.group(1))
        found += [(block.start(), line.strip()) for line in joined.splitlines() if line.strip()]
    outside = re.sub(r"```.*?```", lambda match: " " * len(match.group(0)), text, flags=re.S)
    found += [(span.start(), span.group(1)) for span in re.finditer(r"`(dqnlab [^`]+)`", outside)]
    return [command for _, command in sorted(found)]


def split_command(command: str) -> tuple[dict[str, str], list[str]]:
    """(leading VAR=value assignments, the words after them)."""
    words = shlex.split(command)
    assignments = {}
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        name, _, value = words.pop(0).partition("=")
        assignments[name] = value
    return assignments, words


def test_the_chapter_has_a_command_for_every_section() -> None:
    text = CHAPTER.read_text()
    sections = re.split(r"\n## ", text)[1:]
    assert len(sections) == 10
    for section in sections:
        assert chapter_commands(section), section.splitlines()[0]
    for image in re.findall(r"\]\((figures/[^)]+)\)", text):
        assert (CHAPTER.parent / image).is_file(), image
    for page in re.findall(r"\]\(([a-z]+\.md)[#)]", text):
        assert (CHAPTER.parent / page).is_file(), page


def test_the_command_extraction() -> None:
    text = "a `dqnlab plot x` b\n```sh\nSEEDS=2 examples/a.sh \\\n    --workers 2\ndqnlab env-info E\n```\n"
    assert chapter_commands(text) == ["dqnlab plot x", "SEEDS=2 examples/a.sh --workers 2", "dqnlab env-info E"]
    assert split_command("SEEDS=2 STEPS=10 examples/a.sh --workers 2") == (
        {"SEEDS": "2", "STEPS": "10"},
        ["examples/a.sh", "--workers", "2"],
    )


@pytest.mark.parametrize("command", chapter_commands(CHAPTER.read_text()))
def test_every_chapter_command_parses_and_its_config_is_valid(command: str) -> None:
    _, words = split_command(command)
    parser = _build_parser()
    if words[0].startswith("examples/"):
        script = ROOT / words[0]
        assert script.is_file() and os.access(script, os.X_OK), script
        parser.parse_args(["experiment", "CartPole-v1", *words[1:]])  # extra flags go to `dqnlab experiment`
        return
    assert words[0] == "dqnlab", command
    args = parser.parse_args(words[1:])
    if args.command == "train":
        registered_id(args.env_id)
        _resolve_config(args)  # presets and --set keys and values
    elif args.command == "experiment" and args.resume is None:
        base = preset_config(args.preset or "dqn", args.env_id)
        check_variants(base, [FULL_BUDGET, *args.overrides], build_variants(args.vary, args.variant))
    elif args.command == "env-info":
        registered_id(args.env_id)


@pytest.mark.slow
def test_the_chapter_commands_run(tmp_path, monkeypatch, capsys) -> None:
    """Runs the train (on classic envs), env-info, plot and evaluate commands in the chapter's order, in a
    scratch directory; each train runs 300 env steps unless the chapter sets its own budget (the tabular
    CliffWalking run, whose -13 the chapter quotes, runs as written)."""
    monkeypatch.chdir(tmp_path)
    ran = []
    for command in chapter_commands(CHAPTER.read_text()):
        _, words = split_command(command)
        if words[0] != "dqnlab" or words[1] not in ("train", "env-info", "plot", "evaluate"):
            continue
        argv = words[1:]
        if argv[0] == "train":
            if is_atari(argv[1]):
                continue
            argv += QUIET + ([] if "--steps" in argv else TINY_STEPS)
        assert main(argv) == 0, command
        ran.append(command)
    printed = capsys.readouterr().out
    assert "48 states" in printed and "10^242,751" in printed
    assert json.loads((tmp_path / "runs" / "cliff" / "summary.json").read_text())["best_eval_return"] == -13.0
    assert (tmp_path / "cartpole.gif").stat().st_size > 0
    assert len(ran) >= 10
