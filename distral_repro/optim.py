"""RMSProp as A3C uses it (no momentum, not centred), in a few lines of torch.

Why not ``torch.optim.RMSprop``: every ``torch.optim`` optimiser imports ``torch._dynamo``
when it is built (``torch._compile._disable_dynamo``), about 1.7 s per process here. A grid
job trains for 7-15 s, so that import alone cost about 10% of the 756-job grid. This class
performs exactly the operations of torch's single-tensor RMSProp
(``square_avg = alpha * square_avg + (1 - alpha) g^2``; ``p -= lr g / (sqrt(square_avg) + eps)``),
with one difference: the square root is correctly rounded (:func:`exact_sqrt`). torch's float32
``sqrt`` is not (52 of 8,192 values off by one unit in the last place here), and which values
it misses depends on the CPU's approximate instructions, so runs drifted apart between CPU types
(``numerics``). ``tests/test_optim.py`` checks the updates against torch's RMSprop.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn


def exact_sqrt(x: Tensor) -> Tensor:
    """The correctly rounded square root of a float32 tensor, the same on every CPU.

    Computed in float64 (IEEE square root, exact) and rounded once to float32: rounding a
    correctly rounded float64 square root to float32 gives the correctly rounded float32 one
    (53 >= 2 * 24 + 2 bits).
    """
    return x.double().sqrt_().to(x.dtype)


#: Where the running average of squared gradients starts: at zero (torch's RMSprop), or at the
#: first gradient's square (``first``).
SQUARE_STARTS = ("zero", "first")


def warmup_factor(step: int, warmup: int) -> float:
    """The learning rate's share at update ``step`` (0-based) of a linear warm-up over ``warmup``
    updates: ``min(1, (step + 1) / warmup)``; 1 without warm-up (``warmup`` 0)."""
    return 1.0 if warmup <= 0 else min(1.0, (step + 1) / warmup)


class RMSProp:
    """Non-centred RMSProp without momentum or weight decay.

    Args:
        params: the parameters to update (their ``.grad`` is read by :meth:`step`).
        lr: learning rate (> 0).
        alpha: decay of the running average of squared gradients, in [0, 1).
        eps: added to the root of that average (> 0).
        square_start: "zero" (torch's: the first step divides g by sqrt(1 - alpha) |g|, so
            every weight moves by about lr / sqrt(1 - alpha) = 10 lr at alpha 0.99), or "first"
            (the average starts at the first gradient's square: the first step is about lr).
        warmup: the learning rate rises linearly over this many updates (0: none).
    """

    def __init__(self, params: Iterable[nn.Parameter], lr: float, alpha: float = 0.99, eps: float = 1e-8,
                 square_start: str = "zero", warmup: int = 0):
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        if not 0 <= alpha < 1:
            raise ValueError(f"alpha must lie in [0, 1), got {alpha!r}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        if square_start not in SQUARE_STARTS:
            raise ValueError(f"square_start must be one of {', '.join(SQUARE_STARTS)}, got {square_start!r}")
        if not (isinstance(warmup, int) and warmup >= 0):
            raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")
        self.params = list(params)
        self.lr, self.alpha, self.eps = float(lr), float(alpha), float(eps)
        self.square_start, self.warmup = square_start, warmup
        self.square_avg = [torch.zeros_like(p) for p in self.params]
        self.started = [False] * len(self.params)  # has the parameter had a gradient yet
        self.steps = 0

    def zero_grad(self) -> None:
        """Drop every gradient (the next backward writes fresh ones)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        lr = self.lr * warmup_factor(self.steps, self.warmup)
        for i, (p, square_avg) in enumerate(zip(self.params, self.square_avg)):
            if p.grad is None:
                continue
            grad = p.grad
            if self.square_start == "first" and not self.started[i]:
                square_avg.copy_(grad * grad)
            else:
                square_avg.mul_(self.alpha).addcmul_(grad, grad, value=1 - self.alpha)
            self.started[i] = True
            p.addcdiv_(grad, exact_sqrt(square_avg).add_(self.eps), value=-lr)
        self.steps += 1

    def state_dict(self) -> dict:
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps, "steps": self.steps,
                "square_start": self.square_start, "warmup": self.warmup, "started": list(self.started),
                "square_avg": [s.clone() for s in self.square_avg]}

    def load_state_dict(self, state: dict) -> None:
        saved: list[Tensor] = state["square_avg"]
        if len(saved) != len(self.square_avg) or any(a.shape != b.shape for a, b in zip(saved, self.square_avg)):
            raise ValueError("optimiser state does not match these parameters")
        self.lr, self.alpha, self.eps, self.steps = state["lr"], state["alpha"], state["eps"], state["steps"]
        self.square_start, self.warmup = state.get("square_start", "zero"), state.get("warmup", 0)
        self.started = list(state.get("started", [self.steps > 0] * len(self.params)))
        for mine, theirs in zip(self.square_avg, saved):
            mine.copy_(theirs)
