"""dlib's face-recognition ResNet run by PyTorch (pure: an RGB frame + landmarks in,
a 128-d descriptor out, the same descriptor as dlib's within float rounding).

The weights are dlib's own (`dlib_face_recognition_resnet_model_v1.dat` from the
face_recognition_models package, public domain/CC0), read from dlib's file
format here. Why: the dlib wheel this project installs is built without BLAS,
so one descriptor costs ~100 ms there and ~8 ms on PyTorch's oneDNN kernels (one thread);
identity checks and track matching ask for dozens per minute of video. The
face chip (150 px, padding 0.25) is still cut by dlib, and dlib's own encoder
stays the fallback should the file not read as expected.

The network (dlib's dnn_face_recognition_ex): 7x7/2 convolution, 3x3/2 max pool,
residual blocks of 3x3 convolutions with per-channel affine (frozen batch norm)
at 32, 64, 128, 256 channels (a stride-2 block first at each new width, its
shortcut a 2x2 average pool), global average pool, 128 outputs without bias.
dlib adds two tensors of different shapes by zero-padding the smaller one
(top-left aligned); `_add` does the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# Layer names in the file, innermost (input side) first.
_LAYER = re.compile(rb"[\x03-\x20](con_4|affine_|relu_|max_pool_2|avg_pool_2|add_prev_1|fc_2|input_rgb_image_sized)")


class FormatError(ValueError):
    """The file is not the network this module knows."""


def _int(data: bytes, i: int) -> tuple[int, int]:
    """dlib's compact integer: a byte with the length (high bit: negative), then little-endian bytes."""
    size = data[i] & 0x7F
    value = int.from_bytes(data[i + 1:i + 1 + size], "little")
    return (-value if data[i] & 0x80 else value), i + 1 + size


def _float(data: bytes, i: int) -> tuple[float, int]:
    """dlib's portable float: mantissa and exponent as compact integers."""
    mantissa, i = _int(data, i)
    exponent, i = _int(data, i)
    return float(mantissa) * 2.0 ** exponent, i


def _tensor(data: bytes, i: int) -> tuple[np.ndarray, int]:
    version, i = _int(data, i)
    if version != 2:
        raise FormatError(f"tensor version {version}")
    dims = []
    for _ in range(4):
        value, i = _int(data, i)
        dims.append(value)
    count = int(np.prod(dims))
    return np.frombuffer(data, "<f4", count, i).copy(), i + 4 * count


def _ints(data: bytes, i: int, n: int) -> tuple[list[int], int]:
    out = []
    for _ in range(n):
        value, i = _int(data, i)
        out.append(value)
    return out, i


@dataclass
class Layer:
    kind: str
    params: np.ndarray | None = None
    shape: tuple[int, ...] = ()   # con: (filters, channels, rows, cols); pools: (rows, cols)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)


def read_layers(path: str | Path) -> tuple[np.ndarray, list[Layer]]:
    """(the input's channel means, layers from input to output) of dlib's file."""
    data = Path(path).read_bytes()
    means, layers, i = None, [], 0
    while True:
        found = _LAYER.search(data, i)
        if not found:
            break
        kind, i = found.group(1).decode(), found.end()
        if kind == "input_rgb_image_sized":
            means = []
            for _ in range(3):
                value, i = _float(data, i)
                means.append(value)
        elif kind == "con_4":
            params, i = _tensor(data, i)
            (filters, rows, cols, sy, sx, py, px), i = _ints(data, i, 7)
            channels = (params.size - filters) // (filters * rows * cols)
            layers.append(Layer("con", params, (filters, channels, rows, cols), (sy, sx), (py, px)))
        elif kind == "affine_":
            params, i = _tensor(data, i)
            layers.append(Layer("affine", params))
        elif kind in ("max_pool_2", "avg_pool_2"):
            (rows, cols, sy, sx, py, px), i = _ints(data, i, 6)
            layers.append(Layer(kind[:3] + "_pool", None, (rows, cols), (sy, sx), (py, px)))
        elif kind == "fc_2":
            (outputs, inputs), i = _ints(data, i, 2)
            params, i = _tensor(data, i)
            layers.append(Layer("fc", params[:inputs * outputs].reshape(inputs, outputs), (outputs, inputs)))
        else:
            layers.append(Layer(kind.rstrip("_1").rstrip("_")))
    if means is None or sum(layer.kind == "con" for layer in layers) != 29 or layers[-1].kind != "fc":
        raise FormatError(f"{Path(path).name} is not dlib's face-recognition ResNet v1")
    return np.array(means, np.float32), layers


