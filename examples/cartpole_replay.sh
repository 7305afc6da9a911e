#!/usr/bin/env bash
# Experience replay on CartPole-v1: no replay (capacity 1, so batch 1: online Q-learning on the
# latest transition) against a 100,000-transition memory (Lin 1992; Mnih et al. 2015).
# Every run trains the full budget; the report lands in $OUT/report.html and $OUT/report.md.
#   SEEDS=5 STEPS=30000 examples/cartpole_replay.sh [more dqnlab experiment flags]
set -euo pipefail
source "$(dirname "$0")/_dqnlab.sh"  # sets $DQNLAB
$DQNLAB experiment CartPole-v1 --preset cartpole \
  --variant no-replay:replay.capacity=1,learning.batch_size=1 \
  --variant replay-100k:replay.capacity=100000 \
  --seeds "${SEEDS:-5}" --steps "${STEPS:-30000}" \
  --set tensorboard=false --set device=cpu \
  --out "${OUT:-experiments/cartpole-replay}" "$@"
