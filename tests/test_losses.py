"""Every loss: values and gradients against numbers worked out by hand."""

import math

import pytest
import torch
from torch import nn

from gan_runner import losses

L = torch.tensor([0.0, 2.0, -1.0])


def value_and_grad(fn, logits):
    x = logits.clone().requires_grad_(True)
    y = fn(x)
    y.backward()
    return y.item(), x.grad


def sig(v):
    return 1 / (1 + math.exp(-v))


def test_bce_halves():
    # -log σ(l) = log(1 + e^{-l}):  log 2, log(1 + e^-2), log(1 + e)
    v, g = value_and_grad(losses.bce_real, L)
    assert v == pytest.approx(
        (math.log(2) + math.log(1 + math.exp(-2)) + math.log(1 + math.e)) / 3, abs=1e-6
    )
    assert v == pytest.approx(0.711112, abs=1e-6)
    torch.testing.assert_close(g, torch.tensor([-(1 - sig(l)) / 3 for l in (0.0, 2.0, -1.0)]))
    # -log(1 - σ(l)) = log(1 + e^{l})
    v, g = value_and_grad(losses.bce_fake, L)
    assert v == pytest.approx(
        (math.log(2) + math.log(1 + math.exp(2)) + math.log(1 + math.exp(-1))) / 3, abs=1e-6
    )
    torch.testing.assert_close(g, torch.tensor([sig(l) / 3 for l in (0.0, 2.0, -1.0)]))


def test_minimax_is_the_saturating_game():
    loss = losses.minimax()
    # L_D = -log D(x) - log(1 - D(G(z))), both halves from the same logits here
    assert losses.d_loss(loss, nn.Identity(), L, L)[0].item() == pytest.approx(
        losses.bce_real(L).item() + losses.bce_fake(L).item()
    )
    # L_G = log(1 - D(G(z))) = -softplus(l):  -(log 2 + log(1 + e^2) + log(1 + e^-1)) / 3
    v, g = value_and_grad(loss.g, L)
    assert v == pytest.approx(
        -(math.log(2) + math.log(1 + math.exp(2)) + math.log(1 + math.exp(-1))) / 3, abs=1e-6
    )
    torch.testing.assert_close(g, torch.tensor([-sig(l) / 3 for l in (0.0, 2.0, -1.0)]))


def test_nonsaturating_generator():
    v, g = value_and_grad(losses.nonsaturating().g, L)
    assert v == pytest.approx(0.711112, abs=1e-6)  # -log D(G(z)), same numbers as bce_real
    torch.testing.assert_close(g, torch.tensor([-(1 - sig(l)) / 3 for l in (0.0, 2.0, -1.0)]))


def test_minimax_saturates_where_nonsaturating_does_not():
    # D confidently rejects the fakes (logit -6): the minimax gradient vanishes, the NS one does not.
    fake = torch.full((4,), -6.0)
    _, g_mm = value_and_grad(losses.minimax().g, fake)
    _, g_ns = value_and_grad(losses.nonsaturating().g, fake)
    # both push the logit up (descending L_G raises D(G(z))), minimax by σ(-6)/4 ≈ 6.2e-4 only
    torch.testing.assert_close(g_mm, torch.full((4,), -sig(-6.0) / 4))
    torch.testing.assert_close(g_ns, torch.full((4,), -(1 - sig(-6.0)) / 4))  # ≈ 0.2494


def test_lsgan():
    loss = losses.lsgan(a=-1.0, b=1.0, c=0.0)
    logits = torch.tensor([0.5, 2.0])
    v, g = value_and_grad(loss.d_real, logits)  # ½ mean((l - 1)²) = ½ (0.25 + 1) / 2
    assert v == pytest.approx(0.3125)
    torch.testing.assert_close(g, torch.tensor([-0.25, 0.5]))  # (l - b) / n
    v, g = value_and_grad(loss.d_fake, logits)  # ½ mean((l + 1)²) = ½ (2.25 + 9) / 2
    assert v == pytest.approx(2.8125)
    torch.testing.assert_close(g, torch.tensor([0.75, 1.5]))
    v, g = value_and_grad(loss.g, logits)  # ½ mean(l²) = ½ (0.25 + 4) / 2
    assert v == pytest.approx(1.0625)
    torch.testing.assert_close(g, torch.tensor([0.25, 1.0]))
    # default labels 0, 1, 1: D's optimum is D(x)=1 on real, 0 on fake -> zero loss there
    d = losses.lsgan(0.0, 1.0, 1.0)
    assert losses.d_loss(d, nn.Identity(), torch.ones(3), torch.zeros(3))[0].item() == 0.0


