"""The stabilisers' promises inside one iteration of the game, driven through `Game.iteration` (no run
directory): extragradient's two half-steps, Lookahead-Minmax's backtrack of batch-norm statistics,
and the unrolled discriminator's batches and statistics. The default ring nets have no batch norm,
so these players have it."""

import copy

import pytest
import torch
from torch import nn

from conftest import assert_same_tensors, make_cfg
from gan_runner.game import dataset, gan_game, players
from gan_runner.losses import d_loss

CPU = torch.device("cpu")


def bn_players(z_dim: int) -> tuple[nn.Module, nn.Module]:
    """Small ring G and D with batch norm in both."""
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(z_dim, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
    D = nn.Sequential(
        nn.Linear(2, 16), nn.BatchNorm1d(16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Flatten(0)
    )
    return G, D


def bn_game(*overrides: str):
    cfg = make_cfg("trainer.batch_size=16", *overrides)
    G, D = bn_players(cfg.model.z_dim)
    return gan_game(cfg, dataset(cfg, CPU), G, D, CPU)


def record_draws(objective) -> dict[str, list[torch.Tensor]]:
    """Every real batch and noise batch the objective draws from now on, in order."""
    drawn = {"real": [], "noise": []}
    sample, noise = objective.data.sample, objective.noise
    objective.data.sample = lambda n: drawn["real"].append(sample(n)) or drawn["real"][-1]
    objective.noise = lambda: drawn["noise"].append(noise()) or drawn["noise"][-1]
    return drawn


def bn_buffers(*modules: nn.Module) -> list[dict[str, torch.Tensor]]:
    return [{k: v.clone() for k, v in m.named_buffers()} for m in modules]


# --- extragradient ---------------------------------------------------------------------------


def test_extragradient_steps_adam_in_both_half_steps_and_takes_the_second_gradient_on_a_fresh_batch():
    # a large step, so that the gradients at θ and at θ' differ clearly
    cfg = make_cfg(
        "optimizer=extra_adam",
        "trainer.order=simultaneous",
        "trainer.batch_size=16",
        "optimizer.g.lr=0.01",
        "optimizer.d.lr=0.01",
    )
    game = gan_game(cfg, *players(cfg, CPU), CPU)
    G, D = (
        copy.deepcopy(game.G),
        copy.deepcopy(game.D),
    )  # the reference players, stepped by hand below
    drawn = record_draws(game.objective)
    game.iteration(1)
    # one minibatch per half-step, the second a fresh one
    assert len(drawn["real"]) == len(drawn["noise"]) == 2
    assert not torch.equal(drawn["real"][0], drawn["real"][1])
    assert not torch.equal(drawn["noise"][0], drawn["noise"][1])

    # Gidel et al.'s ExtraAdam by hand: Adam steps to θ' on batch 1, takes the gradient at θ' on
    # batch 2, and steps again from θ with it: one Adam per player, its state advanced by both steps
    loss, optimizers = game.objective.loss, []
    for player, opt_cfg in ((G, cfg.optimizer.g), (D, cfg.optimizer.d)):
        optimizers.append(
            torch.optim.Adam(
                player.parameters(), lr=opt_cfg.lr, betas=tuple(opt_cfg.betas), eps=opt_cfg.eps
            )
        )
    params = [*G.parameters(), *D.parameters()]
    theta = [p.detach().clone() for p in params]

    def gradients(x, z) -> list[torch.Tensor]:  # the simultaneous step's: both from one minibatch
        for p in params:
            p.grad = None
        loss_d, _, fake = d_loss(loss, D, x, G(z))
        loss_d.backward(inputs=list(D.parameters()), retain_graph=True)
        loss.g(fake).backward(inputs=list(G.parameters()))
        return [p.grad.clone() for p in params]

    def step() -> None:
        for opt in optimizers:
            opt.step()

    g1 = gradients(drawn["real"][0], drawn["noise"][0])
    step()
    g2 = gradients(drawn["real"][1], drawn["noise"][1])
    with torch.no_grad():
        for p, p0 in zip(params, theta):
            p.copy_(p0)
    step()

    in_game = [(p, game.opt_g, cfg.optimizer.g.betas) for p in game.G.parameters()]
    in_game += [(p, game.opt_d, cfg.optimizer.d.betas) for p in game.D.parameters()]
    for p, (p_game, opt, (beta1, beta2)), a, b in zip(params, in_game, g1, g2):
        state = opt.state[p_game]
        assert state["step"].item() == 2  # both half-steps went through the base optimizer
        torch.testing.assert_close(state["exp_avg"], beta1 * (1 - beta1) * a + (1 - beta1) * b)
        torch.testing.assert_close(
            state["exp_avg_sq"], beta2 * (1 - beta2) * a * a + (1 - beta2) * b * b
        )
        torch.testing.assert_close(
            p_game.detach(), p.detach()
        )  # θ + Adam's step with the gradient at θ'


# --- the lens ------------------------------------------------------------------------------


def test_d_sees_real_batches_through_the_lens_until_k_then_as_they_are():
    """A check of the lens's effect itself: its own training draws batches, so a run with a lens D
    never looked through would still differ from one without the lens."""
    K = 2
    cfg = make_cfg("lens=tempered", f"lens.K={K}", "trainer.batch_size=16")
    game = gan_game(cfg, *players(cfg, CPU), CPU)
    lens = game.objective.lens
    with torch.no_grad():
        for p in lens.net.parameters():
            p.add_(0.1)  # off the identity it starts as
    drawn = record_draws(game.objective)
    for step in range(1, K + 2):
        D, L, first = copy.deepcopy(game.D), copy.deepcopy(lens.net), len(drawn["real"])
        stats = game.iteration(step)
        x = drawn["real"][first]  # D's step draws first; the lens's own step after it
        with torch.no_grad():
            seen, lensed = D(x), D(L(x))
        assert not torch.allclose(seen, lensed)
        torch.testing.assert_close(
            stats["D/real"], lensed if step < K else seen
        )  # λ(K) = 0: dropped


# --- Lookahead-Minmax ------------------------------------------------------------------------


def test_lookahead_backtracks_batch_norm_statistics_and_keeps_the_optimizer_state():
    k, alpha = 3, 0.5
    game = bn_game(
        "optimizer=lookahead_minmax",
        f"optimizer.lookahead.k={k}",
        f"optimizer.lookahead.alpha={alpha}",
    )
    slow = [
        copy.deepcopy(m.state_dict()) for m in (game.G, game.D)
    ]  # the slow weights start as the players'
    seen = {}
    backtrack = game.lookahead.after_iteration

    def look_then_backtrack(
        step: int,
    ) -> None:  # what the fast players and optimizers hold just before
        seen[step] = (
            [copy.deepcopy(m.state_dict()) for m in (game.G, game.D)],
            [copy.deepcopy(o.state_dict()) for o in (game.opt_g, game.opt_d)],
        )
        backtrack(step)

    game.lookahead.after_iteration = look_then_backtrack
    for step in range(1, k + 1):
        game.iteration(step)
    fast, optimizers = seen[k]
    for player, slow_player, fast_then, slow_then in zip(
        (game.G, game.D), game.lookahead.slow, fast, slow
    ):
        assert not torch.equal(
            fast_then["1.running_mean"], slow_then["1.running_mean"]
        )  # training moved them
        for name, value in player.state_dict().items():
            if value.is_floating_point():  # weights and batch-norm statistics alike
                expected = slow_then[name] + alpha * (fast_then[name] - slow_then[name])
                torch.testing.assert_close(value, expected, rtol=0, atol=1e-7, msg=name)
                assert torch.equal(slow_player.state_dict()[name], value), (
                    name
                )  # fast restarts at slow
            else:  # num_batches_tracked counts forwards: not averaged
                assert torch.equal(value, fast_then[name]), name
    # the base optimizers carry on from where they were: nothing reset at the backtrack
    for opt, then in zip((game.opt_g, game.opt_d), optimizers):
        assert_same_tensors(opt.state_dict(), then)
        assert {s["step"].item() for s in opt.state.values()} == {k}
    game.iteration(k + 1)
    for opt in (game.opt_g, game.opt_d):
        assert {s["step"].item() for s in opt.state.values()} == {k + 1}


# --- unrolled GAN ----------------------------------------------------------------------------


@pytest.mark.parametrize("fresh", [True, False])
def test_unrolled_forwards_leave_batch_norm_alone_and_draw_the_configured_batches(fresh):
    K = 3
    game = bn_game(
        f"trainer.unroll_steps={K}", f"trainer.unroll_fresh_batches={str(fresh).lower()}"
    )
    drawn = record_draws(game.objective)
    game.iteration(1)
    # alternating, k = 1: D's step draws a real batch and noise, G's step its own noise; the unrolled
    # D^K draws a pair for each of its K steps, or one pair for all K
    pairs = K if fresh else 1
    assert (len(drawn["real"]), len(drawn["noise"])) == (1 + pairs, 2 + pairs)
    assert len({z.sum().item() for z in drawn["noise"]}) == len(
        drawn["noise"]
    )  # every draw a fresh one
    # each batch-norm layer counted the players' own forwards only: D's on the real and the fake
    # batch in its step (G's loss is taken against D^K, not D), G's in D's step and in its own; the
    # K unrolled steps' forwards would add 2K to D and K to G
    assert game.D[1].num_batches_tracked.item() == 2 and game.G[1].num_batches_tracked.item() == 2


@pytest.mark.parametrize("fresh", [True, False])
def test_the_unrolled_d_is_k_steps_of_ds_optimizer_on_the_configured_batches(fresh):
    """Read through the critic, D^K is a copy of D after K real optimizer steps on one pair (x, z)
    for all K steps (fresh_batches=false) or a new pair for each; neither player's statistics move."""
    K = 3
    game = bn_game(
        f"trainer.unroll_steps={K}", f"trainer.unroll_fresh_batches={str(fresh).lower()}"
    )
    game.iteration(1)  # D's optimizer now has moments for the unrolled steps to start from
    G, D, unroll = game.G, game.D, game.objective.unroll
    gen = torch.Generator().manual_seed(1)
    xs, zs = (
        torch.randn(K, 16, 2, generator=gen),
        torch.randn(K, 16, game.objective.z_dim, generator=gen),
    )
    calls = {"real": 0, "noise": 0}

    def draw(kind: str, batches: torch.Tensor):
        def next_batch() -> torch.Tensor:
            calls[kind] += 1
            return batches[calls[kind] - 1]

        return next_batch

    buffers = bn_buffers(G, D)
    probe = torch.randn(16, 2, generator=gen)
    unrolled = unroll.critic(G, draw("real", xs), draw("noise", zs))(probe)
    assert calls == {"real": K if fresh else 1, "noise": K if fresh else 1}
    assert_same_tensors(bn_buffers(G, D), buffers)  # the unrolled forwards moved no statistics

    D_K, G_copy = copy.deepcopy(D), copy.deepcopy(G)  # the real thing, on copies
    opt_K = torch.optim.Adam(D_K.parameters())
    opt_K.load_state_dict(game.opt_d.state_dict())  # D's optimizer: its settings and moments
    for k in range(K):
        i = k if fresh else 0
        opt_K.zero_grad()
        d_loss(game.objective.loss, D_K, xs[i], G_copy(zs[i]).detach())[0].backward()
        opt_K.step()
    torch.testing.assert_close(unrolled, D_K(probe))
