#!/usr/bin/env bash
# Table vs linear (Fourier basis) vs deep (MLP) Q-functions on CartPole-v1 or MountainCar-v0,
# each with the learning rule that suits it (see docs/linear.md):
#   table:  online tabular Q-learning (replay 1, batch 1, no target lag), lr 0.5 decaying, SGD
#   linear: the cartpole-linear / mountaincar-linear preset (semi-gradient SGD from replay)
#   mlp:    the DQN settings of the cartpole preset (Adam, Huber, replay 50k)
#   ENV=MountainCar-v0 SEEDS=5 STEPS=30000 examples/table_linear_mlp.sh [more dqnlab experiment flags]
set -euo pipefail
source "$(dirname "$0")/_dqnlab.sh"  # sets $DQNLAB
ENV=${ENV:-CartPole-v1}
ONLINE=learning.batch_size=1,replay.capacity=1,learning.learning_starts=0,learning.target_update_interval=1,learning.double=false
DQN=network.hidden_sizes=[128,128],learning.optimizer=adam,learning.lr=0.001,learning.loss=huber,learning.max_grad_norm=10,learning.batch_size=64,learning.target_update_interval=100,replay.capacity=50000
case "$ENV" in
  CartPole-v1)
    PRESET=cartpole-linear
    # 6 x 12 cells over pole angle and angular velocity; cart position and velocity are ignored.
    TABLE="network.bins=[1,1,6,12],network.obs_bounds=[[-2.4,2.4],[-3,3],[-0.21,0.21],[-2,2]],learning.lr=0.5,learning.lr_end=0.05,learning.lr_decay_steps=30000,exploration.decay_steps=10000"
    MLP="$DQN" ;;
  MountainCar-v0)
    PRESET=mountaincar-linear
    # 20 x 20 cells; epsilon 0 and Q = 0 at the start explore by optimism, as for the linear preset.
    TABLE="network.bins=[20],learning.lr=0.5,learning.lr_end=0.1,learning.lr_decay_steps=20000"
    MLP="$DQN,learning.gamma=0.99,learning.learning_starts=1000,exploration.schedule=linear,exploration.start=1.0,exploration.end=0.02,exploration.decay_steps=10000" ;;
  *) echo "ENV must be CartPole-v1 or MountainCar-v0" >&2; exit 2 ;;
esac
$DQNLAB experiment "$ENV" --preset "$PRESET" \
  --variant "table:network.q_function=table,$ONLINE,$TABLE" \
  --variant "linear:network.q_function=linear" \
  --variant "mlp:network.q_function=mlp,$MLP" \
  --seeds "${SEEDS:-5}" --steps "${STEPS:-20000}" \
  --set tensorboard=false --set device=cpu --set evaluation.every=2000 \
  --out "${OUT:-experiments/${ENV%%-*}-table-linear-mlp}" "$@"
