"""Unrolled GAN: G's gradient through K unrolled D updates, checked against finite differences."""

import copy

import pytest
import torch
from torch import nn

from gan_runner import losses
from gan_runner.errors import UserError
from gan_runner.stabilisers.unrolled import (
    NoUnroll,
    Unroller,
    flat_state,
    functional_step,
    unroller,
)


def tiny_players():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    D = nn.Sequential(nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, 1), nn.Flatten(0)).double()
    return G, D


def make_opt(kind, D):
    if kind == "adam":
        return torch.optim.Adam(D.parameters(), lr=0.05, betas=(0.5, 0.9), weight_decay=0.01)
    return torch.optim.SGD(D.parameters(), lr=0.3, momentum=0.7, nesterov=True, weight_decay=0.01)


def warm_up(D, opt, loss, real, fake):
    """A few real optimizer steps, so the unrolling starts from non-trivial moments/momentum."""
    for _ in range(3):
        opt.zero_grad()
        losses.d_loss(loss, D, real, fake)[0].backward()
        opt.step()


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_functional_step_is_the_optimizers_own_step(kind):
    G, D = tiny_players()
    opt, loss = make_opt(kind, D), losses.nonsaturating()
    real, fake = torch.randn(16, 2, dtype=torch.double), torch.randn(16, 2, dtype=torch.double)
    warm_up(D, opt, loss, real, fake)
    params = list(D.parameters())
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    opt.zero_grad()
    losses.d_loss(loss, D, real, fake)[0].backward()
    grad = torch.cat([p.grad.reshape(-1) for p in params])
    new, _ = functional_step(opt, flat, grad, flat_state(opt, params), 0)
    opt.step()
    torch.testing.assert_close(
        new, torch.cat([p.detach().reshape(-1) for p in params]), rtol=1e-12, atol=1e-14
    )


def unrolled_loss(G, D, opt, loss, K, second_order, batches, z_g):
    it = iter(batches)
    pairs = iter([next(it) for _ in range(K)])
    current = {}

    def real():
        current["pair"] = next(pairs)
        return current["pair"][0]

    def noise():
        return current["pair"][1]

    torch.manual_seed(5)  # the same penalty interpolates ε in every evaluation
    critic = Unroller(D, opt, loss, K, second_order, fresh_batches=True).critic(G, real, noise)
    return loss.g(critic(G(z_g)))


@pytest.mark.parametrize("kind", ["adam", "sgd"])
@pytest.mark.parametrize("K", [1, 2])
@pytest.mark.parametrize("objective", ["nonsaturating", "wgan_gp"])
def test_g_gradient_matches_central_finite_differences(kind, K, objective):
    """With WGAN-GP the unrolled D steps carry the gradient penalty, differentiated through (a third
    derivative): G's gradient must still be the true one."""
    G, D = tiny_players()
    opt, loss = (
        make_opt(kind, D),
        (losses.nonsaturating() if objective == "nonsaturating" else losses.wgan_gp(1.0)),
    )
    gen = torch.Generator().manual_seed(1)
    batches = [
        (
            torch.randn(8, 2, generator=gen, dtype=torch.double),
            torch.randn(8, 3, generator=gen, dtype=torch.double),
        )
        for _ in range(K)
    ]
    z_g = torch.randn(8, 3, generator=gen, dtype=torch.double)
    warm_up(D, opt, loss, batches[0][0], G(batches[0][1]).detach())
    D_before, state_before = copy.deepcopy(D.state_dict()), copy.deepcopy(opt.state_dict())

    G.zero_grad()
    D.zero_grad(set_to_none=True)
    unrolled_loss(G, D, opt, loss, K, True, batches, z_g).backward(
        inputs=list(G.parameters())
    )  # as the trainer
    analytic = torch.cat([p.grad.flatten() for p in G.parameters()])
    assert all(p.grad is None for p in D.parameters())  # G's loss leaves D's gradients alone
    assert D.state_dict().keys() == D_before.keys() and all(
        torch.equal(D.state_dict()[k], v) for k, v in D_before.items()
    )
    assert opt.state_dict()["state"].keys() == state_before["state"].keys()

    h, numeric = 1e-6, []
    with torch.no_grad():
        for p in G.parameters():
            flat = p.view(-1)
            for i in range(flat.numel()):
                values = []
                for sign in (1, -1):
                    flat[i] += sign * h
                    with torch.enable_grad():
                        values.append(unrolled_loss(G, D, opt, loss, K, True, batches, z_g).item())
                    flat[i] -= sign * h
                numeric.append((values[0] - values[1]) / (2 * h))
    torch.testing.assert_close(
        analytic, torch.tensor(numeric, dtype=torch.double), rtol=1e-5, atol=1e-8
    )