def test_hinge():
    loss = losses.hinge()
    logits = torch.tensor([0.5, 2.0, -3.0])
    v, g = value_and_grad(loss.d_real, logits)  # mean relu(1 - l) = (0.5 + 0 + 4) / 3
    assert v == pytest.approx(1.5)
    torch.testing.assert_close(g, torch.tensor([-1 / 3, 0.0, -1 / 3]))
    v, g = value_and_grad(loss.d_fake, logits)  # mean relu(1 + l) = (1.5 + 3 + 0) / 3
    assert v == pytest.approx(1.5)
    torch.testing.assert_close(g, torch.tensor([1 / 3, 1 / 3, 0.0]))
    v, g = value_and_grad(loss.g, logits)  # -mean l = -(0.5 + 2 - 3) / 3
    assert v == pytest.approx(1 / 6)
    torch.testing.assert_close(g, torch.full((3,), -1 / 3))


def test_losses_stay_finite_for_extreme_logits():
    big = torch.tensor([-1e4, 1e4])
    for loss in (losses.minimax(), losses.nonsaturating()):
        for fn in (loss.d_real, loss.d_fake, loss.g):
            v, g = value_and_grad(fn, big)
            assert math.isfinite(v) and torch.isfinite(g).all()


def test_wgan_gp_critic_and_generator_losses():
    loss = losses.wgan_gp(10.0)
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.5])
    # the critic's halves: -E D(x) and E D(G(z)); G: -E D(G(z))
    assert (
        loss.d_real(real).item() == -2.0
        and loss.d_fake(fake).item() == -0.25
        and loss.g(fake).item() == 0.25
    )


def test_gradient_penalty_of_a_linear_critic_by_hand():
    """D(x) = w·x + b has ∇ₓD = w everywhere: GP = λ(‖w‖ − 1)², ∂GP/∂w = 2λ(‖w‖ − 1) w/‖w‖."""
    D = nn.Linear(2, 1)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[3.0, 4.0]]))
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    gp = losses.gradient_penalty(lambda x: D(x).squeeze(1), real, fake, weight=10.0)
    assert gp.item() == pytest.approx(10 * (5 - 1) ** 2)  # 160
    gp.backward()
    torch.testing.assert_close(D.weight.grad, torch.tensor([[48.0, 64.0]]))  # 2·10·4·(3, 4)/5
    assert (
        D.bias.grad is None or D.bias.grad.abs().item() == 0.0
    )  # the penalty does not see the bias


def test_gradient_penalty_on_the_interpolates():
    """D(x) = ½‖x‖² has ∇ₓD = x̂ = εx + (1 − ε)x̃: with x = (2, 0), x̃ = 0, GP = λ(2ε − 1)² per sample,
    ε ~ U[0, 1] drawn per sample from the global RNG."""
    real, fake = torch.tensor([[2.0, 0.0]] * 4), torch.zeros(4, 2)
    torch.manual_seed(3)
    eps = torch.rand(4, 1)
    torch.manual_seed(3)
    gp = losses.gradient_penalty(lambda x: 0.5 * x.pow(2).sum(1), real, fake, weight=10.0)
    assert gp.item() == pytest.approx((10 * (2 * eps - 1).pow(2)).mean().item(), rel=1e-6)
    # d_loss adds the penalty to the critic's loss
    D = lambda x: 0.5 * x.pow(2).sum(1)  # noqa: E731
    torch.manual_seed(3)
    total, r, f = losses.d_loss(losses.wgan_gp(10.0), D, real, fake)
    assert total.item() == pytest.approx(f.mean().item() - r.mean().item() + gp.item(), rel=1e-6)