class TorchFaceEncoder:
    """encoder(rgb_frame, dlib_landmarks) -> 128 floats, as dlib's compute_face_descriptor."""

    def __init__(self, path: str | Path):
        import torch

        self.means, layers = read_layers(path)
        self._ops = []
        for layer in layers:
            if layer.kind == "con":
                filters, channels, rows, cols = layer.shape
                weight = layer.params[:filters * channels * rows * cols].reshape(layer.shape)
                bias = layer.params[filters * channels * rows * cols:]
                self._ops.append(("con", torch.from_numpy(weight).contiguous(memory_format=torch.channels_last),
                                  torch.from_numpy(bias), layer.stride, layer.padding))
            elif layer.kind == "affine":
                c = layer.params.size // 2
                gamma, beta = (torch.from_numpy(layer.params[:c]).view(1, c, 1, 1),
                               torch.from_numpy(layer.params[c:]).view(1, c, 1, 1))
                if self._ops and self._ops[-1][0] == "con":  # folded into the convolution before it
                    _, weight, bias, stride, padding = self._ops.pop()
                    g = gamma.view(-1)
                    self._ops.append(("con", (weight * g.view(-1, 1, 1, 1)).contiguous(memory_format=torch.channels_last),
                                      bias * g + beta.view(-1), stride, padding))
                else:
                    self._ops.append(("affine", gamma, beta))
            elif layer.kind in ("max_pool", "avg_pool"):
                self._ops.append((layer.kind, layer.shape, layer.stride, layer.padding))
            elif layer.kind == "fc":
                self._ops.append(("fc", torch.from_numpy(np.ascontiguousarray(layer.params))))
            else:
                self._ops.append((layer.kind,))

    def descriptor_of_chip(self, chip: np.ndarray) -> np.ndarray:
        """128-d descriptor of a 150 x 150 RGB face chip (dlib's get_face_chip)."""
        import torch
        import torch.nn.functional as F

        x = (chip.astype(np.float32) - self.means) / 256.0
        x = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
        x = x.contiguous(memory_format=torch.channels_last)
        marks: list = []  # block inputs, innermost last (dlib's tag1)
        with torch.inference_mode():
            for i, op in enumerate(self._ops):
                kind = op[0]
                if kind == "con":
                    if _starts_block(self._ops, i):
                        marks.append(x)
                    x = F.conv2d(x, op[1], op[2], stride=op[3], padding=op[4])
                elif kind == "affine":
                    x = x * op[1] + op[2]
                elif kind == "relu":
                    x = F.relu(x)
                elif kind == "max_pool":
                    x = F.max_pool2d(x, op[1], op[2], op[3])
                elif kind == "avg_pool":
                    if op[1] == (0, 0):  # dlib's avg_pool_everything
                        x = x.mean(dim=(2, 3))
                    else:  # the shortcut of a stride-2 block: the block's input, pooled
                        marks[-1] = F.avg_pool2d(marks[-1], op[1], op[2], op[3])
                elif kind == "add_prev":
                    x = _add(x, marks.pop())
                elif kind == "fc":
                    x = x.reshape(1, -1) @ op[1]
        return x[0].numpy().astype(np.float64)

    def __call__(self, rgb: np.ndarray, shape) -> np.ndarray:
        import dlib
        return self.descriptor_of_chip(dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING))


def _starts_block(ops: list, i: int) -> bool:
    """Whether the convolution at `i` is the first of a residual block (what comes before
    it: the stem's max pool, or the previous block's add and relu)."""
    before = [op[0] for op in ops[max(0, i - 2):i]]
    return before[-1:] == ["max_pool"] or before == ["add_prev", "relu"]


def _add(a, b):
    """a + b, the smaller zero-padded at the end of each axis (dlib's tt::add)."""
    import torch
    if a.shape == b.shape:
        return a + b
    shape = [max(x, y) for x, y in zip(a.shape, b.shape)]
    out = torch.zeros(shape, dtype=a.dtype)
    out[:, :a.shape[1], :a.shape[2], :a.shape[3]] += a
    out[:, :b.shape[1], :b.shape[2], :b.shape[3]] += b
    return out