def test_unrolled_d_is_k_steps_of_ds_own_optimizer():
    """D^K, read through the critic, is D after K real optimizer steps on the same batches."""
    for kind in ("adam", "sgd"):
        G, D = tiny_players()
        opt, loss = make_opt(kind, D), losses.nonsaturating()
        gen = torch.Generator().manual_seed(3)
        batches = [
            (
                torch.randn(8, 2, generator=gen, dtype=torch.double),
                torch.randn(8, 3, generator=gen, dtype=torch.double),
            )
            for _ in range(3)
        ]
        warm_up(D, opt, loss, batches[0][0], G(batches[0][1]).detach())
        probe = torch.randn(5, 2, generator=gen, dtype=torch.double)
        pairs = iter(batches)
        current = {}
        critic = Unroller(D, opt, loss, 3, True, True).critic(
            G, lambda: current.setdefault("p", next(pairs))[0], lambda: current.pop("p")[1]
        )
        unrolled = critic(probe)
        for x, z in batches:  # the real thing
            opt.zero_grad()
            losses.d_loss(loss, D, x, G(z).detach())[0].backward()
            opt.step()
        torch.testing.assert_close(unrolled, D(probe), rtol=1e-12, atol=1e-12)


def test_first_order_holds_d_k_fixed_and_differs_from_second_order():
    G, D = tiny_players()
    opt, loss = make_opt("adam", D), losses.nonsaturating()
    gen = torch.Generator().manual_seed(2)
    batches = [
        (
            torch.randn(8, 2, generator=gen, dtype=torch.double),
            torch.randn(8, 3, generator=gen, dtype=torch.double),
        )
        for _ in range(3)
    ]
    z_g = torch.randn(8, 3, generator=gen, dtype=torch.double)
    warm_up(D, opt, loss, batches[0][0], G(batches[0][1]).detach())
    grads = {}
    for second_order in (True, False):
        G.zero_grad()
        unrolled_loss(G, D, opt, loss, 3, second_order, batches, z_g).backward(
            inputs=list(G.parameters())
        )
        grads[second_order] = torch.cat([p.grad.flatten() for p in G.parameters()])
    assert (grads[True] - grads[False]).norm() > 1e-3 * grads[True].norm()
    # first order: the plain gradient of f(θG, D^K) with D^K a constant, here a real copy of D^K
    D_K = copy.deepcopy(D)
    opt_K = make_opt("adam", D_K)
    opt_K.load_state_dict(opt.state_dict())
    for x, z in batches:
        opt_K.zero_grad()
        losses.d_loss(loss, D_K, x, G(z).detach())[0].backward()
        opt_K.step()
    G.zero_grad()
    loss.g(D_K(G(z_g))).backward(inputs=list(G.parameters()))
    torch.testing.assert_close(grads[False], torch.cat([p.grad.flatten() for p in G.parameters()]))
    assert isinstance(unroller(D, opt, loss, 0, True, True), NoUnroll)  # K = 0: the plain GAN


def test_unrolling_needs_adam_or_sgd():
    G, D = tiny_players()
    with pytest.raises(UserError, match="optimizer=adam or optimizer=sgd"):
        Unroller(D, torch.optim.RMSprop(D.parameters()), losses.minimax(), 2, True, True)


def test_a_gradient_penalty_through_batch_norm_is_refused_clearly():
    """Unrolling differentiates the penalty of each unrolled step again: torch's batch norm has no
    third derivative, so that pairing is refused before training, with the ways out."""
    D = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 1), nn.Flatten(0))
    opt = torch.optim.Adam(D.parameters())
    with pytest.raises(
        UserError, match="third derivative.*d_batchnorm=false.*unroll_second_order=false"
    ):
        unroller(D, opt, losses.wgan_gp(10.0), 2, True, True)
    assert isinstance(
        unroller(D, opt, losses.wgan_gp(10.0), 2, False, True), Unroller
    )  # first order: no third
    assert isinstance(unroller(D, opt, losses.nonsaturating(), 2, True, True), Unroller)
