"""The developer interface: every Makefile target's files exist, the demo installs only what training
needs, `make clean` never deletes trained runs (read with `make -n`: nothing runs), and the package
metadata builds without deprecation warnings."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = (ROOT / "Makefile").read_text()
TARGETS = re.findall(r"^([a-z][\w-]*):", MAKEFILE, flags=re.MULTILINE)
# a relative path the recipe reads: a word with a file extension or a repository folder in it
FILE_WORD = re.compile(r"(?<![\w./$-])((?:benchmarks|src|tests|examples|docs)/[\w./-]+|[\w-]+\.(?:py|toml|txt|sh))\b")

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _dry_run(target: str) -> str:
    """The commands `make TARGET` would run in a fresh clone (-B: as if nothing were installed)."""
    result = subprocess.run(["make", "-n", "-B", "-C", str(ROOT), target], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_makefile_declares_the_documented_targets():
    assert {"demo", "test", "bench", "clean", "clean-runs", "lint", "type"} <= set(TARGETS)


@needs_make
@pytest.mark.parametrize("target", TARGETS)
def test_every_file_a_target_names_exists(target):
    for line in _dry_run(target).splitlines():
        for word in FILE_WORD.findall(line):
            assert (ROOT / word).exists(), f"make {target} runs `{line}`, but {word} does not exist"


@needs_make
def test_demo_installs_only_what_training_needs_and_test_adds_the_dev_tools():
    demo, test = _dry_run("demo"), _dry_run("test")
    assert "[dev]" not in demo and "[bench]" not in demo, demo
    assert "[dev]" in test, test
    for commands in (demo, test):  # torch comes pinned (the CPU build), before the package asks for a range
        assert "-c constraints.txt torch==2.13.0" in commands
        assert all(
            "-c constraints.txt" in line
            for line in commands.splitlines()
            if "pip install" in line and "--upgrade pip" not in line
        )


@needs_make
def test_clean_keeps_runs_and_clean_runs_removes_them():
    assert not re.search(r"\bruns\b", _dry_run("clean"))
    assert re.search(r"rm -rf runs\b", _dry_run("clean-runs"))


def test_the_license_is_an_spdx_expression():
    """A `{ text = ... }` table makes setuptools print a deprecation banner at every install (PEP 639)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "MIT"
    assert "setuptools>=77" in pyproject["build-system"]["requires"]  # the first to read the string form
