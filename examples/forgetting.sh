#!/usr/bin/env bash
# Catastrophic forgetting on CartPole-v1: which remedy keeps a solved agent solved (docs/forgetting.md).
# The cartpole preset solves fast and then often collapses; each variant changes one thing against it
# (the lr-decay values suit its lr of 2e-3 and its gradient step every 2 env steps).
# Every run trains the full budget (no stop at the target) with a greedy evaluation of 20 episodes
# every 2,000 env steps; the report (hold rate, last-10 mean, collapses, AUC, steps to solve, each with
# 95% bootstrap CIs) lands in $OUT/report.html and $OUT/report.md. After Ctrl-C:
# `dqnlab experiment --resume $OUT`. VARIANTS picks some variants by name (space- or comma-separated);
# ENV and PRESET run the remedies on another env against another preset: PRESET=dqn gets the same
# remedies scaled to its own lr, target interval and update rate. EVAL_EVERY and EVAL_EPISODES change
# the evaluation (long episodes, as LunarLander's, make 20 episodes every 2,000 steps costly).
#   SEEDS=10 STEPS=100000 examples/forgetting.sh --workers 2 [more dqnlab experiment flags]
#   VARIANTS="baseline layer-norm" SEEDS=3 STEPS=30000 examples/forgetting.sh --workers 1
#   ENV=Acrobot-v1 PRESET=dqn SEEDS=5 examples/forgetting.sh
set -euo pipefail
source "$(dirname "$0")/_dqnlab.sh"  # sets $DQNLAB
ENV=${ENV:-CartPole-v1}
PRESET=${PRESET:-cartpole}
# "stable": layer-norm+lr-anneal-20k, the first cartpole-stable (before its 3-step returns), as changes
# to cartpole; stable+X is the same run, bit for bit, as that preset with X
STABLE="network.layer_norm=true,learning.lr_end=0.00002,learning.lr_decay_steps=20000"
CARTPOLE_VARIANTS=(
  "baseline:"
  "prioritized:replay.prioritized=true"
  "reserve-0.1:replay.reserve_fraction=0.1"
  "reserve-0.25:replay.reserve_fraction=0.25"
  "replay-100k:replay.capacity=100000"
  "lr-5e-4:learning.lr=0.0005"
  # from the preset's 2e-3 down to 1e-4 over 20,000 gradient steps (about 41,000 env steps), then held
  "lr-decay:learning.lr_end=0.0001,learning.lr_decay_steps=20000"
  # a soft update after every gradient step in place of a hard copy every 50
  "polyak-0.005:learning.tau=0.005,learning.target_update_interval=1"
  "target-200:learning.target_update_interval=200"
  "layer-norm:network.layer_norm=true"
  "rollback:diagnostics.on_collapse=rollback"
  "no-double:learning.double=false"
  # the two that held best in the pilot (docs/forgetting.md), together: a candidate stable preset
  "layer-norm+lr-decay:network.layer_norm=true,learning.lr_end=0.0001,learning.lr_decay_steps=20000"
  # candidates after the full run: LayerNorm with the lr annealed over the whole run (about 49,500
  # gradient steps in 100k env steps) to 1% of its start, and the same with a target held 4x longer
  "layer-norm+lr-anneal:network.layer_norm=true,learning.lr_end=0.00002,learning.lr_decay_steps=50000"
  "layer-norm+lr-anneal+target-200:network.layer_norm=true,learning.lr_end=0.00002,learning.lr_decay_steps=50000,learning.target_update_interval=200"
  # and with more exploration kept in the data (epsilon ends at 0.1), or prioritized replay
  "layer-norm+lr-anneal+eps-0.1:network.layer_norm=true,learning.lr_end=0.00002,learning.lr_decay_steps=50000,exploration.end=0.1"
  "layer-norm+lr-anneal+prioritized:network.layer_norm=true,learning.lr_end=0.00002,learning.lr_decay_steps=50000,replay.prioritized=true"
  # annealed seeds often ended at 500 once the lr was small: anneal sooner, over 30k or 20k gradient
  # steps (about 61k or 41k env steps), so that the last 20k env steps run at the small lr
  "layer-norm+lr-anneal-30k:network.layer_norm=true,learning.lr_end=0.00002,learning.lr_decay_steps=30000"
  "layer-norm+lr-anneal-20k:network.layer_norm=true,learning.lr_end=0.00002,learning.lr_decay_steps=20000"
  # even at lr 2e-5 solved seeds drifted and collapsed: Adam scales tiny gradients up to full-size
  # steps; a larger Adam epsilon shrinks the steps once the gradients are small
  "layer-norm+lr-decay+adam-eps-1e-3:network.layer_norm=true,learning.lr_end=0.0001,learning.lr_decay_steps=20000,learning.optimizer_eps=0.001"
  "layer-norm+lr-decay+adam-eps-1e-2:network.layer_norm=true,learning.lr_end=0.0001,learning.lr_decay_steps=20000,learning.optimizer_eps=0.01"
  # cartpole-stable (layer-norm+lr-anneal-20k) and one more change: what still broke its seeds was
  # a collapse at the small lr (roll back), failures lost from a wrapping memory (keep them all),
  # Adam's full-size steps (larger epsilon), a horizon too short or too long (gamma), a network too
  # small (256 units), or a small action gap (dueling), or the lr not yet small enough (to 2e-6)
  "stable+rollback:$STABLE,diagnostics.on_collapse=rollback"
  "stable+replay-100k:$STABLE,replay.capacity=100000"
  "stable+adam-eps-1e-2:$STABLE,learning.optimizer_eps=0.01"
  "stable+rollback+replay-100k:$STABLE,diagnostics.on_collapse=rollback,replay.capacity=100000"
  "stable+gamma-0.98:$STABLE,learning.gamma=0.98"
  "stable+gamma-0.995:$STABLE,learning.gamma=0.995"
  "stable+gamma-0.999:$STABLE,learning.gamma=0.999"
  "stable+lr-end-2e-6:${STABLE/0.00002/0.000002}"
  "stable+wide-256:$STABLE,network.hidden_sizes=[256,256]"
  "stable+dueling:$STABLE,network.dueling=true"
  # the drift is learned from the rare transitions where the cart leaves the track: 3-step returns
  # carry that failure back faster, and an MSE loss does not clip its large TD error as Huber does
  "stable+n-step-3:$STABLE,replay.n_step=3"  # held 10/10: the cartpole-stable preset now
  "stable+mse:$STABLE,learning.loss=mse"
  # the two changes that met the goal on their own (3-step returns, dueling streams), together
  "stable+n-step-3+dueling:$STABLE,replay.n_step=3,network.dueling=true"
)
# The dqn preset (lr 1e-3, a gradient step per env step, target copied every 500 of them) keeps all
# of a 100k-step run in its 100k replay, so a larger replay and a reserved share change nothing there
# and are left out.
DQN_VARIANTS=(
  "baseline:"
  "prioritized:replay.prioritized=true"
  "lr-5e-4:learning.lr=0.0005"
  # from 1e-3 down to 1e-4 over the first half of a 100k-step run, then held
  "lr-decay:learning.lr_end=0.0001,learning.lr_decay_steps=50000"
  "polyak-0.005:learning.tau=0.005,learning.target_update_interval=1"
  "target-2000:learning.target_update_interval=2000"
  "layer-norm:network.layer_norm=true"
  "rollback:diagnostics.on_collapse=rollback"
  "no-double:learning.double=false"
  # cartpole-stable's change: LayerNorm, the lr annealed to 1% of its start over about 40% of the run
  "layer-norm+lr-anneal:network.layer_norm=true,learning.lr_end=0.00001,learning.lr_decay_steps=40000"
)
if [[ "$PRESET" == dqn ]]; then
  ALL_VARIANTS=("${DQN_VARIANTS[@]}")
else
  ALL_VARIANTS=("${CARTPOLE_VARIANTS[@]}")
fi
WANTED=" ${VARIANTS:-} "
WANTED=${WANTED//,/ }
KNOWN=" ${ALL_VARIANTS[*]%%:*} "
for name in $WANTED; do
  if [[ "$KNOWN" != *" $name "* ]]; then
    echo "examples/forgetting.sh: no variant '$name' in VARIANTS; known:${KNOWN% }" >&2
    exit 2
  fi
done
SELECTED=()
for variant in "${ALL_VARIANTS[@]}"; do
  if [[ -z "${WANTED// /}" || "$WANTED" == *" ${variant%%:*} "* ]]; then
    SELECTED+=(--variant "$variant")
  fi
done
$DQNLAB experiment "$ENV" --preset "$PRESET" \
  "${SELECTED[@]}" \
  --seeds "${SEEDS:-10}" --steps "${STEPS:-100000}" \
  --set evaluation.every="${EVAL_EVERY:-2000}" --set evaluation.episodes="${EVAL_EPISODES:-20}" \
  --set tensorboard=false --set device=cpu \
  --out "${OUT:-experiments/${ENV%%-*}-forgetting}" "$@"
