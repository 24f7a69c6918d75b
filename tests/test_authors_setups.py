"""The options that make a preset the authors' setup, each against the authors' formula on a small
net: Goodfellow et al.'s init and uniform noise, the lens's per-pixel reconstruction, the EMA of the
fast G read before Lookahead's backtrack, G evaluated in train mode, Lookahead's lazy slow copy; and
the dynamics they give: a Goodfellow minimax run whose D(G(z)) is still above 0.1 at step 50, a
tempered lens that moves real images within 300 iterations."""

import json
import math

import pytest
import torch
from torch import nn

from conftest import make_cfg, run_cli
from fixtures import make_mnist
from gan_runner import losses
from gan_runner.data.digits import write as write_digits
from gan_runner.evaluation import Evaluator
from gan_runner.game import players
from gan_runner.models import noise
from gan_runner.stabilisers.lens import TemperedLens
from gan_runner.trainer import train


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    return root, make_mnist(root, n_train=200, n_test=100)


def test_the_goodfellow_init_is_pylearn2s(mnist_root):
    """Weights U(±irange) per player, biases zero, G's output bias logit(clip(pixel mean, 1e-7))
    (goodfeli/adversarial mnist.yaml; pylearn2's init_sigmoid_bias_from_marginals)."""
    root, written = mnist_root
    torch.manual_seed(0)
    _, G, D = players(
        make_cfg("+experiment=goodfellow/mnist", f"dataset.root={root}"), torch.device("cpu")
    )
    for net, irange in ((G, 0.05), (D, 0.005)):
        layers = [m for m in net.modules() if isinstance(m, nn.Linear)]
        assert layers and all(m.weight.abs().max() <= irange for m in layers)
        assert all(
            m.weight.abs().max() > 0.9 * irange for m in layers
        )  # uniform over the whole range
        assert all(
            m.weight.std().item() == pytest.approx(irange / math.sqrt(3), rel=0.05) for m in layers
        )
    *hidden, out = [m for m in G.modules() if isinstance(m, nn.Linear)]
    assert all(
        torch.equal(m.bias, torch.zeros_like(m.bias))
        for m in [*hidden, *(m for m in D.modules() if isinstance(m, nn.Linear))]
    )
    mean = (
        torch.from_numpy(written["train"][0])
        .double()
        .div(255)
        .mean(0)
        .flatten()
        .clamp(1e-7, 1 - 1e-7)
    )
    torch.testing.assert_close(
        out.bias.double(), torch.log(mean / (1 - mean)), atol=1e-4, rtol=1e-5
    )
    assert (mean == 1e-7).any()  # the fixture's border pixels are always 0: the clip is exercised


def test_uniform_noise_has_unit_variance_in_its_range():
    z = noise(200_000, 4, "uniform", generator=torch.Generator().manual_seed(0))
    assert z.abs().max() <= math.sqrt(3) and z.abs().max() > 1.7
    assert z.mean().item() == pytest.approx(0, abs=0.01) and z.var().item() == pytest.approx(
        1, abs=0.01
    )
    assert noise(3, 4, "normal", generator=torch.Generator().manual_seed(0)).equal(
        torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    )


def _lens_step(reduction: str) -> list[torch.Tensor]:
    """The lens's gradient after one step against a D that ignores its input (L_adv has no gradient):
    what is left is w·∂L_rec."""
    torch.manual_seed(0)
    lens = TemperedLens(
        100,
        1.0,
        hidden=8,
        depth=2,
        optimizer=lambda p: torch.optim.SGD(p, lr=0.0),
        data_shape=(1, 8, 8),
        loss=losses.nonsaturating(),
        device=torch.device("cpu"),
        rec_reduction=reduction,
    )
    with torch.no_grad():
        for p in lens.net.parameters():
            p.normal_(0, 0.1)  # away from the identity, so L_rec has a gradient
    blind = nn.Sequential(nn.Flatten(), nn.Linear(64, 1))
    nn.init.zeros_(blind[1].weight)
    x = torch.rand(16, 1, 8, 8)
    stats = lens.train_step(1, blind, lambda: x)
    assert stats["lens/rec"] == pytest.approx(
        (x - lens.net(x)).pow(2).flatten(1).sum(1).mean().item(), rel=1e-5
    )
    return [p.grad.clone() for p in lens.net.parameters()]


