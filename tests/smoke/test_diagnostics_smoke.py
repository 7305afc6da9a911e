"""Diagnostics end to end: the figure, collapse actions in the loop, `experiment` and `compare`."""

from __future__ import annotations

import csv
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from dqnlab.cli import main
from dqnlab.config import Config, DiagnosticsConfig, EvaluationConfig, LearningConfig, NetworkConfig
from dqnlab.diagnostics.figure import FIGURE_DPI, FIGURE_SIZE_IN, draw_diagnostics, read_run_data


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def make_fake_run(run_dir: Path, seed: int, double: bool, eval_returns: list[float], episodes: int = 30) -> Path:
    """A run directory as the loop writes it, with made-up numbers: 10 env steps per episode,
    an evaluation every 100 env steps, a target update every 50."""
    run_dir.mkdir(parents=True)
    config = Config(env_id="CartPole-v1", preset="cartpole", seed=seed, learning=LearningConfig(double=double))
    (run_dir / "config.toml").write_text(config.to_toml())
    rng = np.random.default_rng(seed)
    _write_csv(
        run_dir / "metrics.csv",
        ["step", "episode", "return", "length", "epsilon", "loss", "q_mean"],
        [
            [
                10 * (i + 1),
                i + 1,
                float(rng.integers(8, 60)),
                10,
                1.0 - i / episodes,
                "nan" if i < 3 else 0.5 / (i + 1),
                0.1 * i,
            ]
            for i in range(episodes)
        ],
    )
    _write_csv(
        run_dir / "eval.csv",
        ["step", "mean_return", "std_return"],
        [[100 * (i + 1), value, 1.0] for i, value in enumerate(eval_returns)],
    )
    _write_csv(run_dir / "target_updates.csv", ["step"], [[step] for step in range(50, 10 * episodes + 1, 50)])
    (run_dir / "summary.json").write_text(json.dumps({"target_return": 475.0}))
    return run_dir


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


# ---------------------------------------------------------------- the figure


