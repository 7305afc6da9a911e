"""`dqnlab compare` and `dqnlab experiment` as a user meets them: labels, refusals, seeds, readings, resuming."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
from test_diagnostics_smoke import make_fake_run

from dqnlab.cli import main
from dqnlab.diagnostics import report
from dqnlab.experiments import run as experiment_run


def _flat(**values: object) -> dict[str, object]:
    return {"env_id": "CartPole-v1", "seed": 0, **{key.replace("__", "."): value for key, value in values.items()}}


def test_labels_name_only_the_keys_that_tell_variants_apart() -> None:
    # a preset names all its differences at once; the seed is never a variant
    presets = [
        _flat(preset="cartpole", learning__lr=1e-3, replay__capacity=1000, seed=0),
        _flat(preset="cartpole-rainbow", learning__lr=5e-4, replay__capacity=50000, seed=1),
    ]
    assert report.variant_labels(presets) == ["cartpole", "cartpole-rainbow"]
    crossed = [
        _flat(preset="dqn", learning__double=double, learning__lr=lr) for double in (False, True) for lr in (1e-3, 1e-4)
    ]
    assert report.variant_labels(crossed) == [
        "double=false lr=0.001",
        "double=false lr=0.0001",
        "double=true lr=0.001",
        "double=true lr=0.0001",
    ]
    # two shown keys with one last part keep their full names
    same_tail = [_flat(preset="dqn", a__size=1, b__size=1), _flat(preset="dqn", a__size=2, b__size=3)]
    assert report.variant_labels(same_tail) == ["size=1", "size=2"]  # one key already separates them
    same_tail.append(_flat(preset="dqn", a__size=1, b__size=3))
    assert report.variant_labels(same_tail) == ["a.size=1 b.size=1", "a.size=2 b.size=3", "a.size=1 b.size=3"]
    assert report.variant_labels([_flat(preset="dqn"), _flat(preset="dqn", seed=1)]) == ["dqn", "dqn"]


@pytest.fixture
def runs(tmp_path) -> list[Path]:
    return [
        make_fake_run(tmp_path / f"{name}-{seed}", seed, double, [20, 60 + 200 * double, 100 + 380 * double + seed])
        for seed in range(3)
        for name, double in (("dqn", False), ("ddqn", True))
    ]


def test_compare_refuses_an_existing_out_unless_told_to_overwrite(runs, tmp_path, capsys) -> None:
    out = tmp_path / "report"
    assert main(["compare", *map(str, runs), "--out", str(out)]) == 0
    before = (out / "report.md").read_bytes()
    capsys.readouterr()
    assert main(["compare", *map(str, runs[:2]), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already holds files" in err and "--overwrite" in err and err.count("\n") == 1
    assert (out / "report.md").read_bytes() == before
    assert main(["compare", *map(str, runs[:2]), "--out", str(out), "--overwrite"]) == 0
    assert (out / "report.md").read_bytes() != before


def test_compare_counts_a_repeated_seed_once(runs, tmp_path, capsys) -> None:
    copy = make_fake_run(tmp_path / "dqn-0-again", 0, False, [20, 60, 999])
    out = tmp_path / "report"
    assert main(["compare", *map(str, runs), str(runs[0]), str(copy), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.count("dqnlab: warning:") == 2 and "repeats seed 0" in err
    results = json.loads((out / "results.json").read_text())
    assert results["variants"]["double=false"]["seeds"] == [0, 1, 2]
    assert results["variants"]["double=false"]["final_return"]["per_seed"] == [100, 101, 102]  # not 999


def test_one_variant_gets_a_reading(runs, tmp_path) -> None:
    out = tmp_path / "report"
    assert main(["compare", *map(str, runs[::2]), "--out", str(out)]) == 0
    reading = (out / "report.md").read_text().split("## Reading")[1].split("_Method._")[0]
    assert "One variant, 3 seeds: final return IQM 101.0 [100.0, 102.0]" in reading
    assert "close to the min and max of the seeds" in reading  # [100, 102] are the seeds' own extremes


@pytest.mark.parametrize(("seeds", "concluded"), [(2, False), (4, False), (5, True)])
def test_a_difference_is_called_only_from_five_seeds(seeds, concluded, tmp_path) -> None:
    # the variants are far apart at every seed count; only the number of seeds decides the reading
    groups = {
        double: [
            make_fake_run(tmp_path / f"{double}-{s}", s, double, [20, 100 + 400 * double + s]) for s in range(seeds)
        ]
        for double in (False, True)
    }
    report.build_report({f"double={d}": runs for d, runs in groups.items()}, tmp_path / "out", reps=200)
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert ("**double=True** is higher than **double=False**" in markdown) == concluded
    assert ("cannot support a conclusion" in markdown) == (not concluded)


def test_report_figures_keep_labels_and_legend_off_the_curves(tmp_path) -> None:
    runs = [
        make_fake_run(tmp_path / f"{v}-{s}", s, v % 2 == 0, [20, 60 * v + s, 100 * v + s])
        for v in range(6)
        for s in range(2)
    ]
    loaded = {
        f"variant {v} with a long label: network.hidden_sizes=[256,256] lr=0.0005": runs[2 * v : 2 * v + 2]
        for v in range(6)
    }
    groups = {label: [report.load_run(path) for path in paths] for label, paths in loaded.items()}
    grid, scored = report.score_variants(groups, threshold=475.0, reps=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # constrained_layout's "axes sizes collapsed" and the like
        curves = report._curves_figure(grid, scored, tmp_path / "curves.png", "title", "eval", 475.0)
        scores = report._scores_figure(scored, tmp_path / "scores.png")
    for figure in (curves, scores):
        renderer = figure._get_renderer()
        figure_box = figure.bbox
        for axis in figure.axes:
            assert axis.get_tightbbox(renderer).x0 >= figure_box.x0 - 1  # tick labels not clipped at the left
        for legend in figure.legends:
            box = legend.get_window_extent(renderer)
            assert box.y0 >= figure_box.y0 - 1  # inside the figure
            assert all(not box.overlaps(axis.get_window_extent(renderer)) for axis in figure.axes)


def _plan(tmp_path: Path) -> Path:
    out = tmp_path / "experiment"
    out.mkdir()
    (out / "experiment.json").write_text(
        json.dumps(
            {
                "command": "dqnlab experiment CartPole-v1 --seeds 3",
                "env_id": "CartPole-v1",
                "preset": "cartpole",
                "variants": {"cartpole": []},
                "common": ["evaluation.stop_at_target=false"],
                "seeds": [0, 1, 2],
                "steps": 300,
                "steps_flag": 300,
                "config_file": None,
                "device": "cpu",
            }
        )
    )
    return out


def test_experiment_resume_finishes_what_is_unfinished(tmp_path, monkeypatch, capsys) -> None:
    out = _plan(tmp_path)
    runs = out / "runs" / "cartpole"
    make_fake_run(runs / "seed-0", 0, False, [20, 100])  # finished: kept as it is
    (runs / "seed-1" / "checkpoints" / "state-200").mkdir(parents=True)  # interrupted after a checkpoint
    (runs / "seed-2").mkdir()
    (runs / "seed-2" / "metrics.csv").write_text("step\n")  # killed before its first checkpoint
    commands = []

    def fake_run(spec):
        commands.append(spec.command[3:])
        # a fresh start finds no leftovers (train would refuse them); a resumed run finds its checkpoint
        assert spec.run_dir.exists() == ("--resume" in spec.command)
        shutil.rmtree(spec.run_dir, ignore_errors=True)
        make_fake_run(spec.run_dir, spec.seed, False, [20, 110 + spec.seed])
        return spec, 0, 0.1

    monkeypatch.setattr(experiment_run, "_run_one", fake_run)
    assert main(["experiment", "--resume", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "1 of 3 runs finished, 1 continue from a checkpoint, 1 start" in printed
    assert "planned before experiments kept base.toml: its runs read preset 'cartpole' as it is now" in printed
    assert sorted(commands) == sorted(
        [
            ("train", "--resume", str(runs / "seed-1"), "--no-progress"),
            (
                "train",
                "CartPole-v1",
                "--preset",
                "cartpole",
                "--set",
                "evaluation.stop_at_target=false",
                "--seed",
                "2",
                "--run-dir",
                str(runs / "seed-2"),
                "--no-progress",
                "--steps",
                "300",
                "--device",
                "cpu",
            ),
        ]
    )
    results = json.loads((out / "results.json").read_text())
    assert results["variants"]["cartpole"]["final_return"]["per_seed"] == [100, 111, 112]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--resume", "OUT", "--seeds", "3"], "drop --seeds"),
        (["CartPole-v1", "--resume", "OUT"], "drop env_id"),
        (["--resume", "nowhere"], "is not an experiment directory"),
        ([], "experiment needs an env id"),
    ],
)
def test_experiment_resume_refusals_are_one_line(argv, message, tmp_path, capsys) -> None:
    out = _plan(tmp_path)
    argv = [str(out) if word == "OUT" else str(tmp_path / word) if word == "nowhere" else word for word in argv]
    assert main(["experiment", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_an_experiment_that_holds_runs_says_how_to_resume(tmp_path, capsys) -> None:
    out = _plan(tmp_path)
    (out / "runs" / "cartpole" / "seed-0").mkdir(parents=True)
    assert main(["experiment", "CartPole-v1", "--seeds", "1", "--out", str(out)]) == 2
    assert f"dqnlab experiment --resume {out}" in capsys.readouterr().err


def _with_collapses(run_dir: Path, count: int) -> Path:
    rows = "".join(f"{200 + i},{i},20,480,warn\n" for i in range(count))
    (run_dir / "collapses.csv").write_text("step,episode,eval_return,best_return,action\n" + rows)
    return run_dir


def test_the_report_ranks_variants_on_stability(tmp_path) -> None:
    """Evaluations at 100, 200, 300, target 475. "forgets" solves and drops back; "holds" stays solved,
    except one seed that solves only at its last evaluation (no hold rate) and one that never solves."""
    forgets = [
        _with_collapses(make_fake_run(tmp_path / "forgets-0", 0, False, [20, 480, 100]), 1),  # hold 0, last 200
        make_fake_run(tmp_path / "forgets-1", 1, False, [480, 490, 20]),  # hold 0.5, last 330
        make_fake_run(tmp_path / "forgets-2", 2, False, [20, 480, 40]),  # hold 0, last 180
    ]
    holds = [
        make_fake_run(tmp_path / "holds-0", 0, True, [480, 490, 500]),  # hold 1, last 490
        make_fake_run(tmp_path / "holds-1", 1, True, [20, 100, 480]),  # solved at the last: no hold rate
        make_fake_run(tmp_path / "holds-2", 2, True, [20, 100, 200]),  # never solved: no hold rate
    ]
    out = tmp_path / "report"
    report.build_report({"forgets": forgets, "holds": holds}, out, reps=200)
    results = json.loads((out / "results.json").read_text())
    assert results["stability_ranking"] == ["holds", "forgets"]
    bad, good = results["variants"]["forgets"], results["variants"]["holds"]
    assert bad["hold_rate"]["per_seed"] == [0.0, 0.5, 0.0]
    assert bad["hold_rate"]["mean"][0] == pytest.approx(1 / 6)
    assert good["hold_rate"]["per_seed"] == [1.0, None, None]
    assert good["hold_rate"]["mean"] == [1.0, 1.0, 1.0]  # the one seed with a hold rate
    assert bad["last_10_mean"]["per_seed"] == pytest.approx([200, 330, 180])  # fewer than 10: all of them
    assert good["last_10_mean"]["per_seed"] == pytest.approx([490, 200, 320 / 3])
    assert bad["collapses"]["per_seed"] == [1, 0, 0]
    table = (out / "report.md").read_text().split("## Stability")[1].split("## Reading")[0]
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert [row[1] for row in rows] == ["holds", "forgets"]
    # holds-0's last-10 mean (490) is the only one at or above the target
    assert rows[0][3:7] == ["2/3", "1/3", "265.6 [106.7, 490.0]", "top"]  # IQM of 3 seeds = their mean
    assert rows[1][4] == "0/3" and (good["held_at_end"], bad["held_at_end"]) == (1, 0)
    assert rows[1][6:9] == ["too few seeds", "0.17 [0.00, 0.50] (3)", "0.33 [0.00, 1.00]"]
    assert rows[0][7] == "1.00 [1.00, 1.00] (1)"
    assert "Stability" in (out / "report.html").read_text()


def test_the_stability_table_marks_a_variant_below_the_top_from_five_seeds(tmp_path) -> None:
    groups = {
        name: [make_fake_run(tmp_path / f"{name}-{s}", s, name == "holds", [20, 480, last + s]) for s in range(5)]
        for name, last in (("holds", 490), ("forgets", 30))
    }
    report.build_report(groups, tmp_path / "out", reps=200)
    table = (tmp_path / "out" / "report.md").read_text().split("## Stability")[1].split("## Reading")[0]
    assert "| 1 | holds | 5 | 5/5 |" in table and "| 2 | forgets | 5 | 5/5 |" in table
    assert " top " in table and " below " in table


def test_merged_variants_train_as_one_population_and_are_reported_apart(tmp_path, monkeypatch, capsys) -> None:
    commands = []

    def fake_population(spec):
        commands.append(spec.command)
        (spec.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        for index, (_, run_dir) in enumerate(spec.labelled_run_dirs):
            if not (run_dir / "summary.json").exists():
                shutil.rmtree(run_dir, ignore_errors=True)  # a resumed member: made anew, with the same numbers
                make_fake_run(run_dir, index, False, [20, 100 + index])
        members = [str(run_dir.relative_to(spec.run_dir)) for run_dir in spec.run_dirs]
        (spec.run_dir / "population.json").write_text(json.dumps({"members": members}))
        (spec.run_dir / "population_summary.json").write_text("{}")
        return spec, 0, 0.1

    monkeypatch.setattr(experiment_run, "_run_one", fake_population)
    out = tmp_path / "out"
    variants = [
        "--variant",
        "base:",
        "--variant",
        "lr:learning.lr=0.0005",
        "--variant",
        "wide:network.hidden_sizes=[8]",
    ]
    argv = ["experiment", "CartPole-v1", "--preset", "cartpole", *variants, "--seeds", "2", "--steps", "300"]
    assert main([*argv, "--workers", "1", "--merge-variants", "--out", str(out)]) == 0
    assert "2 populations (3 variants x 2 seeds, 1 groups of variants merged" in capsys.readouterr().out
    merged = next(command for command in commands if "--variant" in command)
    assert merged[merged.index("--run-dir") + 1] == str(out / "runs" / "merged-0")
    assert json.loads((out / "experiment.json").read_text())["merged"] == [["base", "lr"]]
    per_seed = {
        label: scores["final_return"]["per_seed"]
        for label, scores in json.loads((out / "results.json").read_text())["variants"].items()
    }
    assert per_seed == {"base": [100, 101], "lr": [102, 103], "wide": [100, 101]}

    # stopped after a checkpoint: --resume goes on with the merged population as one process
    population = out / "runs" / "merged-0"
    (population / "population_summary.json").unlink()
    (population / "lr" / "seed-1" / "summary.json").unlink()
    (population / "lr" / "seed-1" / "checkpoints" / "state-200").mkdir(parents=True)
    commands.clear()
    assert main(["experiment", "--resume", str(out), "--workers", "1"]) == 0
    assert [command[3:] for command in commands] == [("train", "--resume", str(population), "--no-progress")]
    assert main([*argv, "--separate-seeds", "--merge-variants", "--out", str(tmp_path / "x")]) == 2
    assert "cannot go with --separate-seeds" in capsys.readouterr().err


def test_runs_train_the_planned_base_config_even_after_the_preset_changes(tmp_path, monkeypatch) -> None:
    # An experiment's later populations (and `--resume` after an update) once read the preset as it
    # was then: a population started after `cartpole-stable` gained 3-step returns trained with them.
    from dqnlab.cli import _build_parser, _resolve_config
    from dqnlab.presets import PRESETS, Preset

    out = tmp_path / "experiment"
    commands = []

    def fake_run(spec):
        commands.append(spec.command[3:])
        make_fake_run(spec.run_dir, spec.seed, False, [20, 100])
        return spec, 0, 0.1

    monkeypatch.setattr(experiment_run, "_run_one", fake_run)
    argv = ["experiment", "CartPole-v1", "--preset", "cartpole", "--variant", "lo:learning.lr=0.0005"]
    argv += ["--variant", "plain:", "--seeds", "2", "--steps", "300", "--separate-seeds", "--workers", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    planned = [_resolve_config(_build_parser().parse_args(command)) for command in commands]

    changed = Preset("cartpole, changed later", {**PRESETS["cartpole"].overrides, "replay": {"n_step": 3}})
    monkeypatch.setitem(PRESETS, "cartpole", changed)
    _, specs = experiment_run.planned_runs(out)  # what --resume would start
    resumed = [_resolve_config(_build_parser().parse_args(spec.command[3:])) for spec in specs]
    assert resumed == planned
    assert [config.replay.n_step for config in resumed] == [1, 1, 1, 1]
    assert [config.learning.lr for config in resumed] == [5e-4, 5e-4, 2e-3, 2e-3]
    assert [config.seed for config in resumed] == [0, 1, 0, 1] and {c.steps for c in resumed} == {300}
    assert all(config.preset == "cartpole" for config in resumed)
    assert (out / "base.toml").is_file() and json.loads((out / "experiment.json").read_text())["base_config"]
