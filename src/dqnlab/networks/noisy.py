"""Noisy linear layers: exploration by learned, state-dependent weight noise (Fortunato et al. 2018)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Up to this many input rows (acting, and a batch of 32) a noisy layer never forms its [out, in]
# noisy weight matrix. With MinAtar Rainbow's 1600 -> 306 layer on one core, forming it made a
# batch-1 forward 7 ms against 0.23 ms for the factorized product; at 32 rows the factorized
# product still took 0.62 against 0.90 ms without gradients, 1.3 against 1.8 ms forward and
# backward; at 64 rows the two were level (2026-12-06, benchmarks/noisy_rows.py).
FACTORIZED_MAX_ROWS = 32


def factorized_rows(x: torch.Tensor) -> bool:
    """Whether `x` [..., in] has few enough rows for the factorized noisy product."""
    return x.numel() <= FACTORIZED_MAX_ROWS * x.shape[-1]


class NoisyLinear(nn.Module):
    """y = (mu_w + sigma_w * eps_w) x + mu_b + sigma_b * eps_b, with factorized Gaussian noise.

    Factorized (section 3.2 of the paper): eps_w = f(eps_out) f(eps_in)^T is an outer product
    of out + in samples, not out * in independent ones, and eps_b = f(eps_out). Initialization
    as in section 3.2: mu ~ U[-1/sqrt(p), 1/sqrt(p)], sigma = sigma0 / sqrt(p), p = inputs.

    The noise is held fixed until `reset_noise()` draws a new sample; in eval mode
    (`module.eval()`) the layer uses its mean weights mu. For up to FACTORIZED_MAX_ROWS rows (acting,
    a batch of 32) the noisy part is computed without forming eps_w:
    (sigma_w * eps_out eps_in^T) x = eps_out * (sigma_w (eps_in * x)).
    """

    epsilon: torch.Tensor  # [in + out] buffer: f(eps_in) then f(eps_out)

    def __init__(self, in_features: int, out_features: int, sigma0: float = 0.5) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.weight_sigma = nn.Parameter(torch.full((out_features, in_features), sigma0 * bound))
        self.bias_mu = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        self.bias_sigma = nn.Parameter(torch.full((out_features,), sigma0 * bound))
        # f(eps_in) and f(eps_out) side by side in one buffer, so a new sample is one draw
        self.register_buffer("epsilon", torch.zeros(in_features + out_features))
        self.reset_noise()

    @property
    def epsilon_in(self) -> torch.Tensor:
        return self.epsilon[: self.in_features]

    @property
    def epsilon_out(self) -> torch.Tensor:
        return self.epsilon[self.in_features :]

    @torch.no_grad()
    def reset_noise(self, generator: torch.Generator | None = None) -> None:
        """Draws new factorized noise: in + out Gaussian samples x, stored as f(x) = sgn(x) sqrt(|x|) (eq. 11).

        From `generator` when given (drawn on its device, then moved), else from torch's global one.
        """
        device = self.epsilon.device if generator is None else generator.device
        x = torch.randn(self.epsilon.shape, generator=generator, device=device).to(self.epsilon.device)
        torch.mul(x.sign(), x.abs().sqrt_(), out=self.epsilon)

    def weight_noise(self) -> torch.Tensor:
        """eps_w [out, in], the rank-one outer product f(eps_out) f(eps_in)^T."""
        return torch.outer(self.epsilon_out, self.epsilon_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.linear(x, self.weight_mu, self.bias_mu)
        if factorized_rows(x):
            noise = F.linear(x * self.epsilon_in, self.weight_sigma, self.bias_sigma)
            return F.linear(x, self.weight_mu, self.bias_mu) + self.epsilon_out * noise
        weight = self.weight_mu + self.weight_sigma * self.weight_noise()
        bias = self.bias_mu + self.bias_sigma * self.epsilon_out
        return F.linear(x, weight, bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"
