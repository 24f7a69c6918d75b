"""What a run measures while it trains (and `gan-runner-eval` afterwards): samples from fixed noise
and the configured metrics on them.

`metrics.names=[auto]` follows the dataset's kind (metrics.METRICS says which): the mixtures get
mode metrics; MNIST and Fashion-MNIST classifier FID and IS; stacked MNIST its 1000-mode count and
KL; CIFAR-10, SVHN and image folders Inception FID and IS. Everything slow (training the classifier, the reference statistics) happens
once, when the Evaluator is built, before training starts, and is cached on disk for later runs.

The noise comes from its own seeded generator, so evaluating never moves the training RNG: a run
evaluated at other steps, or resumed, trains on exactly the same numbers.
"""

import functools
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from .config.rules import dataset_kind
from .data.images import IndexedImages, torchvision_images
from .errors import UserError, first_line
from .metrics import FEATURES, METRIC_OF, METRICS, NO_EMA, cache, needed, resolve
from .metrics.frechet import frechet_distance, statistics
from .metrics.inception_score import SPLITS, inception_score
from .metrics.kid import kid
from .metrics.manifold import manifold, radii
from .metrics.modes import mode_metrics, stacked_modes
from .metrics.parzen import parzen
from .metrics.saturation import saturation
from .metrics.spread import spread
from .models import noise


def labelled_splits(dataset_cfg, device: torch.device) -> tuple[IndexedImages, IndexedImages, str]:
    """The (train, test) data a classifier for this dataset learns and is scored on, and its name.
    Stacked MNIST is classified channel by channel by the MNIST classifier."""
    if dataset_kind(dataset_cfg) not in ("digits", "photos", "stacked_digits"):
        raise UserError(
            "The classifier metrics (fid_classifier, is_classifier, stacked_modes) need labelled "
            "data (mnist, fashion_mnist, cifar10, svhn, stacked_mnist); use fid_inception for "
            "an image folder."
        )
    name = dataset_cfg.get("name", "mnist")
    common = dict(
        name=name,
        root=dataset_cfg.root,
        download=dataset_cfg.download,
        range=[0.0, 1.0],
        resolution=dataset_cfg.resolution,
        device=device,
    )
    return (
        torchvision_images(split="train", **common),
        torchvision_images(split="test", **common),
        name,
    )


