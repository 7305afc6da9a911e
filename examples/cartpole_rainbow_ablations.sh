#!/usr/bin/env bash
# Rainbow ablations on CartPole-v1 (after Hessel et al. 2018, Figure 3): the full agent of the
# cartpole-rainbow preset, and the agent without each of its parts. Without noisy nets the agent
# needs epsilon-greedy exploration again (the cartpole preset's schedule).
# Every run trains the full budget; the report lands in $OUT/report.html and $OUT/report.md.
#   SEEDS=5 STEPS=30000 examples/cartpole_rainbow_ablations.sh [more dqnlab experiment flags]
set -euo pipefail
source "$(dirname "$0")/_dqnlab.sh"  # sets $DQNLAB
$DQNLAB experiment CartPole-v1 --preset cartpole-rainbow \
  --variant rainbow: \
  --variant no-double:learning.double=false \
  --variant no-prioritized:replay.prioritized=false \
  --variant no-n-step:replay.n_step=1 \
  --variant no-dueling:network.dueling=false \
  --variant no-distributional:network.distributional=expected \
  --variant "no-noisy:network.noisy=false,exploration.schedule=linear,exploration.start=1.0,exploration.end=0.02,exploration.decay_steps=5000" \
  --seeds "${SEEDS:-5}" --steps "${STEPS:-30000}" \
  --set tensorboard=false --set device=cpu \
  --out "${OUT:-experiments/cartpole-rainbow-ablations}" "$@"
