"""MinAtar through dqnlab: env plugins, exact env state, the MinAtar torsos, bool observations in replay."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("minatar")

from dqnlab.config import Config, NetworkConfig, apply_overrides, config_from_dict, parse_assignments  # noqa: E402
from dqnlab.envs import env_spaces, make_env, make_vector_env  # noqa: E402
from dqnlab.envs.state import restore_vector_env_state, vector_env_state  # noqa: E402
from dqnlab.errors import ConfigError, EnvError  # noqa: E402
from dqnlab.networks.factory import build_q_network  # noqa: E402
from dqnlab.networks.torsos import MinAtarTorso  # noqa: E402
from dqnlab.replay import build_replay  # noqa: E402
from dqnlab.training.evaluation import evaluate  # noqa: E402
from dqnlab.training.snapshot import latest_snapshot, read_snapshot, write_snapshot  # noqa: E402

# channels per game (Young & Tian 2019, Table 1) and actions: all 6 in v0, the minimal set in v1
GAMES = {"Asterix": (4, 5), "Breakout": (4, 3), "Freeway": (7, 3), "Seaquest": (10, 6), "SpaceInvaders": (6, 4)}


@pytest.mark.parametrize("game", GAMES)
def test_minatar_games_come_from_the_installed_plugin(game):
    channels, minimal_actions = GAMES[game]
    spaces = env_spaces(f"MinAtar/{game}-v1")
    assert spaces.observation_space.shape == (10, 10, channels)
    assert spaces.observation_space.dtype == np.bool_
    assert spaces.action_space.n == minimal_actions
    assert env_spaces(f"MinAtar/{game}-v0").action_space.n == 6


def test_an_unknown_plugin_id_names_the_close_ones():
    with pytest.raises(EnvError, match=r"unknown env id 'MinAtar/Breakot-v1'; did you mean MinAtar/Breakout-v1"):
        env_spaces("MinAtar/Breakot-v1")


def test_env_kwargs_reach_the_game_and_a_bad_one_is_named():
    env = make_env("MinAtar/Seaquest-v1", env_kwargs=(("sticky_action_prob", 0.0), ("difficulty_ramping", False)))
    game = env.unwrapped.game  # type: ignore[attr-defined]
    assert (game.sticky_action_prob, game.env.ramping) == (0.0, False)
    with pytest.raises(EnvError, match=r"with env_kwargs paddle=3: .*unexpected keyword argument 'paddle'"):
        make_env("MinAtar/Breakout-v1", env_kwargs=(("paddle", 3),))
    with pytest.raises(EnvError, match=r"fails at its first step: TypeError"):
        env_spaces("MinAtar/Breakout-v1", env_kwargs=(("sticky_action_prob", "often"),))


def test_env_kwargs_round_trip_through_toml_and_merge_key_by_key():
    import tomllib

    config = apply_overrides(config_from_dict({}), parse_assignments(["env_kwargs.sticky_action_prob=0.0"]))
    config = apply_overrides(config, {"env_kwargs": {"difficulty_ramping": False}})
    assert config.env_kwargs == (("difficulty_ramping", False), ("sticky_action_prob", 0.0))
    assert "[env_kwargs]\ndifficulty_ramping = false\nsticky_action_prob = 0.0" in config.to_toml()
    assert config_from_dict(tomllib.loads(config.to_toml())) == config
    with pytest.raises(ConfigError, match="env_kwargs must be a table"):
        apply_overrides(config, {"env_kwargs": 3})
    with pytest.raises(ConfigError, match=r"env_kwargs.x must be a number, true/false or a string"):
        apply_overrides(config, {"env_kwargs": {"x": [1, 2]}})


def test_a_minatar_env_is_stepped_and_evaluated():
    """Freeway without sticky actions: a policy that never moves scores 0 and its episode ends at the
    game's own time limit, 2500 frames; always moving up crosses the road and scores."""
    kwargs = (("sticky_action_prob", 0.0),)
    still = evaluate(lambda obs, eps: np.zeros(len(obs), np.int64), "MinAtar/Freeway-v1", 2, 0.0, 0, env_kwargs=kwargs)
    np.testing.assert_array_equal(still, [0.0, 0.0])
    up = evaluate(lambda obs, eps: np.ones(len(obs), np.int64), "MinAtar/Freeway-v1", 2, 0.0, 0, env_kwargs=kwargs)
    assert (up > 0).all()
    envs = make_vector_env("MinAtar/Freeway-v1", 1, env_kwargs=kwargs)
    envs.reset(seed=0)
    lengths = 0
    for _ in range(2500):
        _, _, terminated, truncated, _ = envs.step(np.zeros(1, np.int64))
        lengths += 1
        if terminated[0] or truncated[0]:
            break
    assert lengths == 2500


