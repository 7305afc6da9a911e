#!/usr/bin/env bash
# DQN against Double DQN on CartPole-v1 (van Hasselt et al. 2016): the same agent, with the
# target's next action picked by the target network (DQN) or by the online network (Double).
# Every run trains the full budget; the report lands in $OUT/report.html and $OUT/report.md.
#   SEEDS=5 STEPS=30000 examples/cartpole_double.sh [more dqnlab experiment flags]
set -euo pipefail
source "$(dirname "$0")/_dqnlab.sh"  # sets $DQNLAB
$DQNLAB experiment CartPole-v1 --preset cartpole \
  --vary learning.double=false,true \
  --seeds "${SEEDS:-5}" --steps "${STEPS:-30000}" \
  --set tensorboard=false --set device=cpu \
  --out "${OUT:-experiments/cartpole-double}" "$@"
