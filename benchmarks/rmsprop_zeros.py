"""PyTorch's RMSprop step against dqnlab's (`dqnlab.optimizers.RMSprop`), as the share of zero
gradients grows: torch's CPU square root is slow on zeros, and a network's dead units keep the
centered variance v - m² at exactly zero.

    python benchmarks/rmsprop_zeros.py [--parameters 132854] [--checkpoint RUN/seed-0/checkpoints/state-N/torch.pt]

Each optimizer steps the same flat parameter tensor from the same state, in alternating blocks so
that load on the machine hits both alike; the settings are `rmsprop_minatar`'s (centered, α 0.95,
ε 0.01). `--checkpoint` also times them from a real run's optimizer state, with a gradient that is
zero where that state's variance is.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dqnlab.optimizers import RMSprop

SETTINGS = {"lr": 2.5e-4, "alpha": 0.95, "eps": 0.01, "centered": True}


def step_us(optimizer_class: type[torch.optim.Optimizer], state: dict, gradients: list[torch.Tensor]) -> list[float]:
    """Times per step (µs) of blocks of 50 steps from `state`, after 20 steps of warm-up; step k
    takes gradient k mod len(gradients), copied in as autograd would accumulate it."""
    parameter = torch.zeros_like(gradients[0], requires_grad=True)
    parameter.grad = torch.zeros_like(gradients[0])
    optimizer = optimizer_class([parameter], **SETTINGS)
    groups = optimizer.state_dict()["param_groups"]
    optimizer.load_state_dict({"state": {0: {k: v.clone() for k, v in state.items()}}, "param_groups": groups})

    def step(k: int) -> None:
        parameter.grad.copy_(gradients[k % len(gradients)])
        optimizer.step()

    for k in range(20):
        step(k)
    times = []
    for _ in range(10):
        began = time.perf_counter()
        for k in range(50):
            step(k)
        times.append((time.perf_counter() - began) / 50 * 1e6)
    return times


def compare(label: str, state: dict, gradients: list[torch.Tensor]) -> None:
    """Prints the median step of each optimizer over alternating rounds, and their ratio."""
    times: dict[str, list[float]] = {"torch": [], "dqnlab": []}
    for _ in range(3):
        times["torch"] += step_us(torch.optim.RMSprop, state, gradients)
        times["dqnlab"] += step_us(RMSprop, state, gradients)
    torch_us, dqnlab_us = statistics.median(times["torch"]), statistics.median(times["dqnlab"])
    print(f"  {label:<44} torch {torch_us:7.0f} µs   dqnlab {dqnlab_us:7.0f} µs   {torch_us / dqnlab_us:.2f}x")


def random_gradients(live: torch.Tensor, generator: torch.Generator, count: int = 8) -> list[torch.Tensor]:
    """`count` different gradients of scale 1e-3, zero where `live` is False (a dead unit's weights)."""
    return [torch.randn(live.shape, generator=generator) * 1e-3 * live for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parameters", type=int, default=132_854, help="minatar-dqn's network has 132,854")
    parser.add_argument("--checkpoint", help="a run's torch.pt whose learner/optimizer state to start from")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # as dqnlab's learner sets it for the step
    generator = torch.Generator().manual_seed(0)
    print(f"centered RMSprop step on {args.parameters:,} parameters, one thread, torch {torch.__version__}")
    for zero_share in (0.0, 0.1, 0.4, 0.9):
        live = torch.rand(args.parameters, generator=generator) >= zero_share
        gradients = random_gradients(live, generator)
        state = {"step": torch.tensor(1.0), "square_avg": gradients[0].square() * 0.05, "grad_avg": gradients[0] * 0.05}
        compare(f"{zero_share:.0%} of the gradient zero", state, gradients)
    if args.checkpoint:
        saved = torch.load(args.checkpoint, map_location="cpu", weights_only=False)["learner"]["optimizer"]["state"][0]
        variance = saved["square_avg"].addcmul(saved["grad_avg"], saved["grad_avg"], value=-1)
        dead = variance == 0
        label = f"the checkpoint's state, {dead.float().mean().item():.0%} dead"
        compare(label, saved, random_gradients(~dead, generator))


if __name__ == "__main__":
    main()
