"""The Whisper encoder in PyTorch, read from a CTranslate2 model.bin, giving
the hidden states of intermediate layers (pure: weights file + log-mels in,
arrays out).

CTranslate2 returns only the encoder's final output; for emotion, the middle
layers carry more of the speaker's tone (on RAVDESS, see encoders.py). The
layout of model.bin is the one CTranslate2's specs/model_spec.py writes:
version, spec name, revision, then named arrays (shape, dtype id, raw bytes),
then aliases (name -> other name).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# Order of CTranslate2's DataType enum; bfloat16 has no numpy type.
CT2_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


class WeightsFormatError(ValueError):
    """model.bin is not a readable CTranslate2 Whisper model with float weights."""


def read_ct2_variables(path: Path, prefix: str = "") -> dict[str, np.ndarray]:
    """The arrays of a CTranslate2 model.bin whose names start with prefix (aliases resolved)."""
    data = Path(path).read_bytes()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        value = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return value[0]

    def string() -> str:
        nonlocal pos
        size = take("H")   # length including the trailing NUL
        text = data[pos:pos + size - 1].decode("utf-8")
        pos += size
        return text

    try:
        take("I")          # binary version
        spec = string()
        take("I")          # spec revision
        arrays: dict[str, np.ndarray] = {}
        for _ in range(take("I")):
            name = string()
            shape = [take("I") for _ in range(take("B"))]
            dtype = CT2_DTYPES[take("B")]
            size = take("I")
            if name.startswith(prefix):
                if dtype == "bfloat16":
                    raise WeightsFormatError(f"{path}: {name} is bfloat16; convert the model with float16/float32")
                arrays[name] = np.frombuffer(data, dtype=dtype, count=size // np.dtype(dtype).itemsize,
                                             offset=pos).reshape(shape)
            pos += size
        for _ in range(take("I")):
            alias, target = string(), string()
            if alias.startswith(prefix) and target in arrays:
                arrays[alias] = arrays[target]
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise WeightsFormatError(f"{path} is not a CTranslate2 model file ({exc})") from exc
    if "Whisper" not in spec:
        raise WeightsFormatError(f"{path} holds a {spec}, not a Whisper model")
    return arrays


class WhisperLayers:
    """Whisper's encoder: two GELU convolutions (the second with stride 2),
    sinusoidal positions, pre-LayerNorm transformer blocks, final LayerNorm."""

    def __init__(self, weights: Path):
        import torch

        arrays = read_ct2_variables(weights, "encoder/")
        if "encoder/num_heads" not in arrays:
            raise WeightsFormatError(f"{weights} has no Whisper encoder")
        if any(a.dtype == np.int8 and a.ndim == 2 for a in arrays.values()):
            raise WeightsFormatError(f"{weights} is int8-quantized; intermediate layers need float16/float32 weights")
        self.heads = int(arrays.pop("encoder/num_heads"))
        self.w = {k[len("encoder/"):]: torch.from_numpy(a.astype(np.float32)) for k, a in arrays.items()}
        self.n_layers = sum(1 for k in self.w if k.endswith("self_attention/linear_0/weight"))
        self.dim = int(self.w["conv1/bias"].shape[0])
        self.max_frames = int(self.w["position_encodings/encodings"].shape[0])

    def _norm(self, x, name: str):
        import torch.nn.functional as F
        return F.layer_norm(x, x.shape[-1:], self.w[name + "/gamma"], self.w[name + "/beta"], 1e-5)

    def _linear(self, x, name: str):
        import torch.nn.functional as F
        return F.linear(x, self.w[name + "/weight"], self.w[name + "/bias"])

    def hidden_states(self, mels: np.ndarray, layers: tuple[int, ...]) -> np.ndarray:
        """[batch, n_mels, frames] log-mels -> [batch, frames / 2, dim * len(layers)]: the
        residual stream after each listed block (1-based; n_layers + 1 = the final
        LayerNorm, i.e. CTranslate2's output), concatenated in the order given."""
        import torch
        import torch.nn.functional as F

        w, wanted = self.w, set(layers)
        out: dict[int, torch.Tensor] = {}
        with torch.inference_mode():
            x = F.gelu(F.conv1d(torch.from_numpy(np.ascontiguousarray(mels, np.float32)),
                                w["conv1/weight"], w["conv1/bias"], padding=1))
            x = F.gelu(F.conv1d(x, w["conv2/weight"], w["conv2/bias"], stride=2, padding=1)).transpose(1, 2)
            x = x + w["position_encodings/encodings"][: x.shape[1]]
            batch, frames, dim = x.shape
            for block in range(1, min(max(layers), self.n_layers) + 1):
                p = f"layer_{block - 1}/"
                qkv = self._linear(self._norm(x, p + "self_attention/layer_norm"), p + "self_attention/linear_0")
                q, k, v = qkv.view(batch, frames, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
                attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, frames, dim)
                x = x + self._linear(attended, p + "self_attention/linear_1")
                hidden = F.gelu(self._linear(self._norm(x, p + "ffn/layer_norm"), p + "ffn/linear_0"))
                x = x + self._linear(hidden, p + "ffn/linear_1")
                if block in wanted:
                    out[block] = x
            if self.n_layers + 1 in wanted:
                out[self.n_layers + 1] = self._norm(x, "layer_norm")
            return torch.cat([out[n] for n in layers], dim=-1).numpy()