def test_figure_plots_what_metrics_csv_holds(tmp_path) -> None:
    run_dir = make_fake_run(tmp_path / "run", seed=0, double=True, eval_returns=[20, 90, 200])
    _write_csv(
        run_dir / "collapses.csv",
        ["step", "episode", "eval_return", "best_return", "action"],
        [[250, 25, 20, 200, "warn"]],
    )
    plotted = draw_diagnostics(read_run_data(run_dir), tmp_path / "figure.png")

    with open(run_dir / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    np.testing.assert_array_equal(plotted["episode"], [int(row["episode"]) for row in rows])
    np.testing.assert_array_equal(plotted["return"], [float(row["return"]) for row in rows])
    np.testing.assert_array_equal(plotted["epsilon"], [float(row["epsilon"]) for row in rows])
    np.testing.assert_array_equal(plotted["loss"], [float(row["loss"]) for row in rows])
    np.testing.assert_array_equal(plotted["q_mean"], [float(row["q_mean"]) for row in rows])
    # step-stamped events sit at the number of episodes finished by then (10 env steps per episode)
    np.testing.assert_array_equal(plotted["eval_episode"], [10, 20, 30])
    np.testing.assert_array_equal(plotted["eval_return"], [20, 90, 200])
    np.testing.assert_array_equal(plotted["target_update_episode"], [5, 10, 15, 20, 25, 30])
    np.testing.assert_array_equal(plotted["collapse_episode"], [25])
    # moving average over 30 // 10 = 3 episodes, fewer at the start
    returns = plotted["return"]
    assert plotted["moving_average"][0] == returns[0]
    assert plotted["moving_average"][5] == pytest.approx(returns[3:6].mean())
    assert _png_size(tmp_path / "figure.png") == (FIGURE_SIZE_IN[0] * FIGURE_DPI, FIGURE_SIZE_IN[1] * FIGURE_DPI)


def test_plot_command_redraws_the_run_figure(tmp_path, capsys) -> None:
    run_dir = make_fake_run(tmp_path / "run", seed=0, double=True, eval_returns=[20, 90])
    assert main(["plot", str(run_dir)]) == 0
    assert (run_dir / "diagnostics.png").stat().st_size > 10_000
    assert str(run_dir / "diagnostics.png") in capsys.readouterr().out


def test_plot_of_a_missing_run_is_one_line(tmp_path, capsys) -> None:
    assert main(["plot", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dqnlab: error: no such run directory") and err.count("\n") == 1


# ---------------------------------------------------------------- collapse actions in the loop


def _scripted_agent(monkeypatch, on_collapse: str, script: list[float]):
    """An agent whose evaluations return `script` in order; records the weights each one saw."""
    from dqnlab.agent import Agent
    from dqnlab.training import lane

    config = Config(
        env_id="CartPole-v1",
        steps=600,
        tensorboard=False,
        device="cpu",
        network=NetworkConfig(hidden_sizes=(16,)),
        learning=LearningConfig(learning_starts=50, batch_size=16, lr=1e-2),
        evaluation=EvaluationConfig(every=100, episodes=1, target_return=500.0, stop_at_target=False),
        diagnostics=DiagnosticsConfig(on_collapse=on_collapse, plot_every=0),
    )
    agent = Agent(config)
    seen: list[dict[str, torch.Tensor]] = []
    returns = iter(script)

    def scripted_evaluate(*args, **kwargs):
        seen.append({k: v.clone() for k, v in agent.q_network.state_dict().items()})
        return np.array([next(returns)])

    monkeypatch.setattr(lane, "evaluate", scripted_evaluate)
    return agent, seen


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_rollback_restores_the_best_weights_into_online_and_target(monkeypatch, tmp_path, capsys) -> None:
    # evaluations at steps 100..600; the best (490) is the 4th; 300 is no collapse (threshold 130); 20 is.
    agent, seen = _scripted_agent(monkeypatch, "rollback", [10, 200, 480, 490, 300, 20])
    summary = agent.learn(run_dir=tmp_path / "run")
    assert len(seen) == 6 and summary["collapses"] == 1
    assert not _same(seen[5], seen[3])  # training moved the weights after the best evaluation
    assert _same(agent.learner.online.state_dict(), seen[3])
    assert _same(agent.learner.target.state_dict(), seen[3])
    assert "collapse at step 600" in capsys.readouterr().err
    fields = (tmp_path / "run" / "collapses.csv").read_text().splitlines()[1].split(",")
    assert fields[0] == "600" and fields[2:] == ["20", "490", "rollback"]
    assert (tmp_path / "run" / "diagnostics.png").is_file()


def test_stop_on_collapse_ends_training(monkeypatch) -> None:
    agent, seen = _scripted_agent(monkeypatch, "stop", [10, 490, 20, 490, 490, 490])
    summary = agent.learn()
    assert agent.env_steps == 300 and len(seen) == 3 and summary["collapses"] == 1


def test_warn_on_collapse_goes_on(monkeypatch) -> None:
    agent, seen = _scripted_agent(monkeypatch, "warn", [10, 490, 20, 10, 490, 20])
    summary = agent.learn()
    assert agent.env_steps == 600 and summary["collapses"] == 2  # 20, 10 is one collapse; 20 after 490 another


# ---------------------------------------------------------------- compare and experiment


@pytest.fixture
def fake_runs(tmp_path) -> list[Path]:
    runs = []
    for seed in range(3):
        runs.append(make_fake_run(tmp_path / f"dqn-{seed}", seed, False, [20, 60, 100 + seed]))
        runs.append(make_fake_run(tmp_path / f"ddqn-{seed}", seed, True, [20, 300, 480 + seed]))
    return runs


def test_compare_groups_runs_by_their_config_differences(fake_runs, tmp_path, capsys) -> None:
    out = tmp_path / "report"
    assert main(["compare", *map(str, fake_runs), "--out", str(out)]) == 0
    for name in ["report.md", "report.html", "curves.png", "scores.png", "runs.csv", "results.json"]:
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert set(results["variants"]) == {"double=false", "double=true"}
    dqn, ddqn = results["variants"]["double=false"], results["variants"]["double=true"]
    assert dqn["final_return"]["per_seed"] == [100, 101, 102]
    assert dqn["final_return"]["mean"][0] == pytest.approx(101.0)
    assert ddqn["steps_to_threshold"] == [300, 300, 300]  # 480 >= 475 at the third evaluation
    assert dqn["steps_to_threshold"] == [None, None, None]
    # all runs share steps 100..300, so the AUC is the trapezoid mean of the evaluations
    assert dqn["auc"]["per_seed"][0] == pytest.approx(((20 + 60) / 2 + (60 + 100) / 2) / 2)
    markdown = (out / "report.md").read_text()
    assert "double=false: learning.double=false" in markdown  # the short label, then what it stands for
    # three seeds a variant: the report declines to call the (clear) difference
    assert "cannot support a conclusion" in markdown and "do not overlap" not in markdown
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "double=true" in page
    assert "double=true" in capsys.readouterr().out


def test_compare_of_a_missing_run_is_one_line(tmp_path, capsys) -> None:
    assert main(["compare", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no such run directory" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("vary", "message"),
    [
        ("learning.double", "--vary expects KEY=V1,V2"),
        ("learning.dubble=true,false", "unknown config key 'learning.dubble'"),
        ("learning.lr=0.001,-1", "learning.lr must be > 0"),
        ("learning.double=true,true", "repeated"),
    ],
)
def test_bad_vary_is_one_line(vary, message, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["experiment", "CartPole-v1", "--vary", vary, "--seeds", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_variant_sets_keys_together_in_any_order() -> None:
    # capacity 1 before batch_size 1 would fail if --set values were applied one at a time
    from dqnlab.experiments.plan import build_variants, check_variants
    from dqnlab.presets import preset_config

    variants = build_variants([], ["replay.capacity=1,learning.batch_size=1", "replay.capacity=100000"])
    assert [v.label for v in variants] == ["replay.capacity=1 learning.batch_size=1", "replay.capacity=100000"]
    check_variants(preset_config("cartpole", "CartPole-v1"), [], variants)


def test_experiment_runs_variants_by_seeds_and_writes_the_report(tmp_path, capsys) -> None:
    out = tmp_path / "experiment"
    code = main(
        [
            "experiment",
            "CartPole-v1",
            "--preset",
            "cartpole",
            "--vary",
            "learning.double=false,true",
            "--seeds",
            "2",
            "--steps",
            "300",
            "--workers",
            "2",
            "--out",
            str(out),
            "--set",
            "tensorboard=false",
            "--set",
            "device=cpu",
            "--set",
            "learning.learning_starts=100",
            "--set",
            "evaluation.every=100",
            "--set",
            "evaluation.episodes=2",
            "--set",
            "network.hidden_sizes=[32]",
        ]
    )
    printed = capsys.readouterr().out
    logs = "\n".join(log.read_text()[-2000:] for log in sorted((out / "logs").glob("*.log")))
    assert code == 0, printed + logs
    for name in ["report.md", "report.html", "curves.png", "scores.png", "runs.csv", "results.json", "experiment.json"]:
        assert (out / name).is_file(), name
    for label in ["learning.double=false", "learning.double=true"]:
        assert label in (out / "report.md").read_text()
        assert label in (out / "report.html").read_text()
        for seed in range(2):
            run_dir = out / "runs" / label / f"seed-{seed}"
            assert (run_dir / "diagnostics.png").is_file()
            assert json.loads((run_dir / "summary.json").read_text())["steps"] == 300
    with open(out / "runs.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 4


def test_compare_falls_back_to_training_returns_without_evaluations(tmp_path) -> None:
    from dqnlab.diagnostics.report import build_report, group_by_config

    runs = [make_fake_run(tmp_path / f"run-{seed}", seed, seed % 2 == 0, eval_returns=[]) for seed in range(4)]
    build_report(group_by_config(runs), tmp_path / "report", reps=200)
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert results["curve_source"] == "train"
    assert results["grid"][:2] == [10.0, 300.0]  # the episodes' steps
    with open(runs[0] / "metrics.csv") as handle:
        last_ten = [float(row["return"]) for row in csv.DictReader(handle)][-10:]
    assert results["variants"]["double=true"]["final_return"]["per_seed"][0] == pytest.approx(np.mean(last_ten))
