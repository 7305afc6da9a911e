"""The MinAtar results scripts on data made by hand: the table's scores and the published curve read
at a run's frames (scripts/minatar_results.py), the figures' pixels mapped to scores
(scripts/digitize_minatar_curves.py, scripts/digitize_minatar_sensitivity.py), and the episodes
of MinAtar's own dqn.py logged as a run (scripts/minatar_reference_dqn.py)."""

from __future__ import annotations

import csv
import importlib
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "scripts" / "minatar_results.py"
DIGITIZE = ROOT / "scripts" / "digitize_minatar_curves.py"
SENSITIVITY = ROOT / "scripts" / "digitize_minatar_sensitivity.py"
REFERENCE = ROOT / "scripts" / "minatar_reference_dqn.py"


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _import_script(name: str) -> ModuleType:
    """A module of scripts/, which imports its neighbours by name as when run."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def _run(script: Path, *args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture
def two_seeds(tmp_path):
    """Seed a: 150 episodes of return 1 then 50 of return 3, one ending every 1,000 frames; seed b:
    200 of return 2. Their evaluations: 5 at 100k frames, then 9 at 190k (a) or 7 (b)."""
    for seed, returns, late_eval in (("a", [1.0] * 150 + [3.0] * 50, 9.0), ("b", [2.0] * 200, 7.0)):
        rows = [[1_000 * (episode + 1), episode, value, 1_000] for episode, value in enumerate(returns)]
        _write_csv(tmp_path / seed / "metrics.csv", ["step", "episode", "return", "length"], rows)
        _write_csv(tmp_path / seed / "eval.csv", ["step", "mean_return"], [[100_000, 5.0], [190_000, late_eval]])
    _write_csv(
        tmp_path / "curves.csv",
        ["game", "agent", "frames", "score"],
        [["breakout", "dqn", 100_000, 10.0], ["breakout", "dqn", 200_000, 20.0], ["freeway", "dqn", 100_000, 50.0]],
    )
    return tmp_path


def _table_row(output: str, name: str) -> list[str]:
    rows = [line for line in output.splitlines() if line.startswith(f"| {name} |")]
    assert len(rows) == 1, output
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def test_table_scores_the_last_100_episodes_and_reads_the_published_curve_at_the_same_frames(two_seeds):
    seeds = f"{two_seeds / 'a'},{two_seeds / 'b'}"
    result = _run(
        RESULTS,
        "--frames", 150_000,
        "--variant", f"dqn={seeds}",
        "--published", "dqn=breakout/dqn",
        "--published-curves", two_seeds / "curves.csv",
        "--figure", two_seeds / "curves.png",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    name, seeds_cell, frames, training, greedy, published = _table_row(result.stdout, "dqn")
    assert (seeds_cell, frames) == ("2", "150,000")
    # at 150k frames: seed a's last 100 episodes (51-150) all returned 1, seed b's 2; the mean is 1.5
    assert training.startswith("1.5 [")
    assert greedy.startswith("5.0 [")  # the 190k evaluations are not reached yet
    assert published == "15.0"  # halfway between 10 at 100k and 20 at 200k
    assert (two_seeds / "curves.png").stat().st_size > 0


def test_table_compares_at_the_fewest_frames_a_seed_reached_and_takes_a_number_as_the_published_score(two_seeds):
    result = _run(RESULTS, "--frames", 5_000_000, "--variant", f"dqn={two_seeds / 'a'}", "--published", "dqn=43")
    assert result.returncode == 0, result.stderr
    _, _, frames, training, greedy, published = _table_row(result.stdout, "dqn")
    assert frames == "200,000"
    assert training.startswith("2.0 [")  # episodes 101-200: 50 of return 1, 50 of return 3
    assert greedy.startswith("9.0 [")
    assert published == "43.0"


def test_iteration_scores_the_episodes_of_the_last_frames_as_dopamine_does(two_seeds):
    seeds = f"{two_seeds / 'a'},{two_seeds / 'b'}"
    result = _run(RESULTS, "--frames", 175_000, "--iteration", 50_000, "--variant", f"dqn={seeds}")
    assert result.returncode == 0, result.stderr
    assert "| episodes of the last 50,000 frames |" in result.stdout.splitlines()[0]
    _, _, frames, training, iteration, greedy, published = _table_row(result.stdout, "dqn")
    # seed a's episodes ending in (125k, 175k]: 25 of return 1 (to 150k), then 25 of return 3: mean 2;
    # seed b's all 2; its last 100: 75 of 1 and 25 of 3, 1.5, against b's 2
    assert (frames, published) == ("175,000", "")
    assert iteration.startswith("2.0 [") and training.startswith("1.8 [")  # (1.5 + 2) / 2 = 1.75
    assert greedy.startswith("5.0 [")


def test_a_run_without_greedy_evaluations_scores_its_training_episodes_and_shows_a_dash(two_seeds):
    (two_seeds / "b" / "eval.csv").unlink()  # as a run of MinAtar's own dqn.py: metrics.csv only
    result = _run(RESULTS, "--frames", 150_000, "--variant", f"own={two_seeds / 'b'}")
    assert result.returncode == 0, result.stderr
    _, _, frames, training, greedy, _ = _table_row(result.stdout, "own")
    assert (frames, greedy) == ("150,000", "-")
    assert training.startswith("2.0 [")


def test_an_unknown_published_curve_is_one_line_and_a_nonzero_exit(two_seeds):
    result = _run(
        RESULTS,
        "--frames", 150_000,
        "--variant", f"dqn={two_seeds / 'a'}",
        "--published", "dqn=pong/dqn",
        "--published-curves", two_seeds / "curves.csv",
    )  # fmt: skip
    assert result.returncode != 0
    expected = f"error: no curve 'pong/dqn' in {two_seeds / 'curves.csv'} (give GAME/AGENT or a number)"
    assert result.stderr.strip() == expected


def test_digitizer_maps_a_curve_drawn_at_a_known_height_to_its_score(tmp_path):
    """A white image of the figure's size with each panel's 0 and top ticks drawn where the script's
    calibration puts them, a DQN-coloured line at score 50 on Space Invaders' axis (0 at row 1400,
    200 at row 957: row 1289.25) and a no-replay-coloured one rising from 0 to 15 on Breakout's."""
    Image = pytest.importorskip("PIL.Image")
    digitize = _import_script("digitize_minatar_curves")
    image_HWC = np.full((1629, 3038, 3), 255, dtype=np.uint8)
    for panel in digitize.PANELS.values():
        for row in (panel.y_zero, panel.y_top):
            image_HWC[round(row), round(panel.x_zero) - 14 : round(panel.x_zero)] = 0
    invaders, breakout = digitize.PANELS["space_invaders"], digitize.PANELS["breakout"]
    image_HWC[1289, round(invaders.x_zero) : round(invaders.x_five_million)] = digitize.COLOURS["dqn"]
    for column in range(round(breakout.x_zero), round(breakout.x_five_million)):
        fraction = (column - breakout.x_zero) / (breakout.x_five_million - breakout.x_zero)
        image_HWC[round(breakout.y_zero - fraction * (breakout.y_zero - breakout.y_top)), column] = digitize.COLOURS[
            "dqn-no-replay"
        ]
    Image.fromarray(image_HWC).save(tmp_path / "figure.gif")

    result = _run(DIGITIZE, tmp_path / "figure.gif")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(result.stdout.splitlines()))
    invaders_scores = {int(row["frames"]): float(row["score"]) for row in rows if row["game"] == "space_invaders"}
    assert len(invaders_scores) == 50 and all(row["agent"] == "dqn" for row in rows if row["game"] == "space_invaders")
    assert np.allclose(list(invaders_scores.values()), 50.0, atol=0.5)  # one pixel is 0.45 points here
    breakout_scores = {int(row["frames"]): float(row["score"]) for row in rows if row["game"] == "breakout"}
    assert np.allclose([breakout_scores[f] for f in (1_000_000, 2_500_000)], [3.0, 7.5], atol=0.1)
    assert {row["game"] for row in rows} == {"space_invaders", "breakout"}  # nothing read from empty panels