def evaluated_generator(
    path: Path, model_cfg, device: torch.device
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The generator a checkpoint's run evaluates (its EMA, or Lookahead's slow G, when on), built
    from `model_cfg` for the run's data shape, in eval mode on `device`; and the checkpoint's meta."""
    from .checkpoint import read
    from .models import build

    meta = read(path)["meta"]
    try:
        g, _ = build(model_cfg, tuple(meta["data_shape"]))
        g.load_state_dict(meta["evaluated_G"])
    except (
        RuntimeError,
        KeyError,
        TypeError,
        ValueError,
    ) as e:  # Hydra's wrapper included: a RuntimeError
        raise UserError(
            f"The generator in {path} does not fit the model config "
            f"({first_line(e)}): "
            "evaluate a run with its own model settings."
        ) from None
    return g.to(device).eval(), meta


def weights_sha256(net: nn.Module) -> str:
    """SHA-256 of a feature network's weights: of its file (`net.path`: `sha256sum FILE` gives the
    same), or of its tensors, by name, when it has none (a classifier the runner trained)."""
    digest = hashlib.sha256()
    if getattr(net, "path", None) is not None:
        with open(net.path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    else:
        for name, t in net.state_dict().items():
            digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
            digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# what the values of each kind of metric are computed on (protocol_of), besides the feature network
SAMPLES = "G's output on fixed noise, floats (no quantisation)"
FILES = "8-bit image files (PNG/JPEG), unresized, in a seeded shuffle"  # gan-runner-eval --images


class Evaluator:
    def __init__(self, cfg: DictConfig, data, device: torch.device, files: bool = False):
        """`files`: the samples evaluated are image files (gan-runner-eval --images), not G's."""
        m = cfg.metrics
        kind = dataset_kind(cfg.dataset)
        self.names = resolve(m.names, kind)
        self.cfg, self.dataset_cfg, self.data, self.device = m, cfg.dataset, data, device
        n = max(m.n_samples, m.stacked_n_samples if "stacked_modes" in self.names else 0)
        gen = torch.Generator(device).manual_seed(cfg.trainer.seed)
        self.z = noise(n, cfg.model.z_dim, cfg.model.noise, device, gen)
        self.cache_dir = Path(m.cache_dir).expanduser()
        self.networks: dict[
            str, nn.Module
        ] = {}  # "classifier" / "inception": .embed([0, 1] images) -> features, logits
        self.reference: dict[
            str, tuple[np.ndarray, np.ndarray]
        ] = {}  # network -> real mean, covariance
        self.reference_features: dict[str, np.ndarray] = {}  # network -> KID's and PRC's real ones
        self.radii: dict[str, dict] = {}  # network -> the real features' k-NN radii (PRC)
        self.network_protocol: dict[str, dict] = {}  # network -> how it sees images (protocol_of)
        self.files = files
        self.info: dict[str, float] = {}  # e.g. the classifier's test accuracy, for the log
        self.floor: dict = {}  # the data's own baselines, computed at the first evaluation that reports them
        for network in sorted({"classifier", "inception"} & needed(self.names, kind)):
            self._prepare(network, cfg.dataset)
        if "spread" in self.names:
            self.info["data_spread"] = self.data_spread = spread(self._real(m.n_samples))
        if "modes" in self.names:  # what `modes 3/8` counts out of
            self.info["modes_total"] = len(data.centers)

    def _prepare(self, kind: str, dataset_cfg: DictConfig) -> None:
        if kind == "classifier":
            from .metrics.classifier import classifier

            splits = labelled_splits(dataset_cfg, self.device)
            model, accuracy, network_key = classifier(
                splits, self.cfg.classifier, self.cache_dir, self.device
            )
            self.networks[kind], self.info["classifier_accuracy"] = model, accuracy
        else:
            from .metrics.inception import network

            self.networks[kind] = network(self.cfg.fid).to(self.device).eval()
            # another backend's statistics differ for the same images (resized and scaled its own way)
            network_key = {
                "inception": hashlib.sha1(self.networks[kind].path.read_bytes()).hexdigest(),
                **(
                    {"backend": self.cfg.fid.backend}
                    if self.cfg.fid.backend != "pytorch_fid"
                    else {}
                ),
            }
        self.network_protocol[kind] = {
            **self.networks[kind].protocol(),
            "weights_sha256": weights_sha256(self.networks[kind]),
        }
        computes = {METRICS[n].compute for n in self.names if METRICS[n].needs == kind}
        if "fid" in computes:
            self.reference[kind] = self._reference_statistics(kind, network_key)
        if computes & {"kid", "prc"}:
            self._check_reference_size(computes)
            self.reference_features[kind] = self._reference_features(kind, network_key)

    def _reference_statistics(self, kind: str, network_key: dict) -> tuple[np.ndarray, np.ndarray]:
        """Feature statistics of the real data, from the cache or computed now."""
        limit = self.cfg.fid.reference_samples
        key = {
            "network": network_key,
            "data": self.data_sha1,
            "shape": list(self.data.shape),
            "n": min(limit or len(self.data), len(self.data)),
            "subset": "spaced",
        }
        path = cache.entry(self.cache_dir, f"stats-{kind}", key, ".npz")

        def compute() -> dict:
            feats = np.concatenate(
                [
                    self._features(kind, batch.float().div_(255))[0]
                    for batch in self.data.batches(self.cfg.fid.batch_size, limit)
                ]
            )
            mu, sigma = statistics(feats)
            return {"mu": mu, "sigma": sigma}

        stats = cache.get_or_compute(
            path, key, compute, lambda v, f: np.savez(f, **v), lambda p: dict(np.load(p))
        )
        return stats["mu"], stats["sigma"]

    def _reference_features(self, kind: str, network_key: dict) -> np.ndarray:
        """Features (float32) of metrics.n_samples real training images, spread evenly over the set
        (all, when fewer): KID's and PRC's reference, from the cache or computed now."""
        key = {
            "network": network_key,
            "data": self.data_sha1,
            "shape": list(self.data.shape),
            "n": self.n_reference,
            "subset": "spaced",
        }
        path = cache.entry(self.cache_dir, f"features-{kind}", key, ".npy")

        def compute() -> np.ndarray:
            return np.concatenate(
                [
                    self._features(kind, batch.float().div_(255))[0].astype(np.float32)
                    for batch in self.data.batches(self.cfg.fid.batch_size, self.cfg.n_samples)
                ]
            )

        return cache.get_or_compute(path, key, compute, lambda v, f: np.save(f, v), np.load)

    def _check_reference_size(self, computes: set[str]) -> None:
        """KID's subsets and PRC's neighbours need as many real images as the dataset may lack."""
        c, n = self.cfg, self.n_reference
        need = max(
            c.kid.subset_size if "kid" in computes else 0,
            max(c.prc.k, c.prc.dc_k) + 1 if "prc" in computes else 0,
        )
        if n < need:
            raise UserError(
                f"KID and PRC compare the samples with as many real training images, and the "
                f"dataset holds {len(self.data)}: {n} real images, where metrics.kid.subset_size="
                f"{c.kid.subset_size} (KID) or k + 1 = {max(c.prc.k, c.prc.dc_k) + 1} (PRC) are "
                "needed. Lower metrics.kid.subset_size (or metrics.prc.k / dc_k)."
            )

    @property
    def n_reference(self) -> int:
        return min(self.cfg.n_samples, len(self.data))

    def protocol_of(self, value: str) -> dict:
        """How a value was measured, as results.json and eval.json record it beside the value: the
        feature network (and the SHA-256 of its weights), how images reach it (resize, range,
        quantisation), the generated and reference sample counts, the reference's split, and the
        metric's own settings. Values of different protocols are not comparable."""
        m, c = METRICS[METRIC_OF[value]], self.cfg
        if m.needs == "players":
            return {"measured_on": "the players as they train", "batch": c.fid.batch_size}
        out = {"samples": FILES if self.files else SAMPLES, "generated": c.n_samples}
        if value.removesuffix(NO_EMA).endswith("_floor"):  # the data's own: real test images
            out["samples"] = "real test images, spread evenly over the test split"
        elif not self.files:
            out["g_mode"] = c.g_mode
            if c.g_mode == "train":  # each batch normalised by its own statistics: its size counts
                out["g_batch"] = c.fid.batch_size
        out.update(self.network_protocol.get(m.needs, {}))
        if m.compute in ("fid", "kid", "prc"):
            out["reference_split"] = "the dataset's training data, spread evenly"
            out["reference"] = self.n_reference
            if m.compute == "fid":
                limit = c.fid.reference_samples
                out["reference"] = min(limit or len(self.data), len(self.data))
            out["reference_shape"] = list(self.data.shape)
            if getattr(self.data, "fingerprint_of_content", True):  # not a folder's paths
                out["reference_data_sha1"] = self.data_sha1
        out.update(
            {
                "inception_score": {"splits": SPLITS},
                "kid": {
                    "kid_subsets": c.kid.subsets,
                    "kid_subset_size": c.kid.subset_size,
                    "kernel": "cubic polynomial (x·y/d + 1)^3, unbiased MMD²",
                },
                "prc": {"k": c.prc.k, "dc_k": c.prc.dc_k},
                "stacked_modes": {"generated": c.stacked_n_samples},
                "modes": {"min_fraction": c.min_fraction, "near": c.near},
                "parzen": {"sigma": "chosen on the first 1000 test images, scored on the rest"},
            }.get(m.compute, {})
        )
        return out

    @functools.cached_property
    def data_sha1(self) -> str:
        return self.data.fingerprint()

    @torch.no_grad()
    def _features(self, kind: str, unit_images: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(features, class probabilities) of images in [0, 1]."""
        f, logits = self.networks[kind].embed(unit_images)
        return f.double().cpu().numpy(), logits.softmax(dim=1).double().cpu().numpy()

    @torch.no_grad()
    def generated(self, g: nn.Module, n: int | None = None) -> Iterator[Tensor]:
        """G's output on the first `n` (default: metrics.n_samples) fixed noise vectors, in chunks
        of fid.batch_size: the images are never all in memory at once."""
        was_training = g.training
        g.train(self.cfg.g_mode == "train")
        kept = [
            (b, b.clone()) for b in g.buffers()
        ]  # batch norm's statistics: training's, not evaluation's
        try:
            yield from (
                g(z) for z in self.z[: n or self.cfg.n_samples].split(self.cfg.fid.batch_size)
            )
        finally:
            g.train(was_training)
            for b, saved in kept:
                b.copy_(saved)

    def samples(self, g: nn.Module, n: int | None = None) -> Tensor:
        return torch.cat(list(self.generated(g, n)))

    def unit(self, x: Tensor) -> Tensor:
        lo, hi = self.data.range
        return ((x - lo) / (hi - lo)).clamp_(0, 1)

    def metrics(self, g: nn.Module | Tensor, game=None, players: bool = True) -> dict[str, float]:
        """Every configured metric of G's samples, each by its registry entry's method; a metric of
        the players reads them from `game` (game.Game), unless `players` is off (a second generator
        of the same game, e.g. the one the EMA follows: the players are the same). `g` may be
        uint8 images instead (gan-runner-eval --images): the feature metrics only."""
        self._extracted: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        out: dict[str, float] = {}
        for name in self.names:
            m = METRICS[name]
            if m.needs == "players" and not players:
                continue
            if m.needs == "players" and game is None:
                raise UserError(
                    f"{name} is measured on both players while the game trains: its values are in "
                    "the run's results.json, not recomputed from a checkpoint's generator."
                )
            out.update(COMPUTE[m.compute](self, game if m.needs == "players" else g, m.needs))
        return out

    def _extract(self, g: nn.Module | Tensor, network: str) -> tuple[np.ndarray, np.ndarray]:
        """(features, class probabilities) of the samples under `network`; one pass of G (or over
        the uint8 images `g`) serves every network a feature metric of this evaluation needs."""
        if network not in self._extracted:
            networks = sorted(
                {METRICS[n].needs for n in self.names if METRICS[n].compute in FEATURES}
            )
            parts = {k: [] for k in networks}
            unit = (
                (self.unit(x) for x in self.generated(g))
                if isinstance(g, nn.Module)
                else (b.to(self.device).float().div_(255) for b in g.split(self.cfg.fid.batch_size))
            )
            for x in unit:
                for k in networks:
                    parts[k].append(self._features(k, x))
            self._extracted = {
                k: tuple(np.concatenate(a) for a in zip(*parts[k])) for k in networks
            }
        return self._extracted[network]

    def _real(self, n: int) -> Tensor:
        """n training samples (images: in [0, 1], spread evenly over the set); a mixture's drawn from its
        own generator."""
        if hasattr(self.data, "batches"):
            return torch.cat(
                [b.float().div_(255) for b in self.data.batches(self.cfg.fid.batch_size, n)]
            )
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(0)
            return self.data.sample(n)

    def spread(self, g: nn.Module, needs: str) -> dict[str, float]:
        x = self.samples(g)
        value = spread(self.unit(x) if hasattr(self.data, "batches") else x)
        return {"spread": value, "spread_ratio": value / self.data_spread}

    def modes(self, g: nn.Module, needs: str) -> dict[str, float]:
        return mode_metrics(
            self.samples(g),
            self.data.centers,
            self.data.sigma,
            self.cfg.min_fraction,
            self.cfg.near,
        )

    def fid(self, g: nn.Module, network: str) -> dict[str, float]:
        if network not in self.floor:
            self.floor[network] = self._floor(network)
        return {
            f"fid_{network}": frechet_distance(
                *statistics(self._extract(g, network)[0]), *self.reference[network]
            ),
            **(
                {f"fid_{network}_floor": self.floor[network]}
                if self.floor[network] is not None
                else {}
            ),
        }

    def _floor(self, network: str) -> float | None:
        """The FID of n_samples real test images (spread over the split; all, when fewer), the
        same protocol as G's: what no generator can beat at this sample count. None without a test
        split (an image folder)."""
        if dataset_kind(self.dataset_cfg) not in ("digits", "photos"):
            return None
        _, test, _ = labelled_splits(self.dataset_cfg, self.device)
        feats = np.concatenate(
            [
                self._features(network, b.float().div_(255))[0]
                for b in test.batches(self.cfg.fid.batch_size, self.cfg.n_samples)
            ]
        )
        return frechet_distance(*statistics(feats), *self.reference[network])

    def inception_score(self, g: nn.Module, network: str) -> dict[str, float]:
        score, std = inception_score(self._extract(g, network)[1])
        return {f"is_{network}": score, f"is_{network}_std": std}

    def kid(self, g: nn.Module | Tensor, network: str) -> dict[str, float]:
        c = self.cfg.kid
        out = kid(
            self._extract(g, network)[0], self.reference_features[network], c.subsets, c.subset_size
        )
        return {f"kid_{network}_mean": out["mean"], f"kid_{network}_std": out["std"]}

    def prc(self, g: nn.Module | Tensor, network: str) -> dict[str, float]:
        """On the evaluator's device: at 50,000 samples, billions of distances."""
        c = self.cfg.prc
        real = torch.from_numpy(self.reference_features[network]).to(self.device)
        if network not in self.radii:  # the reference's: the same at every evaluation
            self.radii[network] = radii(real, (c.k, c.dc_k))
        generated = torch.from_numpy(self._extract(g, network)[0].astype(np.float32))
        generated = generated.to(self.device)
        out = manifold(generated, real, c.k, c.dc_k, self.radii[network])
        return {f"{value}_{network}": v for value, v in out.items()}

    def stacked_modes(self, g: nn.Module, needs: str) -> dict[str, float]:
        """Each channel classified by the MNIST classifier: three digits, one of 1000 modes."""
        digits = [
            torch.stack(
                [
                    torch.from_numpy(
                        self._features("classifier", self.unit(x)[:, c : c + 1])[1]
                    ).argmax(1)
                    for c in range(3)
                ],
                dim=1,
            )
            for x in self.generated(g, self.cfg.stacked_n_samples)
        ]
        return stacked_modes(torch.cat(digits))

    def distance(self, game, needs: str) -> dict[str, float]:
        """The iterates as they are (as the authors' notebook measures them; after each Lookahead
        backtrack they are the slow weights)."""
        return {"distance": self.data.distance(game.G.v.detach(), game.D.v.detach())}

    def saturation(self, game, needs: str) -> dict[str, float]:
        """On the players as they train (G itself, not its EMA), the first fid.batch_size noise vectors."""
        return saturation(game.G, game.D, self.z[: self.cfg.fid.batch_size], game.objective.loss.g)

    def parzen(self, g: nn.Module, needs: str) -> dict[str, float]:
        """Goodfellow et al. pick σ on held-out images: the GAN here trains on the whole training
        split, so σ is picked on the first 1000 test images and scored on the rest."""
        _, test, _ = labelled_splits(self.dataset_cfg, self.device)
        images = torch.cat([b.float() / 255 for b in test.batches(1000)]).cpu()
        n_val = min(1000, len(images) // 2)
        if (
            "parzen" not in self.floor
        ):  # the baselines: the training images, and their mean image alone
            real = self._real(self.cfg.n_samples).cpu()
            self.floor["parzen"] = {
                "parzen_real": parzen(real, images[:n_val], images[n_val:])["parzen"],
                "parzen_mean_image": parzen(
                    real.mean(0, keepdim=True), images[:n_val], images[n_val:]
                )["parzen"],
            }
        return {
            **parzen(self.unit(self.samples(g)).cpu(), images[:n_val], images[n_val:]),
            **self.floor["parzen"],
        }


# What computes each registry entry (metrics.Metric.compute): (evaluator, G or the game, needs) -> values
COMPUTE = {
    "modes": Evaluator.modes,
    "stacked_modes": Evaluator.stacked_modes,
    "fid": Evaluator.fid,
    "inception_score": Evaluator.inception_score,
    "kid": Evaluator.kid,
    "prc": Evaluator.prc,
    "parzen": Evaluator.parzen,
    "saturation": Evaluator.saturation,
    "spread": Evaluator.spread,
    "distance": Evaluator.distance,
}