def test_the_lens_reconstruction_as_a_per_pixel_mean():
    """lens.rec_reduction=mean: ‖x − L(x)‖² / (number of values), so its gradient is the summed one
    divided by 64 for 8×8 images; the logged lens/rec stays the summed ‖x − L(x)‖²."""
    for summed, mean in zip(_lens_step("sum"), _lens_step("mean")):
        torch.testing.assert_close(mean, summed / 64)


def _la_ema_run(tmp_path, follows: str, k: int = 3, beta: float = 0.5) -> dict:
    out = tmp_path / follows
    train(
        make_cfg(
            "trainer.steps=4",
            "trainer.eval_every=0",
            "trainer.sample_every=0",
            "trainer.ckpt_every=1",
            "optimizer=lookahead_minmax",
            f"optimizer.lookahead.k={k}",
            f"trainer.ema={beta}",
            f"trainer.ema_follows={follows}",
        ),
        out,
    )
    return torch.load(out / "checkpoints" / "last.pt", weights_only=True)


@pytest.mark.slow
def test_the_ema_follows_the_fast_generator_before_the_backtrack(tmp_path, monkeypatch):
    """trainer.ema_follows=fast: θ_ema ← β θ_ema + (1 − β) θ_fast every iteration, read before that
    iteration's Lookahead backtrack (the Lookahead-Minmax notebook's update_ema_gen, then its
    update_lookahead); slow: the slow G, after it."""
    from gan_runner.stabilisers.lookahead import LookaheadMinmax

    beta, k, seen = 0.5, 3, []  # the fast G's first weight as each backtrack finds it
    original = LookaheadMinmax.after_iteration

    def recording(self, step):
        seen.append(next(self.players[0].parameters()).detach().clone())
        original(self, step)

    monkeypatch.setattr(LookaheadMinmax, "after_iteration", recording)
    state = _la_ema_run(tmp_path, "fast", k, beta)
    expected = seen[0]
    for w in seen[1:]:
        expected = beta * expected + (1 - beta) * w
    torch.testing.assert_close(state["objects"]["ema"]["module.net.0.weight"], expected)
    monkeypatch.undo()
    slow = _la_ema_run(tmp_path, "slow", k, beta)["objects"]
    assert not torch.allclose(slow["ema"]["module.net.0.weight"], expected)


def test_the_lazy_lookahead_takes_its_slow_copy_at_the_first_backtrack(tmp_path):
    """optimizer.lookahead.lazy: until step k the slow weights follow the fast ones and the backtrack at
    k pulls nothing (the notebook's Lookahead creates its slow copy there); at 2k, slow + α(fast − slow)."""
    from gan_runner.stabilisers.lookahead import lookahead

    fast = nn.Linear(2, 1)
    la = lookahead([fast], k=2, alpha=0.5, lazy=True)
    weights = []
    for step in range(1, 5):
        with torch.no_grad():
            fast.weight.add_(1.0)  # a "game step"
        weights.append(fast.weight.detach().clone())
        la.after_iteration(step)
        if step <= 2:
            assert torch.equal(la.slow[0].weight, fast.weight) and torch.equal(
                fast.weight, weights[-1]
            )
    torch.testing.assert_close(la.slow[0].weight, weights[1] + 0.5 * (weights[3] - weights[1]))
    torch.testing.assert_close(fast.weight, la.slow[0].weight)
    eager = lookahead([nn.Linear(2, 1)], k=2, alpha=0.5)
    start = eager.slow[0].weight.detach().clone()
    with torch.no_grad():
        eager.players[0].weight.add_(1.0)
    eager.after_iteration(1), eager.after_iteration(2)
    torch.testing.assert_close(
        eager.slow[0].weight, start + 0.5
    )  # Algorithm 1: from the initial weights


