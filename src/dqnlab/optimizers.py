"""The optimizers `learning.optimizer` names, each built over the learner's flat parameter buffer."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class CenteredRMSprop(torch.optim.Optimizer):
    """Centered RMSProp with ε inside the square root, as TensorFlow and optax compute it:

        m_t = ρ m_{t-1} + (1 - ρ) g_t                 running mean of the gradient
        v_t = ρ v_{t-1} + (1 - ρ) g_t²                running mean of its square
        θ_t = θ_{t-1} - lr g_t / sqrt(v_t - m_t² + ε)

    Graves (2013), eqs. 38-41, without momentum; TensorFlow's ApplyCenteredRMSProp and
    `optax.rmsprop(centered=True)`, which Dopamine's DQN uses (decay 0.95, ε 1e-5). m and v start
    at 0 as in optax (TF1's RMSPropOptimizer starts v at 1). With ε = 0.01 it is the RMSProp of
    DeepMind's Nature DQN, whose "min squared gradient" is this ε.

    Not PyTorch's `RMSprop(centered=True)`, which divides by sqrt(v - m²) + ε: under a steady
    gradient the variance v - m² goes to 0, and its steps grow to about lr g / ε. For 200 steps
    of a constant gradient 1e-3 at lr 2.5e-4, ε 1e-5, a parameter moves 0.0158 here and 0.970 there.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float, decay: float = 0.95, eps: float = 1e-5) -> None:
        super().__init__(params, {"lr": lr, "decay": decay, "eps": eps})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        """One update of every parameter that has a gradient."""
        assert closure is None, "no closure: the learner computes the gradient before stepping"
        for group in self.param_groups:
            decay, eps, lr = group["decay"], group["eps"], group["lr"]
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                gradient = parameter.grad
                state = self.state[parameter]
                if not state:
                    state["grad_avg"] = torch.zeros_like(parameter)  # m
                    state["square_avg"] = torch.zeros_like(parameter)  # v
                grad_avg, square_avg = state["grad_avg"], state["square_avg"]
                grad_avg.mul_(decay).add_(gradient, alpha=1 - decay)
                square_avg.mul_(decay).addcmul_(gradient, gradient, value=1 - decay)
                denominator = square_avg.addcmul(grad_avg, grad_avg, value=-1).add_(eps).sqrt_()
                parameter.addcdiv_(gradient, denominator, value=-lr)


class RMSprop(torch.optim.Optimizer):
    """PyTorch's RMSprop without momentum or weight decay, ε added outside the square root, as
    `torch.optim.RMSprop` computes it (same operations, so the same bits; its state_dict loads):

        v_t = α v_{t-1} + (1 - α) g_t²,   m_t = α m_{t-1} + (1 - α) g_t   (m only when centered)
        θ_t = θ_{t-1} - lr g_t / (sqrt(v_t - m_t²) + ε)                   (v_t alone when not centered)

    Why not torch's own: its CPU `sqrt` takes a slow path on zeros and subnormals (MKL), and a
    network's dead units keep v - m² at exactly 0: from the state of the no-replay MinAtar run
    (40% dead), torch's step took 955 µs against 404 µs here (benchmarks/rmsprop_zeros.py). Here the
    root's argument is first raised to the smallest normal float (float32: 1.2e-38), whose root
    (1.1e-19) vanishes when ε is added: ε's half-ulp is 4e-16 at ε = 1e-8, so the sum rounds to
    the same float for every ε of at least 1e-11. Smaller ε keeps the exact zero.
    """

    def __init__(
        self, params: Iterable[torch.Tensor], lr: float, alpha: float = 0.99, eps: float = 1e-8, centered: bool = False
    ) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "centered": centered})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        """One update of every parameter that has a gradient."""
        assert closure is None, "no closure: the learner computes the gradient before stepping"
        for group in self.param_groups:
            alpha, eps, lr, centered = group["alpha"], group["eps"], group["lr"], group["centered"]
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                gradient = parameter.grad
                state = self.state[parameter]
                if not state:  # torch's keys, so that either optimizer's state_dict loads into the other
                    state["step"] = torch.tensor(0.0)
                    state["square_avg"] = torch.zeros_like(parameter)
                    if centered:
                        state["grad_avg"] = torch.zeros_like(parameter)
                state["step"] += 1
                square_avg = state["square_avg"]
                square_avg.mul_(alpha).addcmul_(gradient, gradient, value=1 - alpha)
                floor = torch.finfo(parameter.dtype).tiny if eps >= 1e-11 else 0.0
                if centered:
                    grad_avg = state["grad_avg"]
                    grad_avg.lerp_(gradient, 1 - alpha)
                    variance = square_avg.addcmul(grad_avg, grad_avg, value=-1).clamp_min_(floor)
                else:
                    variance = square_avg.clamp_min(floor)  # a new tensor: square_avg is state
                denominator = variance.sqrt_().add_(eps)
                parameter.addcdiv_(gradient, denominator, value=-lr)


OptimizerBuilder = Callable[[list[torch.Tensor], float, float | None], torch.optim.Optimizer]

# learning.optimizer -> builder of (params, lr, eps); eps None keeps the optimizer's default ε.
OPTIMIZERS: dict[str, OptimizerBuilder] = {
    # Fused Adam runs the whole update as one kernel: about 4x faster than the loop for small nets on CPU.
    "adam": lambda params, lr, eps: torch.optim.Adam(params, lr=lr, eps=1e-8 if eps is None else eps, fused=True),
    "rmsprop": lambda params, lr, eps: RMSprop(params, lr=lr, eps=1e-8 if eps is None else eps),
    # DeepMind's RMSProp for DQN as Dopamine sets it: centered, decay 0.95, ε 1e-5 under the root.
    "rmsprop_centered": lambda params, lr, eps: CenteredRMSprop(
        params, lr=lr, decay=0.95, eps=1e-5 if eps is None else eps
    ),
    # Young & Tian's MinAtar DQN (kenjyoung/MinAtar examples/dqn.py): PyTorch's RMSprop with α 0.95,
    # centered, ε 0.01 added to the standard deviation (outside the square root, PyTorch's semantics),
    # no momentum: dqn.py defines GRAD_MOMENTUM = 0.95 but never passes it to the optimizer.
    "rmsprop_minatar": lambda params, lr, eps: RMSprop(
        params, lr=lr, alpha=0.95, centered=True, eps=0.01 if eps is None else eps
    ),
    # Plain SGD on the "mse" loss 0.5*δ² with a fixed target is semi-gradient Q-learning,
    # θ <- θ + lr·δ·∇Q(s, a) (Sutton & Barto 2018, eq. 10.3): the update of linear and tabular Q.
    "sgd": lambda params, lr, eps: torch.optim.SGD(params, lr=lr),
}