def _play(envs, seed: int, steps: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(steps):
        obs, rewards, terminated, truncated, _ = envs.step(rng.integers(0, envs.single_action_space.n, envs.num_envs))
        rows.append(np.concatenate([obs.ravel(), rewards, terminated, truncated]))
    return np.stack(rows)


@pytest.mark.parametrize("game", GAMES)
def test_minatar_games_continue_exactly_after_a_checkpoint(tmp_path, game):
    """The game object (positions, timers, entities) and its RandomState (enemy spawns, sticky
    actions) come back from a snapshot on disk: the next 400 steps match, across episode ends."""
    env_id = f"MinAtar/{game}-v1"
    envs = make_vector_env(env_id, 2)
    envs.reset(seed=4)
    _play(envs, 0, 150)
    write_snapshot(tmp_path, 150, {"envs": vector_env_state(envs)}, {}, keep_last=1)
    expected = _play(envs, 1, 400)
    restored = make_vector_env(env_id, 2)
    restored.reset(seed=4)  # as a resume does, before the saved state replaces what this built
    assert restore_vector_env_state(restored, read_snapshot(latest_snapshot(tmp_path)[1])[0]["envs"]) == {}
    np.testing.assert_array_equal(_play(restored, 1, 400), expected)


def test_an_uncapturable_env_is_saved_as_a_marker_and_restarted(capsys):
    """One line on the first capture only; a restore resets that env and hands back its first observation."""
    envs = make_vector_env("dqnlab-test/Opaque-v0", 2)
    envs.reset(seed=0)
    envs.step(np.zeros(2, np.int64))
    first = vector_env_state(envs)
    vector_env_state(envs)
    assert capsys.readouterr().err.count("checkpoints hold everything but the state of dqnlab-test/Opaque-v0") == 1
    restored = make_vector_env("dqnlab-test/Opaque-v0", 2)
    restored.reset(seed=0)
    restored.step(np.zeros(2, np.int64))
    restored.step(np.zeros(2, np.int64))
    fresh = restore_vector_env_state(restored, first, seed=100)
    assert sorted(fresh) == [0, 1]
    np.testing.assert_array_equal(fresh[0], [0.0, 1.0])  # t = 0 of the env's second episode
    assert "resuming with 2 of 2 dqnlab-test/Opaque-v0 envs on a fresh episode" in capsys.readouterr().err


@pytest.mark.parametrize("game", GAMES)
@pytest.mark.parametrize("torso, features", [("minatar", 128), ("minatar_same", 10 * 10 * 16)])
def test_minatar_torsos_shapes_for_each_game(game, torso, features):
    channels, _ = GAMES[game]
    space = env_spaces(f"MinAtar/{game}-v0").observation_space
    network = build_q_network(NetworkConfig(torso=torso), space, 6)
    assert network.torso.output_size == features
    obs = torch.zeros(5, 10, 10, channels, dtype=torch.bool)
    assert network(obs).q_values.shape == (5, 6)
    assert network.torso.conv.weight.shape == (16, channels, 3, 3)


def test_auto_picks_the_minatar_torso_for_minatar_grids_only():
    import gymnasium as gym

    grid = gym.spaces.Box(0, 1, (10, 10, 4), bool)
    assert isinstance(build_q_network(NetworkConfig(), grid, 3).torso, MinAtarTorso)
    floats = gym.spaces.Box(0, 1, (10, 10, 4), np.float32)
    assert not isinstance(build_q_network(NetworkConfig(), floats, 3).torso, MinAtarTorso)
    with pytest.raises(ConfigError, match=r"network.torso 'minatar' needs \[H, W, C\] grids"):
        build_q_network(NetworkConfig(torso="minatar"), gym.spaces.Box(0, 1, (4,)), 2)


def test_minatar_torso_reads_channels_last():
    """Young & Tian's layer on a hand-made grid: a single lit cell of channel 1 at row 0, column 2,
    seen by a conv whose only nonzero weight is channel 1's centre: exactly one output position lights."""
    torso = MinAtarTorso((10, 10, 3), padding="same", hidden_size=None)
    with torch.no_grad():
        torso.conv.weight.zero_()
        torso.conv.bias.zero_()
        torso.conv.weight[0, 1, 1, 1] = 1.0
    grid = torch.zeros(1, 10, 10, 3, dtype=torch.bool)
    grid[0, 0, 2, 1] = True
    features = torso(grid).view(16, 10, 10)
    assert features.sum() == 1.0 and features[0, 0, 2] == 1.0


@pytest.mark.parametrize("prioritized, n_step", [(False, 1), (True, 3)])
def test_bool_observations_are_stored_as_bool_and_sampled_back_exactly(prioritized, n_step):
    rng = np.random.default_rng(0)
    config = apply_overrides(Config(), {"replay": {"capacity": 64, "n_step": n_step, "prioritized": prioritized}})
    space = gym.spaces.Box(0, 1, (10, 10, 6), bool)
    memory = build_replay(config, space, np.random.default_rng(1), beta_steps=100)
    assert memory.storage.obs.dtype == np.bool_ and memory.storage.obs.nbytes == 64 * 600
    written = {}
    obs = rng.random((1, 10, 10, 6)) < 0.3
    for t in range(40):
        next_obs = rng.random((1, 10, 10, 6)) < 0.3
        written[t] = (obs[0], next_obs[0])
        memory.add(obs, np.array([t % 4]), np.zeros(1), next_obs, np.zeros(1, bool), np.zeros(1, bool))
        obs = next_obs
    batch = memory.sample(16)
    assert batch.obs.dtype == np.bool_ and batch.next_obs.dtype == np.bool_
    stored = {o.tobytes(): t for t, (o, _) in written.items()}
    for obs_i, next_i in zip(batch.obs, batch.next_obs, strict=True):
        t = stored[obs_i.tobytes()]  # every sampled s is one written, bit for bit
        np.testing.assert_array_equal(next_i, written[t + n_step - 1][1])  # and s' is n steps on


def test_rmsprop_minatar_is_young_and_tians_optimizer():
    """PyTorch's centered RMSprop, ε outside the square root, no momentum (dqn.py defines GRAD_MOMENTUM
    but never passes it). Two steps of a constant gradient g = 1e-3 by hand (α = 0.95, ε = 0.01, lr 2.5e-4):
    step 1: v = 0.05 g², ḡ = 0.05 g, d = sqrt(v - ḡ²) + ε = 0.0102179, g / d = 0.0978670;
    step 2: v = 0.0975 g², ḡ = 0.0975 g, d = 0.0102966, g / d = 0.0971191.
    θ moves by lr × (0.0978670 + 0.0971191) = 4.87465e-5. With momentum 0.95 it would move 7.19900e-5;
    with ε inside the square root (TF's RMSProp) about 5e-6."""
    from dqnlab.optimizers import OPTIMIZERS

    parameter = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = OPTIMIZERS["rmsprop_minatar"]([parameter], 2.5e-4, None)
    for _ in range(2):
        parameter.grad = torch.full((1,), 1e-3, dtype=torch.float64)
        optimizer.step()
    assert parameter.item() == pytest.approx(-4.874653e-5, rel=1e-6)


def test_a_minatar_video_is_enlarged_and_records_without_the_env_checkers_render_warnings(tmp_path):
    """MinAtar renders 10x10 float frames with no fps declared; Gymnasium's env checker warns of both,
    and dqnlab converts the frames itself, so a user recording a video sees neither warning."""
    import warnings

    from PIL import Image

    from dqnlab import Agent
    from dqnlab.diagnostics.video import record_episode
    from dqnlab.presets import preset_config

    agent = Agent(preset_config("minatar-dqn", "MinAtar/Breakout-v1"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record_episode(agent, tmp_path / "breakout.gif", epsilon=1.0, seed=0)
    assert [str(warning.message) for warning in caught if "render" in str(warning.message).lower()] == []
    with Image.open(tmp_path / "breakout.gif") as video:
        assert video.size == (160, 160) and video.n_frames > 1  # each cell a 16-pixel block
        assert len(video.convert("RGB").getcolors()) > 1  # not a blank frame


def test_the_q_function_line_names_the_minatar_torsos_layers_not_linear_features():
    """The train header describes a deep torso by its layers; "N features x A actions" is linear Q's."""
    from dqnlab import Agent
    from dqnlab.presets import preset_config

    line = Agent(preset_config("minatar-dqn", "MinAtar/Breakout-v1")).describe_q_function()
    assert line.startswith("MinAtar torso: 3x3 conv (16, valid padding) -> 128, ")
    assert "features x" not in line and line.endswith(" parameters")