def test_digitizer_refuses_an_image_that_is_not_the_figure(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    Image.new("RGB", (3038, 1629), "white").save(tmp_path / "blank.png")
    result = _run(DIGITIZE, tmp_path / "blank.png")
    assert result.returncode != 0
    assert result.stderr.strip().startswith("error: no tick at row")
    (tmp_path / "text.gif").write_text("not an image")
    result = _run(DIGITIZE, tmp_path / "text.gif")
    assert result.returncode != 0 and result.stderr.strip().startswith("error: cannot read")


def test_sensitivity_digitizer_reads_lines_drawn_at_known_scores(tmp_path):
    """A white image of the figure's size with every panel's calibration ticks, a DQN-coloured line
    at 8.9 across Breakout's panel, and a no-replay-coloured one on Space Invaders' rising from 0 at
    log2 step size -13 to 150 at -9 (75 at -11)."""
    Image = pytest.importorskip("PIL.Image")
    curves, sensitivity = _import_script("digitize_minatar_curves"), _import_script("digitize_minatar_sensitivity")
    image_HWC = np.full((1858, 3029, 3), 255, dtype=np.uint8)
    for panel in sensitivity.PANELS.values():
        for _, row in panel.score_ticks:
            image_HWC[round(row), round(panel.left) - 13 : round(panel.left) - 3] = 0
        for _, column in panel.log2_ticks:
            image_HWC[round(panel.bottom) + 3 : round(panel.bottom) + 13, round(column)] = 0
    breakout, invaders = sensitivity.PANELS["breakout"], sensitivity.PANELS["space_invaders"]
    (_, row_15), (_, row_5) = breakout.score_ticks
    image_HWC[round(row_15 + (15 - 8.9) / 10 * (row_5 - row_15)), round(breakout.left) + 1 : round(breakout.right)] = (
        curves.COLOURS["dqn"]
    )
    (_, row_150), (_, row_0) = invaders.score_ticks
    first, last = round(invaders.column(-13)), round(invaders.column(-9))
    for column in range(first, last + 1):
        score = 150 * (column - first) / (last - first)
        image_HWC[round(row_0 + score / 150 * (row_150 - row_0)), column] = curves.COLOURS["dqn-no-replay"]
    Image.fromarray(image_HWC).save(tmp_path / "figure.gif")

    result = _run(SENSITIVITY, tmp_path / "figure.gif")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(result.stdout.splitlines()))
    read = {(row["game"], row["agent"], int(row["log2_step_size"])): float(row["score"]) for row in rows}
    breakout_steps = sorted(step for game, agent, step in read if (game, agent) == ("breakout", "dqn"))
    assert breakout_steps == [-13, -12, -11, -10, -9, -8, -7]  # -14 lies on the left spine
    assert all(abs(read["breakout", "dqn", step] - 8.9) <= 0.04 for step in breakout_steps)  # a pixel: 0.034
    invaders_scores = [read["space_invaders", "dqn-no-replay", step] for step in (-13, -12, -11, -10, -9)]
    assert np.allclose(invaders_scores, [0, 37.5, 75, 112.5, 150], atol=0.5)  # a pixel: 0.44
    assert {(game, agent) for game, agent, _ in read} == {("breakout", "dqn"), ("space_invaders", "dqn-no-replay")}