def test_g_evaluated_in_train_mode_uses_each_batchs_statistics(tmp_path, mnist_root):
    """metrics.g_mode=train: each fid.batch_size batch of samples normalised by its own statistics, as
    the notebook samples its generators; batch norm's running statistics are left as they were."""
    root, _ = mnist_root
    cfg = make_cfg(
        "dataset=mnist",
        f"dataset.root={root}",
        "model=dcgan28",
        "model.g_width=4",
        "model.d_width=4",
        "metrics.names=[]",
        "metrics.g_mode=train",
        "metrics.n_samples=64",
        "metrics.fid.batch_size=32",
    )
    data, G, D = players(cfg, torch.device("cpu"))
    evaluator = Evaluator(cfg, data, torch.device("cpu"))
    with torch.no_grad():
        G.train()
        for _ in range(3):  # running statistics away from their start
            G(torch.randn(32, 128))
    running = {k: v.clone() for k, v in G.state_dict().items()}
    samples = evaluator.samples(G)
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in running.items())
    with torch.no_grad():
        by_batch = torch.cat([G(z) for z in evaluator.z[:64].split(32)])
    G.load_state_dict(running)
    torch.testing.assert_close(samples, by_batch)
    G.eval()
    with torch.no_grad():
        assert not torch.allclose(samples, G(evaluator.z[:64]))  # not eval mode's


@pytest.mark.slow
def test_goodfellows_init_keeps_d_unconfident_early(tmp_path):
    """With the authors' init a minimax run's D(G(z)) is still above 0.1 at step 50 (D starts at
    ±0.005 weights); with torch's default init D is confident at once (the collapse the old preset had)."""
    write_digits(tmp_path / "digits")

    def d_fake(*extra: str) -> float:
        out = tmp_path / f"run{len(extra)}"
        run_cli(
            "+experiment=goodfellow_saturation",
            "loss=minimax",
            f"dataset.root={tmp_path / 'digits'}",
            "trainer.steps=50",
            "trainer.eval_every=50",
            "trainer.sample_every=0",
            "trainer.ckpt_every=0",
            "metrics.names=[saturation]",
            f"hydra.run.dir={out}",
            *extra,
            cwd=tmp_path,
            check=True,
        )
        return json.loads((out / "results.json").read_text())["final"]["d_fake"]

    assert d_fake() > 0.1
    assert d_fake("model.init=default") < 0.1


@pytest.mark.slow
def test_the_tempered_lens_moves_real_images_within_300_iterations(tmp_path):
    """tempered_mnist's lens (K = 10^5, L_rec a per-pixel mean): ‖x − L(x)‖² above 2 (1% of the digits'
    variance) at some evaluation within 300 iterations; summed over the pixels it stays near the identity."""
    write_digits(tmp_path / "digits")

    def rec(*extra: str) -> float:
        out = tmp_path / f"run{len(extra)}"
        run_cli(
            "+experiment=tempered_mnist",
            "+experiment/tempered_mnist=dcgan",
            "+experiment/lens=tempered",
            f"dataset.root={tmp_path / 'digits'}",
            "model.width=8",
            "trainer.batch_size=32",
            "trainer.steps=300",
            "trainer.eval_every=100",
            "trainer.sample_every=0",
            "trainer.ckpt_every=0",
            "metrics.names=[]",
            f"hydra.run.dir={out}",
            *extra,
            cwd=tmp_path,
            check=True,
        )
        return max(
            e["train_lens_rec"] for e in json.loads((out / "results.json").read_text())["history"]
        )

    assert rec() > 2
    assert rec("lens.rec_reduction=sum") < 2
