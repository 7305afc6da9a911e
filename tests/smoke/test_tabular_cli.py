"""A Discrete state space through the CLI: env-info counts its states, and `network.q_function=table` trains."""

from __future__ import annotations

import pytest

from dqnlab.cli import main


@pytest.mark.parametrize(("env_id", "states"), [("FrozenLake-v1", 16), ("CliffWalking-v1", 48), ("Taxi-v4", 500)])
def test_env_info_counts_the_states_of_a_discrete_space(env_id, states, capsys) -> None:
    assert main(["env-info", env_id]) == 0
    printed = capsys.readouterr().out
    assert f"tabular Q size:    {states} states\n" in printed and "infinite" not in printed
    assert f"one-hot codes of Discrete({states})" in printed


def test_a_table_on_frozen_lake_has_one_entry_per_state_and_action(tmp_path, capsys) -> None:
    argv = ["train", "FrozenLake-v1", "--set", "network.q_function=table", "--steps", "200", "--no-progress"]
    argv += ["--run-dir", str(tmp_path / "run"), "--set", "tensorboard=false", "--set", "evaluation.episodes=2"]
    assert main(argv) == 0
    assert "table (a table of 16 states (one-hot)): 16 features x 4 actions = 64 parameters" in capsys.readouterr().out
