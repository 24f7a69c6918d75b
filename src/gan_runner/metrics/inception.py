"""pytorch-fid's InceptionV3 (the FID network: TF-Inception weights, pool3 2048-d features, and
class logits for the Inception score), loaded from a file, never downloaded during a run.

The weights come from `metrics.fid.weights_path`, or from the torch hub cache where pytorch-fid
itself keeps them (torch.hub.get_dir()/checkpoints/pt_inception-2015-12-05-6726825d.pth). Missing
weights are a ConfigError naming the file, where it is expected and where to get it.
"""

from pathlib import Path
from unittest import mock

import torch
from pytorch_fid import inception as pytorch_fid_inception
from torch import Tensor, nn

from ..errors import ConfigError

URL = pytorch_fid_inception.FID_WEIGHTS_URL


def weights_file(weights_path: str | None) -> Path:
    path = Path(weights_path).expanduser() if weights_path else Path(torch.hub.get_dir()) / "checkpoints" / Path(URL).name
    if not path.is_file():
        raise ConfigError(f"The FID Inception weights are not at {path}. Download {URL} (about 92 MB) to that "
                          "place, or set metrics.fid.weights_path=FILE. Without them, labelled data can use "
                          "the runner's classifier (metrics.names=[fid_classifier,is_classifier]); "
                          "metrics.names=[] measures nothing.")
    return path


def load_weights(path: Path) -> dict:
    """The weights file's tensors, or bad input naming it: unreadable, or not the FID Inception's."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, truncated, or pickled objects weights_only refuses
        raise ConfigError(f"{path} (metrics.fid.weights_path) is not a readable weights file "
                          f"({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}). "
                          f"It should be pytorch-fid's {Path(URL).name}.") from None
    if not isinstance(state, dict) or "fc.weight" not in state or "Conv2d_1a_3x3.conv.weight" not in state:
        raise ConfigError(f"{path} (metrics.fid.weights_path) is not pytorch-fid's FID Inception weights "
                          f"({Path(URL).name}): its tensors are not the network's.")
    return state


class FIDInception(nn.Module):
    """Images in [0, 1] (grey ones repeated to 3 channels, any size: resized to 299 as pytorch-fid
    does) -> pool3 features (2048) and logits (1008, pytorch-fid's TF-Inception head)."""

    def __init__(self, weights_path: str | None):
        super().__init__()
        path = weights_file(weights_path)
        state = load_weights(path)
        try:  # pytorch-fid builds the network and fetches its weights by URL: hand it the file instead
            with mock.patch.object(pytorch_fid_inception, "load_state_dict_from_url", lambda *a, **k: state):
                self.net = pytorch_fid_inception.InceptionV3([3], resize_input=True, normalize_input=True)
        except (RuntimeError, KeyError) as e:
            raise ConfigError(f"{path} is not pytorch-fid's FID Inception weights ({str(e).splitlines()[0]}).") from None
        # the TF-Inception head for the Inception score: logits without the bias, as the original
        # TF code, torch-fidelity and torchmetrics compute them
        self.register_buffer("fc_weight", state["fc.weight"])

    def embed(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        pool = self.net(x)[0].flatten(1)
        return pool, pool @ self.fc_weight.T
