"""Light-ASD, the audio-visual active-speaker network (pure PyTorch; no Django).

Liao et al., "A Light Weight Model for Active Speaker Detection", CVPR 2023
(MIT licence). This is the project's own port of the published architecture;
it reads the authors' TalkSet-finetuned state dict with every key checked
(`load_state_dict(strict=True)` after renaming the prefixes).

Inputs, as the model was trained:
  faces: (B, T, 112, 112) grey uint8-valued floats, 25 fps;
  mfcc:  (B, 4T, 13) MFCCs at 100 Hz (4 audio frames per video frame).
Output: (B, T) probability that the face is speaking in each video frame.

Both encoders are stacks of "factorised" blocks: two parallel branches
(3- and 5-wide kernels), each a convolution across one axis (space for
video, frequency for audio) followed by one across time; the branches are
summed and mixed by a 1x1 convolution. The two embeddings (128 per frame)
are added and read by a forward then a backward GRU.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

WEIGHTS = Path(__file__).resolve().parent / "weights" / "light_asd" / "finetuning_TalkSet.model"
WEIGHTS_SHA256 = "efc375833887eefa9d209dc92810e18519b04c3c73ea35a549f2a7f40b7d94d5"
FACE_PX = 112
AUDIO_PER_VIDEO_FRAME = 4
VISUAL_REACH = 6  # frames either side a visual embedding depends on (three blocks of +-2)
# Grey-level statistics the visual encoder was trained with.
PIXEL_MEAN, PIXEL_STD = 0.4161, 0.1688
# Key prefixes of the published file -> this module's names.
_RENAME = {"model.": "backbone.", "lossAV.FC.": "speaking_head.", "lossV.FC.": "visual_head."}


class FactorisedBlock(nn.Module):
    """Two branches (k = 3, 5): conv across `first` axis, then across time; sum; 1x1 mix.

    `dims` = 3 for video (T, H, W: the first conv is spatial, k x k),
    2 for audio (F, T: the first conv runs over the MFCC axis).
    Parameter names follow the published file (s_/m_ first conv, t_ time conv).
    """

    def __init__(self, c_in: int, c_out: int, dims: int, stride: int = 1):
        super().__init__()
        conv, norm = (nn.Conv3d, nn.BatchNorm3d) if dims == 3 else (nn.Conv2d, nn.BatchNorm2d)
        self.first = "s" if dims == 3 else "m"
        for k in (3, 5):
            p = k // 2
            if dims == 3:   # video (published as 3-D convolutions; run on frames, see _convolve)
                first = conv(c_in, c_out, (1, k, k), stride=(1, stride, stride), padding=(0, p, p), bias=False)
                time = conv(c_out, c_out, (k, 1, 1), padding=(p, 0, 0), bias=False)
            else:           # audio (B, C, F, T)
                first = conv(c_in, c_out, (k, 1), padding=(p, 0), bias=False)
                time = conv(c_out, c_out, (1, k), padding=(0, p), bias=False)
            setattr(self, f"{self.first}_{k}", first)
            setattr(self, f"bn_{self.first}_{k}", norm(c_out, eps=1e-3, momentum=0.01))
            setattr(self, f"t_{k}", time)
            setattr(self, f"bn_t_{k}", norm(c_out, eps=1e-3, momentum=0.01))
        self.last = conv(c_out, c_out, 1, bias=False)
        self.bn_last = norm(c_out, eps=1e-3, momentum=0.01)
        self._folded: dict[str, tuple] = {}  # conv name -> (parameter versions, weight, bias) in eval mode

    def _conv_bn_relu(self, conv_name: str, bn_name: str, x, batch: int):
        conv, norm = getattr(self, conv_name), getattr(self, bn_name)
        if self.training:  # batch statistics over every axis but the channels, as BatchNorm2d/3d
            return F.relu(F.batch_norm(_convolve(conv, x, batch), norm.running_mean, norm.running_var, norm.weight,
                                       norm.bias, True, norm.momentum, norm.eps))
        # Inference: the batch norm folded into the convolution (same function, one pass fewer).
        versions = tuple(t._version for t in (conv.weight, norm.weight, norm.bias, norm.running_mean, norm.running_var))
        cached = self._folded.get(conv_name)
        if cached is None or cached[0] != versions:
            with torch.no_grad():
                scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                weight = conv.weight * scale.view(-1, *[1] * (conv.weight.dim() - 1))
                cached = self._folded[conv_name] = (versions, weight, norm.bias - norm.running_mean * scale)
        return F.relu(_convolve(conv, x, batch, cached[1], cached[2]), inplace=True)

    def _branch(self, x, k, batch):
        x = self._conv_bn_relu(f"{self.first}_{k}", f"bn_{self.first}_{k}", x, batch)
        return self._conv_bn_relu(f"t_{k}", f"bn_t_{k}", x, batch)

    def forward(self, x, batch: int = 1):
        """Audio: (B, C, F, T). Video: frames (B*T, C, H, W) of `batch` sequences, channels last."""
        return self._conv_bn_relu("last", "bn_last", self._branch(x, 3, batch).add_(self._branch(x, 5, batch)), batch)


def _convolve(conv, x, batch: int, weight=None, bias=None):
    """conv(x), with another weight and bias if given.

    Video runs as 2-D convolutions on frames in channels-last memory (oneDNN's fast
    layout; PyTorch's 3-D convolutions on the CPU are several times slower): a
    spatial 1 x k x k convolution (and the 1 x 1 x 1 mix) with the frames as the
    batch, a time k x 1 x 1 one on the same memory seen as (B, C, T, H*W)."""
    weight = conv.weight if weight is None else weight
    if weight.dim() == 4:  # audio
        return conv._conv_forward(x, weight, bias)
    kt = weight.shape[2]
    if kt == 1:
        out = F.conv2d(x, weight[:, :, 0], bias, stride=conv.stride[1:], padding=conv.padding[1:])
        return out.contiguous(memory_format=torch.channels_last)
    n, c, h, w = x.shape
    seq = x.reshape(batch, n // batch, c, h * w).permute(0, 2, 1, 3)  # a view of channels-last frames
    out = F.conv2d(seq, weight[..., 0], bias, padding=(conv.padding[0], 0))
    return out.permute(0, 2, 1, 3).reshape(n, -1, h, w).contiguous(memory_format=torch.channels_last)


class VisualEncoder(nn.Module):
    """(B, 1, T, 112, 112) -> (B, T, 128): 112 -> 56 (strided) -> 28 -> 14 px, then max over space."""

    def __init__(self):
        super().__init__()
        self.block1 = FactorisedBlock(1, 32, dims=3, stride=2)
        self.block2 = FactorisedBlock(32, 64, dims=3)
        self.block3 = FactorisedBlock(64, 128, dims=3)

    def forward(self, x):
        b, _, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, 1, h, w).contiguous(memory_format=torch.channels_last)
        # Max over 3 x 3 px, stride 2, frame by frame (the published max_pool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))).
        frames = F.max_pool2d(self.block1(frames, b), 3, 2, 1)
        frames = F.max_pool2d(self.block2(frames, b), 3, 2, 1)
        frames = self.block3(frames, b)         # (B*T, 128, 14, 14)
        return frames.amax(dim=(2, 3)).reshape(b, t, -1)


class AudioEncoder(nn.Module):
    """(B, 1, 13, 4T) -> (B, T, 128): time halved twice, then mean over the MFCC axis."""

    def __init__(self):
        super().__init__()
        self.block1 = FactorisedBlock(1, 32, dims=2)
        self.block2 = FactorisedBlock(32, 64, dims=2)
        self.block3 = FactorisedBlock(64, 128, dims=2)

    @staticmethod
    def _halve_time(x):
        return F.max_pool2d(x, (1, 3), (1, 2), (0, 1))

    def forward(self, x):
        x = self._halve_time(self.block1(x))
        x = self._halve_time(self.block2(x))
        x = self.block3(x)                      # (B, 128, 13, T)
        return x.mean(dim=2).transpose(1, 2)


class TwoPassGRU(nn.Module):
    """A forward GRU, then a second GRU over the reversed result (GELU after each)."""

    def __init__(self, size: int = 128):
        super().__init__()
        self.gru_forward = nn.GRU(size, size, batch_first=True)
        self.gru_backward = nn.GRU(size, size, batch_first=True)

    def forward(self, x):
        x = F.gelu(self.gru_forward(x)[0])
        x = self.gru_backward(x.flip(1))[0].flip(1)
        return F.gelu(x)


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.visualEncoder = VisualEncoder()
        self.audioEncoder = AudioEncoder()
        self.GRU = TwoPassGRU(128)


class LightASD(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.speaking_head = nn.Linear(128, 2)   # audio-visual: [silent, speaking] logits
        self.visual_head = nn.Linear(128, 2)     # visual-only auxiliary head (training only)

    def embed(self, faces: torch.Tensor, mfcc: torch.Tensor, piece: int = 64, bfloat16: bool = False) -> torch.Tensor:
        """(B, T, 112, 112) grey 0..255 and (B, 4T, 13) -> (B, T, 128).

        The visual encoder runs on pieces of `piece` frames plus VISUAL_REACH frames
        of context each side (its whole temporal receptive field), so the result is
        the same as in one pass while memory stays bounded for long tracks. With
        bfloat16, its convolutions run in bfloat16 (float32 sums; see native_bfloat16)."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            visual = torch.cat([self._visual(faces, a, min(a + piece, faces.shape[1])).float()
                                for a in range(0, faces.shape[1], piece)], dim=1)
        audio = self.backbone.audioEncoder(mfcc.unsqueeze(1).transpose(2, 3))
        return self.backbone.GRU(visual + audio)

    def _visual(self, faces: torch.Tensor, a: int, b: int) -> torch.Tensor:
        lo, hi = max(0, a - VISUAL_REACH), min(faces.shape[1], b + VISUAL_REACH)
        pixels = (faces[:, lo:hi].unsqueeze(1) / 255.0 - PIXEL_MEAN) / PIXEL_STD
        return self.backbone.visualEncoder(pixels)[:, a - lo:b - lo]

    def forward(self, faces: torch.Tensor, mfcc: torch.Tensor, bfloat16: bool = False) -> torch.Tensor:
        """Speaking probability per frame, (B, T)."""
        return torch.softmax(self.speaking_head(self.embed(faces, mfcc, bfloat16=bfloat16)), dim=-1)[..., 1]


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX or AVX-512 BF16, Linux):
    there the visual encoder runs ~2.5x faster in bfloat16; elsewhere bfloat16 is
    emulated and slower than float32."""
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"amx_bf16", "avx512_bf16"} & set(flags.split()))


def use_bfloat16(precision: str) -> bool:
    """SpeakerParams.asd_precision -> run the visual encoder in bfloat16?"""
    if precision not in ("auto", "float32", "bfloat16"):
        raise ValueError(f"unknown Light-ASD precision {precision!r} (auto, float32 or bfloat16)")
    return precision == "bfloat16" or (precision == "auto" and native_bfloat16())


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def renamed_state_dict(published: dict) -> dict:
    """The authors' keys (model.*, lossAV.FC.*, lossV.FC.*) under this module's names."""
    out = {}
    for key, value in published.items():
        prefix = next((p for p in _RENAME if key.startswith(p)), None)
        if prefix is None:
            raise ValueError(f"unexpected key {key!r} in a Light-ASD state dict")
        out[_RENAME[prefix] + key[len(prefix):]] = value
    return out


def load_light_asd(path: str | Path | None = None, check_sha256: bool = True) -> LightASD:
    """The network with the published weights, in eval mode (every key must match)."""
    path = Path(path or WEIGHTS)
    if not path.is_file():
        raise FileNotFoundError(f"Light-ASD weights not found at {path}")
    if check_sha256 and path.resolve() == WEIGHTS.resolve() and sha256_file(path) != WEIGHTS_SHA256:
        raise ValueError(f"{path} is not the published Light-ASD TalkSet file (sha256 differs)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = LightASD()
    model.load_state_dict(renamed_state_dict(state), strict=True)
    return model.eval()
