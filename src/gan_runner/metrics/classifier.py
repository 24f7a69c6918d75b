"""The small classifiers the runner trains once per dataset (and caches), whose features and class
probabilities stand in for Inception's on MNIST-like data (and on a CPU, where Inception crawls).

- Grey images: Lookahead-Minmax's MNIST classifier (Chavdarova et al. 2021's code, mnist/LA-AltGAN+LA-ExtraGrad.ipynb), an MLP 784-256-256-10 with
  ReLU and dropout 0.2; its features are the 256-d second layer before its ReLU.
- Colour images: a small CNN (three 3x3 conv + max-pool stages, 32/64/128 channels, then a 256-d
  layer whose pre-ReLU output is the features).

Inputs are images in [0, 1]. A trained classifier is cached under the metrics cache directory,
keyed by its architecture and a fingerprint (SHA-1) of the training images and labels.

A classifier FID is comparable only between numbers computed with the same classifier. To use a
paper's own, `metrics.classifier.weights_path` names its weights (a state dict, read with
`weights_only`, its architecture checked): the MLP above with the runner's keys (fc1, fc2, out: a
classifier of ours, inputs centred) or with Lookahead-Minmax's (model.fc1, ... as their MLP_mnist
saves them in mnist/mnist.pth; inputs in [0, 1] as their ToTensor gives, not centred).
"""

import logging
import math
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import UserError
from . import cache

log = logging.getLogger("gan_runner")
VERSION = 1  # bump when the architecture or training changes: old cache entries are then ignored


