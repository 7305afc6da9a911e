#!/usr/bin/env bash
# Seed populations on a GPU (docs/populations.md): CartPole populations of 10, 100 and 1,000
# members, and Space Invaders (ALE) throughput with 8 envs against Stable-Baselines3. Prints every
# figure; about 6 minutes on one GPU with the defaults. Needs the atari extra and stable-baselines3.
#
#   bash benchmarks/gpu_check.sh                                   # on the GPU
#   DEVICE=cpu SIZES=2,3 STEPS=300 ATARI_STEPS=200 ATARI_WARMUP=100 bash benchmarks/gpu_check.sh   # a dry run
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DEVICE=${DEVICE:-cuda}
SIZES=${SIZES:-10,100,1000}
STEPS=${STEPS:-1000}               # env steps per CartPole member (1,000 members step in Python each)
ATARI_STEPS=${ATARI_STEPS:-10000}  # measured env steps after the warm-up
ATARI_WARMUP=${ATARI_WARMUP:-2000}

echo "== CartPole-v1, cartpole preset, populations on $DEVICE: $STEPS env steps per member, learning from step 500"
timeout 270 "$PYTHON" benchmarks/population.py scaling --members "$SIZES" --steps "$STEPS" \
    --learning-starts 500 --device "$DEVICE"

echo "== ALE/SpaceInvaders-v5, Nature DQN, 8 envs on $DEVICE: dqnlab vs Stable-Baselines3"
timeout 170 "$PYTHON" benchmarks/atari_vs_sb3.py --device "$DEVICE" --num-envs 8 \
    --warmup "$ATARI_WARMUP" --steps "$ATARI_STEPS" --capacity 50000
