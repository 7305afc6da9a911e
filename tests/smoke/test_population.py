"""Seed populations: members are the runs `--seed k` makes, bad input is refused, a population resumes exactly."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from dqnlab.agent import Agent
from dqnlab.cli import main
from dqnlab.config import Config, apply_overrides
from dqnlab.errors import ConfigError, NonFiniteError, TrainingInterrupted
from dqnlab.learner import DQNLearner
from dqnlab.population.run import build_population_loop, check_shareable, parse_seeds, train_population
from dqnlab.presets import preset_config
from dqnlab.training.checkpointing import Checkpointer

DQN = {"network": {"hidden_sizes": [32, 32]}}
DOUBLE_PER_3STEP = {**DQN, "learning": {"double": True}, "replay": {"prioritized": True, "n_step": 3}}
C51_NOISY_DUELING = {
    "network": {"hidden_sizes": [32, 32], "dueling": True, "noisy": True, "distributional": "c51", "v_max": 100.0}
}
LAYER_NORM = {"network": {"hidden_sizes": [32, 32], "layer_norm": True}}
DUELING = {"network": {"hidden_sizes": [64, 64], "dueling": True}}  # its value stream has one output


def _config(seed: int, values: dict, steps: int = 300, preset: str = "dqn", env_id: str = "CartPole-v1") -> Config:
    """Small runs that take 200 gradient steps: one per env step after the first 100."""
    config = preset_config(preset, env_id)
    common = {"seed": seed, "steps": steps, "tensorboard": False, "device": "cpu"}
    common |= {"evaluation": {"every": 0, "episodes": 1}, "replay": {"capacity": 1000}}
    common |= {"learning": {"learning_starts": 100, "batch_size": 32, "train_freq": 1}}
    config = apply_overrides(config, common)
    return apply_overrides(config, values)


def _single_run_losses(config: Config, monkeypatch) -> tuple[list[float], Agent]:
    losses: list[float] = []
    update = DQNLearner.update

    def recording(self, batch):
        stats = update(self, batch)
        losses.append(stats.loss)
        return stats

    with monkeypatch.context() as patch:
        patch.setattr(DQNLearner, "update", recording)
        agent = Agent(config)
        agent.learn()
    return losses, agent


def _assert_members_are_their_single_runs(configs: list[Config], monkeypatch) -> None:
    loop = build_population_loop(configs, None, progress=False)
    member_losses: list[list[float]] = [[] for _ in configs]
    update = loop.update

    def recording(batches):
        stats = update(batches)
        for losses, member_stats in zip(member_losses, stats, strict=True):
            losses.append(member_stats.loss)
        return stats

    loop.update = recording
    loop.run()
    for config, lane, losses in zip(configs, loop.lanes, member_losses, strict=True):
        single_losses, single = _single_run_losses(config, monkeypatch)
        assert len(losses) == len(single_losses) == 201  # steps 100..300
        assert losses == single_losses  # bit for bit
        assert lane.agent.episodes == single.episodes  # the same transitions: the same episodes
        for name, weight in single.q_network.state_dict().items():
            assert torch.equal(lane.agent.q_network.state_dict()[name], weight), name


@pytest.mark.parametrize(
    "values",
    [DQN, DOUBLE_PER_3STEP, C51_NOISY_DUELING, LAYER_NORM, DUELING],
    ids=["dqn", "double-per-3step", "c51", "layer-norm", "dueling"],
)
def test_members_learn_as_their_single_runs(values, monkeypatch) -> None:
    _assert_members_are_their_single_runs([_config(seed, values) for seed in (0, 1, 2)], monkeypatch)


@pytest.mark.parametrize(
    ("preset", "env_id", "values"),
    [
        ("minatar-dqn", "MinAtar/SpaceInvaders-v1", {"exploration": {"decay_steps": 200}}),  # centered RMSprop
        ("minatar-revisiting-dqn", "MinAtar/Breakout-v1", {}),  # the same-padded torso, no hidden layer, Adam
        ("cartpole-linear", "CartPole-v1", {}),  # a Fourier basis, semi-gradient SGD
        ("dqn", "CartPole-v1", {"network": {"q_function": "table", "bins": [4]}, "learning": {"optimizer": "sgd"}}),
        ("dqn", "CartPole-v1", {**DQN, "learning": {"optimizer": "rmsprop", "lr": 1e-3}}),
        ("dqn", "CartPole-v1", {**DQN, "learning": {"optimizer": "rmsprop_centered", "lr": 1e-3}}),
    ],
    ids=["minatar-dqn", "minatar-same", "linear-fourier", "table", "rmsprop", "rmsprop-centered"],
)
def test_members_of_every_network_and_optimizer_learn_as_their_single_runs(preset, env_id, values, monkeypatch) -> None:
    configs = [_config(seed, values, preset=preset, env_id=env_id) for seed in (0, 1)]
    _assert_members_are_their_single_runs(configs, monkeypatch)


def test_members_with_their_own_scalar_hyperparameters_learn_as_their_single_runs(monkeypatch) -> None:
    own = [
        {"learning": {"lr": 5e-4, "gamma": 0.98, "target_update_interval": 30}, "exploration": {"end": 0.1}},
        {"learning": {"lr": 2e-3, "tau": 0.05, "max_grad_norm": 0.3}, "replay": {"prioritized": True, "alpha": 0.4}},
    ]
    _assert_members_are_their_single_runs([_config(0, {**DQN, **values}) for values in own], monkeypatch)


def test_a_population_of_one_writes_the_single_runs_metrics(tmp_path) -> None:
    arguments = ["--preset", "cartpole", "--steps", "1500", "--no-progress"]
    assert main(["train", "CartPole-v1", "--seed", "4", "--run-dir", str(tmp_path / "single"), *arguments]) == 0
    assert main(["train", "CartPole-v1", "--seeds", "4", "--run-dir", str(tmp_path / "pop"), *arguments]) == 0
    member = tmp_path / "pop" / "seed-4"
    for name in ("metrics.csv", "eval.csv", "target_updates.csv"):
        assert (member / name).read_bytes() == (tmp_path / "single" / name).read_bytes(), name


def test_variants_in_one_population_write_their_single_runs_metrics(tmp_path) -> None:
    arguments = ["--preset", "cartpole", "--steps", "1500", "--no-progress"]
    variants = ["--variant", "lo:learning.lr=0.0005", "--variant", "hi:learning.lr=0.003,learning.gamma=0.98"]
    assert (
        main(["train", "CartPole-v1", "--seeds", "3,4", *variants, "--run-dir", str(tmp_path / "pop"), *arguments]) == 0
    )
    single = ["--seed", "4", "--set", "learning.lr=0.003", "--set", "learning.gamma=0.98"]
    assert main(["train", "CartPole-v1", *single, "--run-dir", str(tmp_path / "single"), *arguments]) == 0
    for name in ("metrics.csv", "eval.csv", "target_updates.csv"):
        assert (tmp_path / "pop" / "hi" / "seed-4" / name).read_bytes() == (tmp_path / "single" / name).read_bytes()
    summary = json.loads((tmp_path / "pop" / "population_summary.json").read_text())
    assert [member["member"] for member in summary["members"]] == ["lo/seed-3", "lo/seed-4", "hi/seed-3", "hi/seed-4"]
    assert sorted(summary["variants"]) == ["hi", "lo"] and summary["variants"]["lo"]["best_eval_return"]["members"] == 2


def test_a_stopped_member_is_masked_and_the_others_go_on(tmp_path, monkeypatch) -> None:
    # patience 1: a member stops at its first evaluation that is no better than its best
    values = {**DQN, "evaluation": {"every": 100, "episodes": 1, "patience": 1}}
    configs = [_config(seed, values, steps=600) for seed in (0, 1)]
    summary = train_population(configs, tmp_path)
    steps = [member["steps"] for member in summary["members"]]
    for seed, member_steps in zip((0, 1), steps, strict=True):
        single = Agent(_config(seed, values, steps=600)).learn(run_dir=tmp_path / f"single-{seed}")
        assert member_steps == single["steps"]
        assert (tmp_path / f"seed-{seed}" / "metrics.csv").read_text().splitlines()[:3] == (
            (tmp_path / f"single-{seed}" / "metrics.csv").read_text().splitlines()[:3]
        )
    assert min(steps) < 600, "the test needs a member that stops early"
    for seed in (0, 1):
        saved = torch.load(tmp_path / f"seed-{seed}" / "checkpoints" / "last.pt", weights_only=True)
        assert saved["env_steps"] == summary["members"][seed]["steps"]  # its weights at its stop


def test_the_population_summary_aggregates_the_members(tmp_path) -> None:
    summary = train_population([_config(seed, DQN) for seed in (0, 1, 2)], tmp_path)
    assert [member["member"] for member in summary["members"]] == ["seed-0", "seed-1", "seed-2"]
    finals = [member["final_eval_return"] for member in summary["members"]]
    for member in summary["members"]:
        assert (
            member["best_eval_return"]
            == json.loads((tmp_path / member["member"] / "summary.json").read_text())["best_eval_return"]
        )
    assert summary["final_eval_return"]["iqm"] == pytest.approx(float(np.mean(sorted(finals))))  # n = 3 cuts none
    low, high = summary["final_eval_return"]["ci95"]
    assert min(finals) <= low <= high <= max(finals)
    assert summary["env_steps"] == 900 and json.loads((tmp_path / "population_summary.json").read_text()) == summary


def _interrupt_seed_0_at(patch, step: int) -> None:
    """Ctrl-C as seed 0's lane passes env step `step` (its handler's flag set then): the population stops there."""
    after_step = Checkpointer.after_step

    def interrupt_at(self, previous_step):
        if self.loop.agent.env_steps == step and self.loop.config.seed == 0:
            self.stop_signal = signal.SIGINT
        after_step(self, previous_step)

    patch.setattr(Checkpointer, "after_step", interrupt_at)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop_minatar"])  # a stacked optimizer state, the members' own
def test_a_resumed_population_is_bit_identical(optimizer, tmp_path, monkeypatch) -> None:
    arguments = ["CartPole-v1", "--preset", "cartpole", "--seeds", "0,1", "--steps", "1200", "--no-progress"]
    arguments += ["--checkpoint-every", "400", "--set", f"learning.optimizer={optimizer}"]
    assert main(["train", *arguments, "--run-dir", str(tmp_path / "whole")]) == 0
    with monkeypatch.context() as patch:
        _interrupt_seed_0_at(patch, 700)
        assert main(["train", *arguments, "--run-dir", str(tmp_path / "cut")]) == 130
    assert main(["train", "--resume", str(tmp_path / "cut"), "--no-progress"]) == 0
    for member in ("seed-0", "seed-1"):
        for name in ("metrics.csv", "eval.csv"):
            whole = (tmp_path / "whole" / member / name).read_bytes()
            assert (tmp_path / "cut" / member / name).read_bytes() == whole, (member, name)
        weights = [
            torch.load(tmp_path / run / member / "checkpoints" / "last.pt")["q_network"] for run in ("whole", "cut")
        ]
        assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])


def test_parse_seeds() -> None:
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("0,3,7") == [0, 3, 7]
    assert parse_seeds("5, 0-1") == [5, 0, 1]
    for bad in ("", ",", "1,1", "0-2,2", "3-1", "a", "1-"):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def test_members_that_differ_in_shape_cannot_share_a_population() -> None:
    check_shareable(
        [_config(0, DQN), _config(1, {**DQN, "learning": {"lr": 5e-4, "gamma": 0.98}})]
    )  # scalars may differ
    with pytest.raises(ConfigError, match=r"share network.hidden_sizes; they have \(16,\), \(32, 32\)"):
        check_shareable([_config(0, DQN), _config(1, {"network": {"hidden_sizes": [16]}})])
    with pytest.raises(ConfigError, match="learning.batch_size"):
        check_shareable([_config(0, DQN), _config(1, {**DQN, "learning": {"batch_size": 64}})])
    with pytest.raises(ConfigError, match="env_kwargs"):  # an env's arguments may shape its observations
        check_shareable([_config(0, DQN), _config(1, {**DQN, "env_kwargs": {"sutton_barto_reward": True}})])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--seeds", "1,1"], "seed 1 given twice"),
        (["--seeds", ""], "names no seed"),
        (["--seeds", "0-3", "--actors", "2"], "--actors"),
        (["--seeds", "0-3", "--seed", "2"], "drop --seed"),
        (["--variant", "lo:learning.lr=0.0005"], "give the seeds too"),
        (
            ["--seeds", "0", "--variant", "a:learning.lr=1", "--variant", "b:learning.batch_size=8"],
            "share learning.batch_size",
        ),
        (["--seeds", "0", "--variant", "a:learning.lr=-1"], "variant 'a': learning.lr"),
        (["--seeds", "0", "--variant", "a:", "--variant", "a:learning.lr=1"], "two variants are the same"),
    ],
)
def test_bad_seeds_get_one_line_and_create_nothing(flags, message, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("dqnlab.distributed.require_ray", lambda: None)  # the check must not need Ray
    run_dir = tmp_path / "run"
    assert main(["train", "CartPole-v1", *flags, "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not run_dir.exists()


def test_resume_refuses_seeds(tmp_path, capsys) -> None:
    assert main(["train", "--resume", str(tmp_path), "--seeds", "0-1"]) == 2
    assert "drop --seeds" in capsys.readouterr().err


def test_interrupting_a_population_names_how_to_resume_it(tmp_path, monkeypatch) -> None:
    after_step = Checkpointer.after_step

    def interrupt_at(self, previous_step):
        if self.loop.agent.env_steps == 150:
            self.stop_signal = signal.SIGTERM
        after_step(self, previous_step)

    monkeypatch.setattr(Checkpointer, "after_step", interrupt_at)
    directory = Path(tmp_path)
    with pytest.raises(TrainingInterrupted, match=f"resume with: dqnlab train --resume {directory}"):
        train_population([_config(seed, DQN) for seed in (0, 1)], directory)


def test_a_members_checkpoint_resumes_as_its_single_run(tmp_path, monkeypatch) -> None:
    arguments = ["CartPole-v1", "--preset", "cartpole", "--steps", "1200", "--no-progress", "--checkpoint-every", "400"]
    assert main(["train", *arguments, "--seed", "1", "--run-dir", str(tmp_path / "single")]) == 0
    with monkeypatch.context() as patch:
        _interrupt_seed_0_at(patch, 700)
        assert main(["train", *arguments, "--seeds", "0,1", "--run-dir", str(tmp_path / "pop")]) == 130
    assert main(["train", "--resume", str(tmp_path / "pop" / "seed-1"), "--no-progress"]) == 0
    assert (tmp_path / "pop" / "seed-1" / "metrics.csv").read_bytes() == (
        tmp_path / "single" / "metrics.csv"
    ).read_bytes()


def test_an_experiment_trains_each_variants_seeds_as_one_population(tmp_path, capsys) -> None:
    out = tmp_path / "experiment"
    arguments = ["experiment", "CartPole-v1", "--preset", "cartpole", "--vary", "learning.lr=1e-3,2e-3"]
    arguments += ["--seeds", "2", "--steps", "300", "--set", "learning.learning_starts=100", "--out", str(out)]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    assert "2 populations (2 variants x 2 seeds" in printed
    for variant in ("learning.lr=1e-3", "learning.lr=2e-3"):
        population = out / "runs" / variant
        assert json.loads((population / "population.json").read_text())["seeds"] == [0, 1]
        for seed in (0, 1):
            assert (population / f"seed-{seed}" / "summary.json").is_file()
    assert (out / "report.html").is_file()


def test_a_member_with_a_non_finite_loss_stops_alone(tmp_path, capsys) -> None:
    diverging = {**DQN, "learning": {"lr": 1e30}}  # its weights overflow within a few steps
    summary = train_population([_config(0, DQN), _config(1, diverging)], tmp_path)
    err = capsys.readouterr().err
    assert "dqnlab: seed-1: non-finite loss" in err and "seed-0" not in err
    steps = {member["member"]: member["steps"] for member in summary["members"]}
    assert steps["seed-0"] == 300 and steps["seed-1"] < 300
    single = tmp_path / "single"
    Agent(_config(0, DQN)).learn(run_dir=single)
    assert (tmp_path / "seed-0" / "metrics.csv").read_bytes() == (single / "metrics.csv").read_bytes()


def test_a_member_with_a_non_finite_loss_rolls_back_alone_as_its_single_run(tmp_path, capsys) -> None:
    rollback = {"checkpoint": {"on_nonfinite": "rollback", "every": 100}}
    diverging = {**DQN, **rollback, "learning": {"lr": 1e30}}  # diverges again after every rollback
    (tmp_path / "pop").mkdir()
    summary = train_population([_config(0, {**DQN, **rollback}), _config(1, diverging)], tmp_path / "pop")
    err = capsys.readouterr().err.splitlines()
    rolled_back = [line.replace("seed-1: ", "") for line in err if "seed-1: warning: non-finite" in line]
    assert len(rolled_back) == 3 and all("rolled back to state-" in line for line in rolled_back)
    assert not any("seed-0" in line for line in err)
    steps = {member["member"]: member["steps"] for member in summary["members"]}
    assert steps["seed-0"] == 300 and steps["seed-1"] < 300
    with pytest.raises(NonFiniteError, match="after 3 rollbacks"):
        Agent(_config(1, diverging)).learn(run_dir=tmp_path / "single")
    assert [line for line in capsys.readouterr().err.splitlines() if "warning: non-finite" in line] == rolled_back


def test_members_keep_their_final_state_and_extend_as_their_single_runs(tmp_path) -> None:
    """checkpoint.keep_final in a population: each member keeps its final training state (replay origin,
    learner, RNGs), from which `train --resume MEMBER --steps N` goes on exactly as its single run does."""
    from dqnlab.training.resume import resume_training
    from dqnlab.training.snapshot import list_snapshots

    keep = {**C51_NOISY_DUELING, "checkpoint": {"keep_final": True}}  # noise: the member's own generator resumes
    (tmp_path / "population").mkdir()
    train_population([_config(0, keep), _config(1, keep)], tmp_path / "population")
    member = tmp_path / "population" / "seed-0"
    assert [step for step, _ in list_snapshots(member / "checkpoints")] == [300]
    single = tmp_path / "single"
    Agent(_config(0, keep)).learn(run_dir=single)
    for run_dir in (member, single):
        assert resume_training(run_dir, total_steps=400)["steps"] == 400
    assert (member / "metrics.csv").read_bytes() == (single / "metrics.csv").read_bytes()


def test_an_experiment_resumes_a_population_while_an_unfinished_member_has_a_checkpoint(tmp_path) -> None:
    from dqnlab.experiments.run import run_state

    population = tmp_path / "runs" / "base"
    for name in ("seed-0", "seed-1"):
        (population / name / "checkpoints").mkdir(parents=True)
    (population / "population.json").write_text(json.dumps({"members": ["seed-0", "seed-1"], "seeds": [0, 1]}))
    (population / "seed-0" / "summary.json").write_text("{}")
    assert run_state(population) == "unstarted"  # seed-1 has nothing to go on from: the population restarts
    (population / "seed-1" / "checkpoints" / "state-000000000100").mkdir()
    assert run_state(population) == "checkpointed"
    (population / "population_summary.json").write_text("{}")
    assert run_state(population) == "finished"


def test_resume_refuses_members_checkpointed_at_different_steps(tmp_path, monkeypatch, capsys) -> None:
    after_step = Checkpointer.after_step

    def interrupt_at(self, previous_step):
        if self.loop.agent.env_steps == 250:
            self.stop_signal = signal.SIGINT
        after_step(self, previous_step)

    monkeypatch.setattr(Checkpointer, "after_step", interrupt_at)
    with pytest.raises(TrainingInterrupted):
        train_population([_config(seed, DQN) for seed in (0, 1)], tmp_path)
    monkeypatch.undo()
    newest = sorted((tmp_path / "seed-1" / "checkpoints").glob("state-*"))[-1]
    shutil.rmtree(newest)  # seed-1 now resumes from its first checkpoint, seed-0 from step 250
    assert main(["train", "--resume", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpointed at different env steps ([0, 250])" in err[0]