class MLPClassifier(nn.Module):
    def __init__(self, in_shape: tuple[int, ...], n_classes: int = 10, centred: bool = True):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(math.prod(in_shape), 256), nn.Linear(256, 256)
        self.out, self.drop = nn.Linear(256, n_classes), nn.Dropout(0.2)
        self.shift = (
            0.5 if centred else 0.0
        )  # ours sees [-1, 1]; Lookahead-Minmax's mnist.pth [0, 1]
        self.scale = 0.5 if centred else 1.0

    def features(self, x: Tensor) -> Tensor:
        return self.fc2(self.drop(F.relu(self.fc1((x.flatten(1) - self.shift) / self.scale))))

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.drop(F.relu(self.features(x))))

    def embed(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(features, logits), in eval mode, from one pass."""
        f = self.features(x)
        return f, self.out(F.relu(f))

    def protocol(self) -> dict:
        """How its metrics see images (evaluation.Evaluator.protocol_of)."""
        return {
            "network": f"classifier: MLP {self.fc1.in_features}-256-256-{self.out.out_features}, "
            "256-d features (fc2, before its ReLU)",
            "resize": "none (the data's own size)",
            "range": "[0, 1] floats" + (", centred to [-1, 1]" if self.shift else ""),
            "quantisation": "none",
        }


class CNNClassifier(nn.Module):
    def __init__(self, in_shape: tuple[int, ...], n_classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        for n_in, n_out in zip((in_shape[0], 32, 64), (32, 64, 128)):
            layers += [
                nn.Conv2d(n_in, n_out, 3, 1, 1),
                nn.BatchNorm2d(n_out),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
        self.conv = nn.Sequential(*layers, nn.Flatten())
        side = in_shape[1] // 8
        self.fc, self.out, self.drop = (
            nn.Linear(128 * side * side, 256),
            nn.Linear(256, n_classes),
            nn.Dropout(0.2),
        )

    def features(self, x: Tensor) -> Tensor:
        return self.fc(self.conv((x - 0.5) / 0.5))

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.drop(F.relu(self.features(x))))

    embed = MLPClassifier.embed

    def protocol(self) -> dict:
        return {
            "network": f"classifier: CNN 3x(conv 3x3, batch norm, ReLU, max-pool) 32/64/128, "
            f"{self.out.out_features} classes, 256-d features (before the last ReLU)",
            "resize": "none (the data's own size)",
            "range": "[0, 1] floats, centred to [-1, 1]",
            "quantisation": "none",
        }


def unit(data, index: Tensor) -> Tensor:
    """Images `index` of `data` in [0, 1]."""
    return data.gather(index).float().div_(255)


@torch.no_grad()
def accuracy(model: nn.Module, data, batch: int = 1000) -> float:
    model.eval()
    correct = sum(
        (model(unit(data, idx)).argmax(1) == data.labels[idx]).sum().item()
        for idx in torch.arange(len(data), device=data.device).split(batch)
    )
    return correct / len(data)


def train(train_data, epochs: int, batch_size: int, lr: float) -> nn.Module:
    cls = MLPClassifier if train_data.shape[0] == 1 else CNNClassifier
    model = cls(train_data.shape, int(train_data.labels.max()) + 1).to(train_data.device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator(train_data.device).manual_seed(0)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(train_data), device=train_data.device, generator=gen).split(
            batch_size
        ):
            loss = F.cross_entropy(model(unit(train_data, idx)), train_data.labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


def load_or_train(
    splits: tuple, cache_dir: Path, device: torch.device, epochs: int, batch_size: int, lr: float
) -> tuple[nn.Module, float, dict]:
    """The classifier of a dataset's `splits` (train, test, name: evaluation.labelled_splits), its test
    accuracy and its cache key: from the cache, or trained now and cached."""
    train_data, test_data, name = splits
    key = {
        "classifier": VERSION,
        "dataset": name,
        "train_sha1": train_data.fingerprint(),
        "shape": train_data.shape,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
    }
    path = cache.entry(cache_dir, f"classifier-{name}", key, ".pt")

    def compute() -> dict:
        log.info("training the %s classifier for the metrics (cached in %s) ...", name, path)
        torch.manual_seed(
            0
        )  # the same classifier whoever trains it (the caller's RNG is forked below)
        model = train(train_data, epochs, batch_size, lr)
        acc = accuracy(model, test_data)
        log.info("%s classifier: test accuracy %.2f%%", name, 100 * acc)
        if acc < 0.9:
            log.warning(
                "the %s classifier's test accuracy is only %.1f%%: its FID and IS mean little "
                "(more metrics.classifier.epochs?)",
                name,
                100 * acc,
            )
        return {
            "state": model.state_dict(),
            "accuracy": acc,
            "classes": int(train_data.labels.max()) + 1,
        }

    with torch.random.fork_rng(
        devices=[device] if device.type == "cuda" else []
    ):  # leave the caller's RNG alone
        saved = cache.get_or_compute(
            path,
            key,
            compute,
            lambda v, f: torch.save(v, f),
            lambda p: torch.load(p, map_location="cpu", weights_only=True),
        )
        cls = MLPClassifier if train_data.shape[0] == 1 else CNNClassifier
        model = cls(train_data.shape, saved["classes"])
    model.load_state_dict(saved["state"])
    return model.to(device).eval(), saved["accuracy"], key


AUTHORS = "model."  # the key prefix of Lookahead-Minmax's MLP_mnist state dict (an nn.Sequential named model)


def read_weights(path: str) -> MLPClassifier:
    """The classifier a weights file holds, on the CPU. Refused, in one message, unless it is a state
    dict of the MLP 784-256-256-N (the runner's keys, or Lookahead-Minmax's under 'model.')."""
    file = Path(path).expanduser()
    where = f"metrics.classifier.weights_path={path}"
    if not file.is_file():
        raise UserError(f"{where}: no such file.")
    try:
        state = torch.load(
            file, map_location="cpu", weights_only=True
        )  # tensors only: a file cannot run code
    except (
        Exception
    ) as e:  # whatever the unpickler raises on a file that is not a tensors-only state dict
        raise UserError(
            f"{where}: not a PyTorch state dict of tensors (torch.load with weights_only refused "
            f"it: {type(e).__name__}); gan-runner never unpickles anything else."
        ) from None
    if (
        not isinstance(state, dict)
        or not state
        or not all(isinstance(v, Tensor) for v in state.values())
    ):
        raise UserError(f"{where}: expected a state dict (parameter name -> tensor).")
    state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from DataParallel
    authors = all(k.startswith(AUTHORS) for k in state)
    state = {k.removeprefix(AUTHORS): v for k, v in state.items()}
    classes = state["out.weight"].shape[0] if "out.weight" in state else 10
    model = MLPClassifier((1, 28, 28), classes, centred=not authors)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in state.items()}
    if found != expected:
        raise UserError(
            f"{where}: not the MLP 784-256-256-{classes} the classifier metrics use: it holds "
            f"{', '.join(f'{k} {v}' for k, v in found.items())}; expected "
            f"{', '.join(f'{k} {v}' for k, v in expected.items())} (or the same under 'model.')."
        )
    model.load_state_dict(state)
    return model.eval()


def load_file(path: str, splits: tuple, device: torch.device) -> tuple[nn.Module, float, dict]:
    """The classifier in a weights file (read_weights), its test accuracy on this dataset, and its
    key for the reference statistics (the file's SHA-1)."""
    import hashlib

    model = read_weights(path).to(device)
    model.path = Path(path).expanduser()  # its weights' SHA-256 is the file's
    train_data, test_data, name = splits
    if train_data.shape != (1, 28, 28):
        raise UserError(
            f"metrics.classifier.weights_path={path}: a classifier weights file is the MLP of grey "
            f"28×28 digits; {name} images are {'×'.join(map(str, train_data.shape))}."
        )
    sha1 = hashlib.sha1(Path(path).expanduser().read_bytes()).hexdigest()
    acc = accuracy(model, test_data)
    inputs = "centred" if model.shift else "unit"
    log.info(
        "classifier from %s (sha1 %s, inputs %s): test accuracy %.2f%%",
        path,
        sha1[:12],
        inputs,
        100 * acc,
    )
    return model, acc, {"classifier": "file", "sha1": sha1, "inputs": inputs}


def classifier(
    splits: tuple, c, cache_dir: Path, device: torch.device
) -> tuple[nn.Module, float, dict]:
    """The classifier the metrics use (`c`: metrics.classifier): the weights file it names, or the
    runner's own, trained once and cached."""
    if c.weights_path:
        return load_file(c.weights_path, splits, device)
    return load_or_train(splits, cache_dir, device, c.epochs, c.batch_size, c.lr)