def test_sensitivity_digitizer_refuses_the_learning_curves_figure_and_a_blank_one(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    Image.new("RGB", (3038, 1629), "white").save(tmp_path / "curves.png")
    result = _run(SENSITIVITY, tmp_path / "curves.png")
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        == f"error: {tmp_path / 'curves.png'} is 3038 x 1629 pixels, not MinAtar's figure (3029, 1858)"
    )
    Image.new("RGB", (3029, 1858), "white").save(tmp_path / "blank.png")
    result = _run(SENSITIVITY, tmp_path / "blank.png")
    assert result.returncode != 0 and result.stderr.strip().startswith("error: no tick at row")


# A stand-in for MinAtar's examples/dqn.py: its names, and a random agent that plays NUM_FRAMES frames
# through the module's Environment with Python's generator, as dqn.py's exploration does.
FAKE_DQN_PY = """
import random
from minatar import Environment
NUM_FRAMES = 5_000_000

def main():
    env = Environment("breakout")
    frame = 0
    while frame < NUM_FRAMES:
        env.reset()
        terminal = False
        while not terminal and frame < NUM_FRAMES:
            _, terminal = env.act(random.randrange(env.num_actions()))
            frame += 1
"""


def test_reference_runner_logs_every_finished_episode_of_a_seeded_game(tmp_path):
    """The runner's metrics.csv against the same random play replayed here, game and agent seeded alike."""
    minatar = pytest.importorskip("minatar")
    (tmp_path / "dqn.py").write_text(FAKE_DQN_PY)
    run = _run(REFERENCE, "--dqn-py", tmp_path / "dqn.py", "--game", "breakout", "--seed", 3, "--frames", 500,
               "--run-dir", tmp_path / "run")  # fmt: skip
    assert run.returncode == 0, run.stderr
    logged = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))

    generator = random.Random(3)
    env = minatar.Environment("breakout")
    env.seed(3)
    expected, frame, episode = [], 0, 0
    while frame < 500:
        env.reset()
        terminal, episode_return, length = False, 0.0, 0
        while not terminal and frame < 500:
            reward, terminal = env.act(generator.randrange(env.num_actions()))
            frame, length, episode_return = frame + 1, length + 1, episode_return + reward
        if terminal:
            episode += 1
            expected.append({"step": str(frame), "episode": str(episode), "return": str(episode_return),
                             "length": str(length)})  # fmt: skip
    assert len(expected) > 10  # random Breakout loses the ball within tens of frames
    assert logged == expected


def test_reference_runner_refuses_a_used_run_directory_and_a_file_that_is_not_dqn_py(tmp_path):
    (tmp_path / "dqn.py").write_text(FAKE_DQN_PY)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.csv").write_text("kept\n")
    common = ["--game", "breakout", "--seed", 0, "--frames", 10, "--run-dir", tmp_path / "run"]
    result = _run(REFERENCE, "--dqn-py", tmp_path / "dqn.py", *common)
    assert result.returncode != 0
    assert result.stderr.strip() == f"error: {tmp_path / 'run' / 'metrics.csv'} exists; give a new --run-dir"
    assert (tmp_path / "run" / "metrics.csv").read_text() == "kept\n"
    (tmp_path / "other.py").write_text("x = 1\n")
    common[-1] = tmp_path / "new"
    result = _run(REFERENCE, "--dqn-py", tmp_path / "other.py", *common)
    assert result.returncode != 0 and "is not MinAtar's examples/dqn.py" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = _run(REFERENCE, "--dqn-py", tmp_path / "dqn.py", *common[:5], 0, *common[6:])
    assert result.returncode != 0
    assert result.stderr.strip() == "error: --frames (0) and --threads (1) must be at least 1"
    assert not (tmp_path / "new").exists()
