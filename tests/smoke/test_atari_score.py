"""metrics.csv holds each Atari game's real score: unclipped and over all its lives, although the learner
sees clipped rewards and a lost life as the end of an episode. The expectation is summed independently,
from the rewards the ALE emulator itself returns, below every wrapper."""

from __future__ import annotations

import csv
from typing import Any

from ale_py.env import AtariEnv

from dqnlab import Agent
from dqnlab.config import apply_overrides
from dqnlab.presets import preset_config


class GameLedger:
    """Per AtariEnv instance: each game's summed emulator reward, its largest reward, and the lives it
    lost before it ended."""

    def __init__(self) -> None:
        self.games: dict[int, list[dict[str, Any]]] = {}

    def on_reset(self, env: AtariEnv) -> None:
        self.games.setdefault(id(env), []).append(
            {"score": 0.0, "top_reward": 0.0, "lives_lost": 0, "lives": None, "ended": False}
        )

    def on_step(self, env: AtariEnv, reward: float, ended: bool, lives: int) -> None:
        game = self.games[id(env)][-1]
        game["score"] += float(reward)
        game["top_reward"] = max(game["top_reward"], float(reward))
        if game["lives"] is not None and lives < game["lives"] and not ended:
            game["lives_lost"] += 1
        game["lives"] = lives
        game["ended"] = game["ended"] or ended


def test_metrics_hold_the_unclipped_whole_game_score(tmp_path, monkeypatch):
    ledger = GameLedger()
    stepped: list[int] = []  # AtariEnv instances in the order they first step: training's, then evaluation's
    reset, step = AtariEnv.reset, AtariEnv.step

    def recorded_reset(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = reset(self, *args, **kwargs)
        ledger.on_reset(self)
        return result

    def recorded_step(self, action, *args, **kwargs):  # type: ignore[no-untyped-def]
        obs, reward, terminated, truncated, info = step(self, action, *args, **kwargs)
        if id(self) not in stepped:
            stepped.append(id(self))
        ledger.on_step(self, reward, terminated or truncated, info["lives"])
        return obs, reward, terminated, truncated, info

    monkeypatch.setattr(AtariEnv, "reset", recorded_reset)
    monkeypatch.setattr(AtariEnv, "step", recorded_step)
    small = {
        "seed": 0,
        "steps": 1300,
        "device": "cpu",
        "tensorboard": False,
        "learning": {"learning_starts": 10**6},  # acting only, nearly at random: whole games end quickly
        "replay": {"capacity": 1000},
        "evaluation": {"every": 0, "episodes": 1, "epsilon": 1.0},
        "atari": {"max_episode_frames": 2400, "episodic_life": True, "clip_rewards": True},
        "diagnostics": {"plot_every": 0},
        "checkpoint": {"every": 0},
    }
    config = apply_overrides(preset_config("atari-dqn", "ALE/SpaceInvaders-v5"), small)
    Agent(config).learn(run_dir=tmp_path / "run")

    with open(tmp_path / "run" / "metrics.csv", newline="") as handle:
        logged = [float(row["return"]) for row in csv.DictReader(handle)]
    games = [game for game in ledger.games[stepped[0]] if game["ended"]]
    assert logged == [game["score"] for game in games]
    # the test means something: games that lost lives before they ended, with rewards clipping changes
    assert len(games) >= 2 and any(game["lives_lost"] >= 1 for game in games), games
    assert any(game["top_reward"] > 1 for game in games), games
