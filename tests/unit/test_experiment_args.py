"""Parsing `--vary` and `--variant`, crossing them into variants, and the run plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from dqnlab.errors import ConfigError
from dqnlab.experiments.plan import (
    build_variants,
    check_variants,
    merge_shareable,
    parse_vary,
    plan_runs,
    split_top_level,
)
from dqnlab.presets import PRESETS, preset_config


def test_split_keeps_lists_whole() -> None:
    assert split_top_level("[64,64],[128, 128]") == ["[64,64]", "[128, 128]"]
    assert split_top_level("1,100000") == ["1", "100000"]


def test_parse_vary() -> None:
    assert parse_vary("learning.double=false,true") == ("learning.double", ["false", "true"])
    assert parse_vary("network.hidden_sizes=[64,64],[128]") == ("network.hidden_sizes", ["[64,64]", "[128]"])


@pytest.mark.parametrize("text", ["learning.double", "=1,2", "learning double=1", "lr=1,,2"])
def test_parse_vary_rejects_bad_syntax(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_vary(text)


def test_vary_axes_are_crossed_and_variants_are_prefixed() -> None:
    variants = build_variants(["learning.double=false,true", "learning.lr=1e-3,1e-4"], [])
    assert [v.label for v in variants] == [
        "learning.double=false learning.lr=1e-3",
        "learning.double=false learning.lr=1e-4",
        "learning.double=true learning.lr=1e-3",
        "learning.double=true learning.lr=1e-4",
    ]
    crossed = build_variants(["learning.double=false,true"], ["replay.capacity=1,learning.batch_size=1"])
    assert crossed[0].assignments == ("replay.capacity=1", "learning.batch_size=1", "learning.double=false")


def test_no_vary_is_one_base_variant() -> None:
    (variant,) = build_variants([], [])
    assert variant.label == "base" and variant.assignments == ()


def test_the_same_key_twice_is_an_error() -> None:
    with pytest.raises(ConfigError, match="same key twice"):
        build_variants(["learning.lr=1,2", "learning.lr=3"], [])


def test_check_variants_names_the_bad_variant() -> None:
    base = preset_config("cartpole", "CartPole-v1")
    with pytest.raises(ConfigError, match="variant 'replay.capacity=1'.*batch_size"):
        check_variants(base, [], build_variants([], ["replay.capacity=1"]))


def test_slugs_are_directory_names() -> None:
    (variant,) = build_variants([], ["network.hidden_sizes=[64, 64]"])
    assert "/" not in variant.slug and " " not in variant.slug


def test_plan_runs_builds_one_train_command_per_variant_and_seed(tmp_path: Path) -> None:
    variants = build_variants(["learning.double=false,true"], [])
    specs = plan_runs("CartPole-v1", "cartpole", variants, range(2), tmp_path, 300, ["tensorboard=false"])
    assert len(specs) == 4
    command = specs[1].command
    assert command[1:4] == ("-m", "dqnlab.cli", "train")
    assert command[command.index("--seed") + 1] == "1"
    # the variant's values come after the common ones, so they win
    sets = [command[i + 1] for i, word in enumerate(command) if word == "--set"]
    assert sets == ["tensorboard=false", "learning.double=false"]
    assert specs[1].run_dir == tmp_path / "runs" / "learning.double=false" / "seed-1"
    assert "--device" not in command
    on_gpu = plan_runs("CartPole-v1", "cartpole", variants, [0], tmp_path, None, [], device="cuda")[0]
    assert on_gpu.command[-2:] == ("--device", "cuda") and "--steps" not in on_gpu.command
    assert on_gpu.resume_command[3:] == ("train", "--resume", str(on_gpu.run_dir), "--no-progress")


def test_variants_that_differ_only_in_scalars_are_merged_in_order() -> None:
    variants = build_variants(
        [],
        [
            "base:",
            "wide:network.hidden_sizes=[128]",
            "lr:learning.lr=0.0005",
            "batch:learning.batch_size=32",  # shapes the stacked batch: never merged
            "wide-gamma:network.hidden_sizes=[128],learning.gamma=0.98",
        ],
    )
    groups = merge_shareable(preset_config("cartpole", "CartPole-v1"), ["tensorboard=false"], variants)
    assert groups == [["base", "lr"], ["wide", "wide-gamma"]]


def test_a_merged_population_is_one_train_command_with_each_variant(tmp_path: Path) -> None:
    variants = build_variants(["learning.gamma=0.99,0.98"], ["base:", "lr:learning.lr=0.0005"])
    merged = [["base learning.gamma=0.99", "lr learning.gamma=0.99", "lr learning.gamma=0.98"]]
    specs = plan_runs(
        "CartPole-v1", "cartpole", variants, [0, 1], tmp_path, 300, ["x=1"], population=True, merged=merged
    )
    assert len(specs) == 2  # the merged three, and "base learning.gamma=0.98" alone
    command = specs[0].command
    assert [command[i + 1] for i, word in enumerate(command) if word == "--variant"] == [
        "base__learning.gamma-0.99:learning.gamma=0.99",
        "lr__learning.gamma-0.99:learning.lr=0.0005,learning.gamma=0.99",
        "lr__learning.gamma-0.98:learning.lr=0.0005,learning.gamma=0.98",
    ]
    assert command[command.index("--seeds") + 1] == "0,1"
    assert [command[i + 1] for i, word in enumerate(command) if word == "--set"] == ["x=1"]
    # each run directory is labelled with its own variant, as the report groups them
    assert specs[0].labelled_run_dirs[2:4] == [
        ("lr learning.gamma=0.99", tmp_path / "runs" / "merged-0" / "lr__learning.gamma-0.99" / "seed-0"),
        ("lr learning.gamma=0.99", tmp_path / "runs" / "merged-0" / "lr__learning.gamma-0.99" / "seed-1"),
    ]
    assert specs[1].run_dirs == [tmp_path / "runs" / "base__learning.gamma=0.98" / f"seed-{seed}" for seed in (0, 1)]


def test_named_variants() -> None:
    variants = build_variants([], ["rainbow:", "no-PER:replay.prioritized=false,replay.alpha=0"])
    assert [(v.label, v.assignments) for v in variants] == [
        ("rainbow", ()),
        ("no-PER", ("replay.prioritized=false", "replay.alpha=0")),
    ]


@pytest.mark.parametrize("text", [":", ":a=1", "x", ""])
def test_bad_variants(text: str) -> None:
    with pytest.raises(ConfigError):
        build_variants([], [text])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_read_back_from_an_experiments_base_toml_is_itself(name: str, tmp_path: Path) -> None:
    # experiments freeze their base config in OUT/base.toml and each run reads it with --config
    from dqnlab.cli import _build_parser, _resolve_config

    envs = {"atari": "ALE/SpaceInvaders-v5", "minatar": "MinAtar/SpaceInvaders-v1"}
    env_id = next((env for prefix, env in envs.items() if name.startswith(prefix)), "CartPole-v1")
    base = preset_config(name, env_id).replace(steps=1234, seed=7)
    (tmp_path / "base.toml").write_text(base.to_toml())
    args = _build_parser().parse_args(["train", env_id, "--preset", name, "--config", str(tmp_path / "base.toml")])
    assert _resolve_config(args) == base
