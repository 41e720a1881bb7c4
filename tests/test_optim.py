"""RMSProp: torch.optim.RMSprop's updates with a correctly rounded sqrt, a hand-computed step, state round trip, bad input."""

import math

import numpy as np
import pytest
import torch

from distral_repro.optim import RMSProp, exact_sqrt


def _params(seed: int):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(3, 4, generator=g)), torch.nn.Parameter(torch.randn(5, generator=g))]


def test_first_step_by_hand():
    """square_avg = (1 - alpha) g^2, so p moves by lr * g / (sqrt(1 - alpha) |g| + eps)."""
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = RMSProp([p], lr=0.1, alpha=0.99, eps=1e-5)
    p.grad = torch.tensor([0.5, -4.0])
    opt.step()
    expected = [1.0 - 0.1 * 0.5 / (math.sqrt(0.01 * 0.25) + 1e-5), -2.0 + 0.1 * 4.0 / (math.sqrt(0.01 * 16) + 1e-5)]
    assert p.detach().tolist() == pytest.approx(expected, abs=1e-6)


def test_exact_sqrt_is_correctly_rounded():
    """Against the float64 root rounded to float32, for 8,192 values spanning many binades."""
    x = torch.logspace(-12, 4, 8192, dtype=torch.float64).float()
    expected = torch.from_numpy(np.sqrt(x.double().numpy()).astype(np.float32))
    assert torch.equal(exact_sqrt(x), expected)
    assert exact_sqrt(x).dtype == torch.float32
    assert exact_sqrt(torch.tensor([0.0, 4.0, 2.25])).tolist() == [0.0, 2.0, 1.5]


def test_matches_torch_rmsprop():
    """torch's RMSprop up to its float32 sqrt's rounding; bit for bit once its sqrt is exact too."""
    mine, theirs = _params(0), _params(0)
    ours = RMSProp(mine, lr=4e-3, alpha=0.99, eps=1e-5)
    torch_opt = torch.optim.RMSprop(theirs, lr=4e-3, alpha=0.99, eps=1e-5)
    g = torch.Generator().manual_seed(1)
    for step in range(20):
        grads = [torch.randn(p.shape, generator=g) for p in mine]
        for params in (mine, theirs):
            for p, grad in zip(params, grads):
                p.grad = grad.clone()
        if step == 7:  # a parameter without a gradient is left alone by both
            mine[1].grad = theirs[1].grad = None
        ours.step()
        torch_opt.step()
        for a, b in zip(mine, theirs):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
            with torch.no_grad():
                b.copy_(a)  # keep the two on the same trajectory
        for ours_avg, group in zip(ours.square_avg, theirs):
            torch_opt.state[group]["square_avg"].copy_(ours_avg)


def test_step_is_the_formula_with_an_exact_root():
    p = torch.nn.Parameter(torch.tensor([0.3, -1.7, 2.9]))
    opt = RMSProp([p], lr=1e-2, alpha=0.9, eps=1e-5)
    grad = torch.tensor([0.123, -4.56, 7.89])
    p.grad = grad.clone()
    opt.step()
    square_avg = (1 - 0.9) * grad * grad
    expected = torch.tensor([0.3, -1.7, 2.9]).addcdiv(grad, exact_sqrt(square_avg) + 1e-5, value=-1e-2)
    assert torch.equal(p.detach(), expected)


def test_state_dict_round_trip_continues_identically():
    a, b = _params(2), _params(2)
    opt_a = RMSProp(a, lr=1e-2)
    for p in a:
        p.grad = torch.ones_like(p)
    opt_a.step()
    opt_b = RMSProp(b, lr=1e-2)
    with torch.no_grad():
        for p, q in zip(b, a):
            p.copy_(q)
    opt_b.load_state_dict(opt_a.state_dict())
    for opt, params in ((opt_a, a), (opt_b, b)):
        for p in params:
            p.grad = torch.full_like(p, 0.3)
        opt.step()
    assert all(torch.equal(p, q) for p, q in zip(a, b)) and opt_b.steps == 2
    with pytest.raises(ValueError, match="does not match"):
        RMSProp(_params(3)[:1], lr=1e-2).load_state_dict(opt_a.state_dict())


@pytest.mark.parametrize("kwargs, match", [({"lr": 0.0}, "lr"), ({"lr": 1e-3, "alpha": 1.0}, "alpha"), ({"lr": 1e-3, "eps": 0.0}, "eps")])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RMSProp(_params(0), **kwargs)
