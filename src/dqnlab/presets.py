"""Named configurations. Each preset is a nested dict of overrides applied to the defaults, listing only
the values that differ from them (a test holds presets to that); the comments give the sources' full sets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dqnlab.config import Config, apply_overrides, did_you_mean
from dqnlab.errors import ConfigError


@dataclass(frozen=True)
class Preset:
    description: str
    overrides: dict[str, Any]


# Rainbow's network on pixels (Hessel et al. 2018): the Nature CNN under a dueling, noisy C51 head
# with sigma0 0.5 and 51 atoms on [-10, 10] (the defaults), which fits Atari's clipped rewards.
# Shared by `atari-rainbow` (which adds the paper's hidden layers per stream) and `atari100k`.
ATARI_RAINBOW_NETWORK: dict[str, Any] = {"q_function": "cnn", "dueling": True, "noisy": True, "distributional": "c51"}

# `cartpole`'s values, which `cartpole-stable` changes. A gradient step every 2 env steps on batches
# of 128 at lr 2e-3 learns as much per env step as one step per env step on batches of 64 at 1e-3,
# at half the updates: median 16k steps to solve over seeds 0-9 (BENCHMARKS.md). The target is
# copied every 100 env steps.
CARTPOLE: dict[str, Any] = {
    "network": {"hidden_sizes": [64, 64]},
    "learning": {"lr": 2e-3, "batch_size": 128, "target_update_interval": 50, "train_freq": 2},
    "replay": {"capacity": 50_000},
    "exploration": {"end": 0.02, "decay_steps": 5_000},
}

PRESETS: dict[str, Preset] = {
    "dqn": Preset(
        "textbook Double DQN: replay 100k, hard target copy every 500 updates, Adam, Huber loss",
        {},
    ),
    "cartpole": Preset("tuned to solve CartPole-v1 in few env steps and seconds", CARTPOLE),
    # `cartpole`, trained on after it solves, forgets (docs/forgetting.md: over 10
    # seeds x 100k env steps without early stop, none held a last-10 mean of 475). LayerNorm before
    # each hidden ReLU (as PQN, Gallici et al. 2024) stops its values diverging; an lr annealed
    # linearly from 2e-3 to 2e-5 over 20k gradient steps (about 41k env steps) stops most of the
    # drift (6 of 10 seeds held); 3-step returns carry back the rare failure that remained, the cart
    # leaving the track hundreds of steps ahead: 10 of 10 seeds at a last-10 mean >= 475, median first
    # solve 7k env steps, the best of 33 variants (9 of 10 fresh seeds). It trains its whole budget.
    "cartpole-stable": Preset(
        "cartpole with LayerNorm, an annealed lr and 3-step returns: solves and stays solved (docs/forgetting.md)",
        {
            **CARTPOLE,
            "network": {**CARTPOLE["network"], "layer_norm": True},
            "learning": {**CARTPOLE["learning"], "lr_end": 2e-5, "lr_decay_steps": 20_000},
            "replay": {**CARTPOLE["replay"], "n_step": 3},
            "evaluation": {"stop_at_target": False},
        },
    ),
    # Linear Q by semi-gradient Q-learning: plain SGD on 0.5*δ² (no Huber, no clipping), so each
    # update is θ_a += α·δ·φ(s) averaged over the batch. The Fourier basis is scaled so that
    # feature i learns at α/‖c_i‖ (Konidaris et al. 2011). Replay and a target network, as in DQN,
    # keep the bootstrapped targets steady; linear Q with them is still the textbook model.
    "cartpole-linear": Preset(
        "linear Q on a Fourier basis of order 3 (256 features), semi-gradient SGD with replay; CartPole-v1",
        {
            "steps": 30_000,
            "network": {"q_function": "linear", "fourier_scaling": True},
            "learning": {
                "optimizer": "sgd",
                "loss": "mse",
                "lr": 0.02,
                "batch_size": 32,
                "target_update_interval": 200,
                "max_grad_norm": None,
            },
            "replay": {"capacity": 20_000},
            "exploration": {"end": 0.02, "decay_steps": 5_000},
        },
    ),
    # Rewards of -1 per step make Q = 0 at the start optimistic, so the greedy policy explores
    # by itself and epsilon is 0 (Sutton & Barto 2018, §10.1). gamma = 1: episodes end within 200 steps.
    "mountaincar-linear": Preset(
        "linear Q on a Fourier basis of order 5 (36 features), optimistic start, no epsilon; MountainCar-v0",
        {
            "env_id": "MountainCar-v0",
            "steps": 30_000,
            "network": {"q_function": "linear", "order": 5, "fourier_scaling": True},
            "learning": {
                "optimizer": "sgd",
                "loss": "mse",
                "lr": 0.05,
                "gamma": 1.0,
                "batch_size": 32,
                "target_update_interval": 200,
                "learning_starts": 200,
                "max_grad_norm": None,
            },
            "replay": {"capacity": 10_000},
            "exploration": {"schedule": "constant", "start": 0.0, "end": 0.0},
            "evaluation": {"every": 2000},
        },
    ),
    # Hessel et al. (2018), Table 1, for envs of about 1e5 steps rather than Atari's 5e7 frames:
    # the same components, n = 3, alpha = 0.5, beta 0.4 -> 1, 51 atoms, sigma0 = 0.5 and no
    # epsilon; replay, warm-up and the target period shrink with the run (1M -> 100k
    # transitions, 20k -> 1k steps of warm-up, 8k -> 500 gradient steps between target copies),
    # and one update per env step with a larger step size (6.25e-5 -> 2.5e-4) fits a short run.
    # The support widens from [-10, 10], which fits Atari's clipped rewards, to [-100, 100]:
    # rewards of size at most 1 per step, as in CartPole, Acrobot and MountainCar, give returns
    # within 1 / (1 - gamma) = 100 of 0. Envs with larger returns need network.v_min and v_max.
    "rainbow": Preset(
        "Rainbow (Hessel et al. 2018): prioritized replay, 3-step returns, dueling, noisy nets, C51, Double",
        {
            "network": {
                "dueling": True,
                "noisy": True,
                "distributional": "c51",
                "v_min": -100.0,
                "v_max": 100.0,
            },
            "learning": {"lr": 2.5e-4},
            "replay": {"prioritized": True, "alpha": 0.5, "n_step": 3},
            # no exploration section: exploration.schedule "auto" is none (epsilon 0) with noisy nets,
            # and an ablation with network.noisy = false gets the default epsilon-greedy schedule
        },
    ),
    # Tuned on seeds 0-4 (docs/rainbow.md): with a replay that keeps every step some seeds sat at a
    # greedy return of ~110 for up to 20k steps; a 5k-step replay drops that early data sooner, and
    # sigma0 0.3 beat 0.1 and 0.5. Seeds 0-4 solved at 6k-10k steps (20-40 s on one CPU core).
    "cartpole-rainbow": Preset(
        "Rainbow tuned for CartPole-v1: a [128, 128] MLP, 5k-step replay, sigma0 0.3, returns in [0, 100]",
        {
            "steps": 30_000,  # also beta's annealing period: 0.4 -> 1 over 30k steps
            "network": {
                "hidden_sizes": [128, 128],
                "dueling": True,
                "noisy": True,
                "noisy_sigma0": 0.3,
                "distributional": "c51",
                "v_min": 0.0,
                "v_max": 100.0,
            },  # returns of +1 per step are in [0, 1/(1-gamma)]
            "learning": {"target_update_interval": 100},
            "replay": {"capacity": 5_000, "prioritized": True, "alpha": 0.5, "n_step": 3},
            # no exploration section: exploration.schedule "auto" is none (epsilon 0) with noisy nets, as in `rainbow`
        },
    ),
    # Mnih et al. (2015), Extended Data Table 1. The target period is 10k agent steps (2.5k
    # gradient steps at one update every 4 steps), as DeepMind's released code counts it. The
    # optimizer is DeepMind's centered RMSProp as Dopamine configures it (optimizers.py explains
    # how it differs from Nature's). Huber loss = Nature's clipping of the TD error to [-1, 1].
    # Evaluation follows Dopamine (epsilon 0.001); Nature DQN evaluated with epsilon 0.05.
    "atari-dqn": Preset(
        "Nature DQN on Atari (Mnih et al. 2015): Nature CNN, RMSProp, replay 1M, 50M frames",
        {
            "steps": 12_500_000,  # 50M frames at 4 frames per step
            "network": {"q_function": "cnn"},
            "learning": {
                "optimizer": "rmsprop_centered",
                "lr": 2.5e-4,
                "batch_size": 32,
                "double": False,
                "target_update_interval": 2_500,
                "max_grad_norm": "none",
                "learning_starts": 50_000,
                "train_freq": 4,
            },
            "replay": {"capacity": 1_000_000},
            "exploration": {"schedule": "linear", "end": 0.1, "decay_steps": 1_000_000},
            "evaluation": {"every": 250_000, "epsilon": 0.001, "stop_at_target": False},
        },
    ),
    # Hessel et al. (2018), Table 1: Adam 6.25e-5 with eps 1.5e-4; n = 3; alpha 0.5, beta 0.4 -> 1;
    # 51 atoms on [-10, 10]; sigma0 0.5 and no epsilon; target every 32k frames = 8k agent steps =
    # 2k gradient steps; learning from 80k frames = 20k steps; 200M frames. The network is the
    # dueling one (Wang et al. 2016) with every linear layer noisy: the Nature CNN's convolutions,
    # then a value and an advantage stream, each a noisy 512-unit hidden layer and a noisy output.
    "atari-rainbow": Preset(
        "Rainbow on Atari (Hessel et al. 2018): Nature CNN with dueling, noisy C51 head, PER, 3-step, 200M frames",
        {
            "steps": 50_000_000,  # 200M frames
            "network": {**ATARI_RAINBOW_NETWORK, "dueling_hidden": 512},
            "learning": {
                "lr": 6.25e-5,
                "optimizer_eps": 1.5e-4,
                "batch_size": 32,
                "target_update_interval": 2_000,
                "max_grad_norm": "none",
                "learning_starts": 20_000,
                "train_freq": 4,
            },
            "replay": {"capacity": 1_000_000, "prioritized": True, "alpha": 0.5, "n_step": 3},
            "exploration": {"schedule": "constant", "start": 0.0, "end": 0.0},
            "evaluation": {"every": 250_000, "epsilon": 0.001, "stop_at_target": False},
        },
    ),
    # Data-efficient Rainbow (van Hasselt et al. 2019) as Dopamine runs it: the values of
    # dopamine/labs/atari_100k/configs/DER.gin with Atari100kRainbowAgent (a JaxFullRainbowAgent):
    # 100k agent steps (400k frames), one update per step from 1,600 steps on, n = 10 (DER.gin takes
    # SPR's 10, not the DER paper's 20), target every 2,000 updates, Adam 1e-4 with eps 1.5e-4 and
    # no gradient clipping (dqn_agent.create_optimizer is plain optax.adam), noisy dueling C51 on the
    # Nature CNN (FullRainbowNetwork), ε = 0.01 at every step (with noisy=True the agent swaps
    # DER.gin's linearly_decaying_epsilon for identity_epsilon, which returns epsilon_train: no
    # decay, no warm-up at ε = 1), ε 0.001 when evaluating, lives as episodes, no sticky actions.
    # Deviations, each from the same files:
    # - importance weights: Dopamine fixes β = 0.5 (loss weights 1/sqrt(P), full_rainbow_agent.py);
    #   dqnlab anneals β from 0.5 to 1 over the run, as in Schaul et al. (2016);
    # - replay: Dopamine's 1M capacity is "a proxy for unbounded"; 100k holds every step here too;
    # - evaluation: Dopamine plays 100 episodes (MaxEpisodeEvalRunner.num_eval_episodes); 10 here, set
    #   evaluation.episodes = 100 for the benchmark's figure;
    # - the DER paper's smaller torso (van Hasselt et al. 2019, App. F) is not Dopamine's either.
    "atari100k": Preset(
        "Data-efficient Rainbow for Atari 100k as Dopamine's DER.gin: 100k steps, 10-step returns, ε 0.01",
        {
            "network": ATARI_RAINBOW_NETWORK,
            "learning": {
                "lr": 1e-4,
                "optimizer_eps": 1.5e-4,
                "batch_size": 32,
                "target_update_interval": 2_000,
                "max_grad_norm": "none",
                "learning_starts": 1_600,
            },
            "replay": {"prioritized": True, "alpha": 0.5, "beta_start": 0.5, "n_step": 10},
            "exploration": {"schedule": "constant", "start": 0.01, "end": 0.01},
            "evaluation": {"every": 0, "epsilon": 0.001, "stop_at_target": False},
            "atari": {"sticky_actions": 0.0},
        },
    ),
    # Young & Tian (2019), MinAtar's DQN: the constants of kenjyoung/MinAtar examples/dqn.py, named in
    # the comments.
    # The no-replay ablation of their paper: replay.capacity = 1, learning.batch_size = 1,
    # learning.learning_starts = 1 (they train on each transition from the first frame) and
    # exploration.decay_start = 0 (without replay their replay_start_size is 0: ε decays from frame 0).
    "minatar-dqn": Preset(
        "MinAtar DQN (Young & Tian 2019): 3x3 conv + 128 units, centered RMSprop, replay 100k, 5M frames",
        {
            "env_id": "MinAtar/SpaceInvaders-v0",  # v0: all 6 actions, as env.num_actions() in dqn.py
            "steps": 5_000_000,  # NUM_FRAMES; one frame is one env step in MinAtar
            "network": {"torso": "minatar"},  # QNetwork: conv 16 3x3 stride 1 -> 128
            # as the defaults: gamma 0.99 (GAMMA), huber loss (f.smooth_l1_loss), one gradient step every
            # frame (TRAINING_FREQ 1), replay 100k (REPLAY_BUFFER_SIZE), epsilon from 1.0 (EPSILON)
            "learning": {
                # optim.RMSprop(alpha=SQUARED_GRAD_MOMENTUM, centered=True): GRAD_MOMENTUM is never passed
                "optimizer": "rmsprop_minatar",
                # STEP_SIZE; their published curves use each game's best of a power-of-2 sweep:
                # Breakout's is 2^-9 = 0.001953125 (docs/minatar.md, "best step size")
                "lr": 2.5e-4,
                "optimizer_eps": 0.01,  # MIN_SQUARED_GRAD, as PyTorch's eps (added outside the square root)
                "batch_size": 32,  # BATCH_SIZE
                "double": False,  # target_net(next_states).max(1): the DQN target
                "target_update_interval": 1_000,  # TARGET_NETWORK_UPDATE_FREQ, counted in updates
                "max_grad_norm": "none",  # no gradient clipping in dqn.py
                "learning_starts": 5_000,  # REPLAY_START_SIZE
            },
            # EPSILON -> END_EPSILON over FIRST_N_FRAMES, from frame REPLAY_START_SIZE on (1 before it)
            "exploration": {"schedule": "linear", "end": 0.1, "decay_steps": 100_000, "decay_start": 5_000},
            # the paper reports training returns; dqnlab adds a greedy evaluation (10 episodes) every 100k frames
            "evaluation": {"every": 100_000, "stop_at_target": False},
            "checkpoint": {"every": 100_000},
        },
    ),
    # Revisiting Rainbow (Obando-Ceron & Castro 2021) on MinAtar: JohanSamir/revisiting_rainbow,
    # Configs/rainbow_invaders.gin (the same for all five games but the observation shape), with
    # Dopamine's JaxDQNAgent defaults where the gin file sets nothing. Every component is a switch:
    # network.noisy/dueling/distributional, learning.double, replay.prioritized/n_step. Deviations:
    #   - Dopamine weights prioritized samples by 1/sqrt(P), beta fixed at 0.5; dqnlab anneals beta
    #     from beta_start = 0.5 to 1 over the run.
    #   - their noisy layers draw their noise once (networks_new.py caches the noise keys); dqnlab
    #     draws new noise at every step, as Fortunato et al. (2018) do.
    #   - their layers start from Glorot uniform (variance_scaling 1, fan_avg); dqnlab's from PyTorch's defaults,
    #     as the runs in docs/minatar.md were made (--set network.init=glorot_uniform gives theirs).
    #   - with noisy nets they still act epsilon-greedily with epsilon_train = 0.01 (identity_epsilon);
    #     the no-noise ablation decays epsilon instead: add exploration.schedule=linear, exploration.start=1.0
    #     (1 -> 0.01 over 250k steps after 1,000 at 1, as their linearly_decaying_epsilon).
    "minatar-rainbow": Preset(
        "Revisiting Rainbow on MinAtar (Obando-Ceron & Castro 2021): noisy dueling C51, PER, 3-step, Double",
        {
            "env_id": "MinAtar/SpaceInvaders-v0",  # minatar_env.py: minatar.Environment, all 6 actions
            "steps": 10_000_000,  # Runner.num_iterations 10 x Runner.training_steps 1M
            # as the defaults: 51 atoms (num_atoms), Adam (JaxRainbowAgentNew.optimizer), gamma 0.99
            # (JaxDQNAgent.gamma), Double DQN (double_dqn), learning from step 1,000 (min_replay_history),
            # one gradient step per update, replay 100k (replay_capacity)
            "network": {
                "torso": "minatar_same",  # RainbowDQN, net_conf 'minatar', hidden_layer 0
                "dueling": True,  # JaxRainbowAgentNew.dueling
                "noisy": True,  # JaxRainbowAgentNew.noisy
                "noisy_sigma0": 0.1,  # NoisyNetwork's sigma_init: 0.1 / sqrt(fan_in)
                "distributional": "c51",
                "v_min": -100.0,  # support [-vmax, vmax], vmax = 100
                "v_max": 100.0,
            },
            "learning": {
                "lr": 1e-4,  # create_optimizer.learning_rate
                "optimizer_eps": 3.125e-4,  # create_optimizer.eps
                "batch_size": 32,  # OutOfGraphPrioritizedReplayBuffer.batch_size
                "target_update_interval": 250,  # target_update_period 1000 agent steps / update_period 4
                "max_grad_norm": "none",  # Dopamine does not clip gradients
                "train_freq": 4,  # update_period
            },
            # replay_scheme 'prioritized' with priorities sqrt(loss) (alpha 0.5); update_horizon 3
            "replay": {"prioritized": True, "alpha": 0.5, "beta_start": 0.5, "n_step": 3},
            "exploration": {
                "schedule": "constant",
                "start": 0.01,
                "end": 0.01,
                "decay_steps": 250_000,  # epsilon_decay_period, for the no-noise ablation's linear schedule
                "decay_start": 1_000,  # its warm-up, min_replay_history
            },
            "evaluation": {"every": 100_000, "stop_at_target": False},
            "checkpoint": {"every": 100_000},
        },
    ),
    # Revisiting Rainbow's DQN on MinAtar, the baseline of its Figure 2: Configs/dqn_invaders.gin of
    # JohanSamir/revisiting_rainbow as it was when the paper appeared (521a3c2, 2020-11-22, to 2d49d68,
    # 2021-02-26), Dopamine's defaults elsewhere. The file then set mse_inf = False, the Huber loss; its
    # last commit (64ec8c8, 2021-05-25) set MSE (--set learning.loss=mse), with which this agent ends at
    # 58.4 by the paper's measure against its 34 at 10M frames; with Huber at 34.9 (docs/minatar.md).
    # Deviation: Glorot uniform initialization there (--set network.init=glorot_uniform).
    "minatar-revisiting-dqn": Preset(
        "Revisiting Rainbow's DQN on MinAtar (Obando-Ceron & Castro 2021): Adam, Huber, one update per 4 steps",
        {
            "env_id": "MinAtar/SpaceInvaders-v0",
            "steps": 10_000_000,  # 10 iterations of 1M training steps
            # as the defaults: Adam, gamma 0.99, the Huber loss (mse_inf = False), learning from step 1,000
            # (min_replay_history), one gradient step per update, uniform replay of 100k
            "network": {"torso": "minatar_same"},  # DQNNetwork, 'minatar', hidden_layer 0
            "learning": {
                "lr": 2.5e-4,  # create_optimizer.learning_rate
                "optimizer_eps": 3.125e-4,  # create_optimizer.eps
                "batch_size": 32,
                "double": False,  # target_opt = 0: DQN
                "target_update_interval": 250,  # 1000 agent steps / update_period 4
                "max_grad_norm": "none",
                "train_freq": 4,  # update_period
            },
            # linearly_decaying_epsilon with Dopamine's epsilon_train 0.01, epsilon_decay_period 250k, and
            # warmup_steps = min_replay_history 1,000 at epsilon 1
            "exploration": {"schedule": "linear", "end": 0.01, "decay_steps": 250_000, "decay_start": 1_000},
            "evaluation": {"every": 100_000, "stop_at_target": False},
            "checkpoint": {"every": 100_000},
        },
    ),
}


def preset_config(name: str, env_id: str | None = None) -> Config:
    """The config of preset `name`, for `env_id` when given."""
    if name not in PRESETS:
        raise ConfigError(
            f"unknown preset '{name}'{did_you_mean(name, list(PRESETS))}; choose one of: {', '.join(PRESETS)}"
        )
    config = apply_overrides(Config(), {**PRESETS[name].overrides, "preset": name})
    return config.replace(env_id=env_id) if env_id else config
