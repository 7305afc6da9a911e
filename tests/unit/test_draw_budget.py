"""Redraws of diagnostics.png are paced by a DrawBudget: at most about a tenth of wall time on
drawing, for a single run and for a whole population (its members share one budget)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dqnlab.diagnostics import figure
from dqnlab.diagnostics.figure import DiagnosticsPlotter, DrawBudget
from dqnlab.diagnostics.logger import EpisodeRecord


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    """A clock that only drawing moves: each draw takes exactly 1 s."""
    fake = FakeClock()

    def draw(data, path):
        fake.now += 1.0

    monkeypatch.setattr(figure, "draw_diagnostics", draw)
    return fake


def _episode(number: int) -> EpisodeRecord:
    return EpisodeRecord(
        step=10 * number, episode=number, episode_return=1.0, length=10, epsilon=0.5, loss=0.1, q_mean=1.0
    )


def _plotter(tmp_path: Path, name: str, budget: DrawBudget, plot_every: int) -> DiagnosticsPlotter:
    run_dir = tmp_path / name
    run_dir.mkdir()
    return DiagnosticsPlotter(run_dir, "CartPole-v1", "cartpole", 0, 475.0, plot_every, budget)


def _drawn(plotter: DiagnosticsPlotter) -> int:
    return plotter._drawn_at_episode


def test_a_draw_of_d_seconds_waits_nine_d_at_a_tenth(tmp_path) -> None:
    clock = FakeClock()
    budget = DrawBudget(0.1, clock)
    plotter = _plotter(tmp_path, "run", budget, plot_every=1)
    assert budget.grants(plotter)
    budget.spent(plotter, began=5.0, ended=7.0)  # 2 s of drawing: the next waits 18 s more
    clock.now = 24.9
    assert not budget.grants(plotter)
    clock.now = 25.0
    assert budget.grants(plotter)


def test_a_due_redraw_waits_for_the_budget_and_then_happens(tmp_path, clock) -> None:
    plotter = _plotter(tmp_path, "run", DrawBudget(0.1, clock), plot_every=2)
    plotter.on_episode(_episode(1))
    assert _drawn(plotter) == 0  # not due yet
    plotter.on_episode(_episode(2))
    assert _drawn(plotter) == 2 and clock.now == 1.0  # due and allowed: drawn, the budget waits until t = 10
    for number in (3, 4, 5):
        plotter.on_episode(_episode(number))
    assert _drawn(plotter) == 2  # due from episode 4 on, but the budget says wait
    clock.now = 10.0
    plotter.on_episode(_episode(6))
    assert _drawn(plotter) == 6  # drawn as soon as allowed, not at the next multiple of plot_every


def test_members_sharing_a_budget_draw_in_turn_and_keep_to_a_tenth_together(tmp_path, clock) -> None:
    budget = DrawBudget(0.1, clock)
    members = [_plotter(tmp_path, f"seed-{k}", budget, plot_every=1) for k in range(10)]
    for number in range(1, 201):
        for member in members:
            member.on_episode(_episode(number))
        clock.now += 0.5  # half a second of training per round of episodes
    drawing = sum(_drawn(member) > 0 for member in members)
    draws_s = clock.now - 200 * 0.5  # the fake clock moved 1 s per draw besides training
    assert drawing == 10  # every member's figure was redrawn
    assert draws_s / clock.now <= 0.11  # all ten together within the one tenth (plus one draw's rounding)
    own = [_plotter(tmp_path, f"alone-{k}", DrawBudget(0.1, clock), plot_every=1) for k in range(2)]
    start = clock.now
    for number in range(1, 101):
        for member in own:
            member.on_episode(_episode(number))
        clock.now += 0.5
    assert (clock.now - start - 100 * 0.5) / (clock.now - start) > 0.15  # budgets of their own add up


def test_a_populations_members_share_one_budget() -> None:
    from dqnlab.population.run import build_population_loop
    from dqnlab.presets import preset_config

    configs = [preset_config("cartpole", "CartPole-v1").replace(seed=seed, steps=10) for seed in (0, 1, 2)]
    loop = build_population_loop(configs, None, progress=False)
    budgets = {id(lane.draw_budget) for lane in loop.lanes}
    assert len(budgets) == 1
