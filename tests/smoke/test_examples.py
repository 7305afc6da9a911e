"""examples/forgetting.sh as written: every variant is a valid config, VARIANTS picks some, and a tiny
version runs end to end into a report with the stability table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dqnlab.cli import _build_parser
from dqnlab.config import apply_overrides, parse_assignments
from dqnlab.experiments.plan import build_variants, check_variants
from dqnlab.experiments.run import FULL_BUDGET
from dqnlab.presets import preset_config

ROOT = Path(__file__).resolve().parents[2]
FORGETTING = ROOT / "examples" / "forgetting.sh"
# the remedies, by the names the report shows, and one combination of them
REMEDIES = [
    "baseline",
    "prioritized",
    "reserve-0.1",
    "reserve-0.25",
    "replay-100k",
    "lr-5e-4",
    "lr-decay",
    "polyak-0.005",
    "target-200",
    "layer-norm",
    "rollback",
    "no-double",
    "layer-norm+lr-decay",  # combinations: candidates for the stable preset
    "layer-norm+lr-anneal",
    "layer-norm+lr-anneal+target-200",
    "layer-norm+lr-anneal+eps-0.1",
    "layer-norm+lr-anneal+prioritized",
    "layer-norm+lr-anneal-30k",
    "layer-norm+lr-anneal-20k",
    "layer-norm+lr-decay+adam-eps-1e-3",
    "layer-norm+lr-decay+adam-eps-1e-2",
    "stable+rollback",  # cartpole-stable and one more change
    "stable+replay-100k",
    "stable+adam-eps-1e-2",
    "stable+rollback+replay-100k",
    "stable+gamma-0.98",
    "stable+gamma-0.995",
    "stable+gamma-0.999",
    "stable+lr-end-2e-6",
    "stable+wide-256",
    "stable+dueling",
    "stable+n-step-3",
    "stable+mse",
    "stable+n-step-3+dueling",
]
# the same remedies against the dqn preset, less the replay ones (its 100k replay keeps a whole run)
DQN_REMEDIES = [
    "baseline",
    "prioritized",
    "lr-5e-4",
    "lr-decay",
    "polyak-0.005",
    "target-2000",
    "layer-norm",
    "rollback",
    "no-double",
    "layer-norm+lr-anneal",
]


def _script(tmp_path: Path, dqnlab: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FORGETTING)],
        env={**os.environ, "DQNLAB": dqnlab, "OUT": str(tmp_path / "out"), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _arguments(tmp_path: Path, **env: str) -> list[str]:
    """The `dqnlab` arguments the script would run, caught by a stand-in that writes them out."""
    caught = tmp_path / "argv.json"
    stand_in = tmp_path / "dqnlab"
    stand_in.write_text(f'#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open("{caught}", "w"))\n')
    stand_in.chmod(0o755)
    result = _script(tmp_path, str(stand_in), **env)
    assert result.returncode == 0, result.stderr
    return json.loads(caught.read_text())


def test_forgetting_runs_every_remedy_with_a_valid_config(tmp_path) -> None:
    argv = _arguments(tmp_path)
    args = _build_parser().parse_args(argv)
    assert (args.env_id, args.preset, args.seeds, args.steps) == ("CartPole-v1", "cartpole", 10, 100_000)
    assert {"evaluation.every=2000", "evaluation.episodes=20"} <= set(args.overrides)
    variants = build_variants(args.vary, args.variant)
    assert [variant.label for variant in variants] == REMEDIES
    base = check_variants(preset_config("cartpole", "CartPole-v1"), [FULL_BUDGET, *args.overrides], variants)
    # the stable+ variants are cartpole-stable (before its 3-step returns) plus their change;
    # stable+n-step-3 is cartpole-stable itself
    stable = preset_config("cartpole-stable", "CartPole-v1")
    n_step = next(variant for variant in variants if variant.label == "stable+n-step-3")
    stable_run = apply_overrides(stable, parse_assignments([FULL_BUDGET, *args.overrides]))
    n_step_run = apply_overrides(base, parse_assignments(list(n_step.assignments)))
    assert n_step_run.replace(preset="cartpole-stable") == stable_run
    for variant in variants[-13:]:
        config = apply_overrides(base, parse_assignments(list(variant.assignments)))
        assert config.network.layer_norm and config.learning.lr_decay_steps == stable.learning.lr_decay_steps
    lr_end = {
        variant.label: dict(a.split("=", 1) for a in variant.assignments)["learning.lr_end"]
        for variant in variants[-13:]
    }
    assert float(lr_end["stable+lr-end-2e-6"]) == 2e-6 and float(lr_end["stable+dueling"]) == stable.learning.lr_end
    both = next(variant for variant in variants if variant.label == "stable+n-step-3+dueling")
    both_run = apply_overrides(base, parse_assignments(list(both.assignments)))
    assert both_run.replace(preset="cartpole-stable") == apply_overrides(stable_run, {"network": {"dueling": True}})


def test_forgetting_takes_seeds_steps_and_some_variants_from_the_environment(tmp_path) -> None:
    argv = _arguments(tmp_path, SEEDS="3", STEPS="30000", VARIANTS="baseline,layer-norm rollback")
    args = _build_parser().parse_args(argv)
    assert (args.seeds, args.steps, args.out) == (3, 30_000, str(tmp_path / "out"))
    assert [variant.label for variant in build_variants(args.vary, args.variant)] == [
        "baseline",
        "layer-norm",
        "rollback",
    ]


def test_forgetting_runs_on_another_env_and_preset(tmp_path) -> None:
    argv = _arguments(tmp_path, ENV="Acrobot-v1", PRESET="dqn", OUT="", EVAL_EVERY="5000", EVAL_EPISODES="10")
    args = _build_parser().parse_args(argv)
    assert (args.env_id, args.preset, args.out) == ("Acrobot-v1", "dqn", "experiments/Acrobot-forgetting")
    assert {"evaluation.every=5000", "evaluation.episodes=10"} <= set(args.overrides)
    variants = build_variants([], args.variant)
    assert [variant.label for variant in variants] == DQN_REMEDIES
    base = preset_config("dqn", "Acrobot-v1")
    check_variants(base, [FULL_BUDGET, *args.overrides], variants)
    # the remedies are scaled to the dqn preset, not copied from cartpole's values
    settings = {variant.label: dict(a.split("=", 1) for a in variant.assignments) for variant in variants}
    assert int(settings["target-2000"]["learning.target_update_interval"]) == 4 * base.learning.target_update_interval
    assert float(settings["lr-5e-4"]["learning.lr"]) < base.learning.lr


def test_forgetting_refuses_an_unknown_variant_in_one_line(tmp_path) -> None:
    result = _script(tmp_path, "false", VARIANTS="baseline layernorm")
    assert result.returncode == 2
    assert "no variant 'layernorm'" in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # two training processes of 600 env steps, then the report: about 20 s on an idle CPU
def test_forgetting_runs_end_to_end(tmp_path) -> None:
    dqnlab = f"{sys.executable} -m dqnlab.cli"
    result = subprocess.run(
        [str(FORGETTING), "--workers", "2", "--set", "learning.learning_starts=200"],
        env={
            **os.environ,
            "DQNLAB": dqnlab,
            "OUT": str(tmp_path / "out"),
            "SEEDS": "1",
            "STEPS": "600",
            "VARIANTS": "baseline layer-norm",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    out = tmp_path / "out"
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "## Stability" in (out / "report.md").read_text()
    assert json.loads((out / "results.json").read_text())["stability_ranking"] in (
        ["baseline", "layer-norm"],
        ["layer-norm", "baseline"],
    )
    summary = json.loads((out / "runs" / "layer-norm" / "seed-0" / "summary.json").read_text())
    assert summary["steps"] == 600 and summary["evaluations"] == 1  # the final evaluation only
    assert {"hold_rate", "last_10_mean", "eval_auc"} <= summary.keys()
    assert "layer_norm = true" in (out / "runs" / "layer-norm" / "seed-0" / "config.toml").read_text()
