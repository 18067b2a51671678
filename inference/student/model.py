"""Compact CRNN for speech emotion: log-mel -> conv blocks -> BiGRU ->
attention pooling over time -> 7-class logits + (valence, arousal).

Small enough to train on CPU in minutes for a few thousand segments
(about 0.1 M parameters with the defaults; ~36 training segments/s of
3 s on one loaded CPU thread, see bench/student.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from labelstudio_emo.emotions import EMOTIONS

ARCH = "crnn-attn"


@dataclass(frozen=True)
class ModelConfig:
    n_mels: int = 64
    channels: tuple = (16, 32, 64)
    rnn_hidden: int = 64          # 0 = no GRU (plain CNN + attention)
    dropout: float = 0.3
    n_classes: int = len(EMOTIONS)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["channels"] = list(self.channels)
        return data

    @classmethod
    def from_dict(cls, data: dict | None) -> "ModelConfig":
        data = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        if "channels" in data:
            data["channels"] = tuple(data["channels"])
        return cls(**data)


class ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, pool: tuple[int, int]):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.MaxPool2d(pool),
        )

    def forward(self, x):
        return self.body(x)


class AttentionPool(nn.Module):
    """Weighted mean over time; weights from a small scorer, padding masked out."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim // 2 or 1), nn.Tanh(), nn.Linear(dim // 2 or 1, 1))

    def forward(self, h: torch.Tensor, mask: torch.Tensor):
        # h: [B, T, D]; mask: [B, T] True where real frames
        scores = self.score(h).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return torch.bmm(weights.unsqueeze(1), h).squeeze(1), weights


class StudentNet(nn.Module):
    def __init__(self, cfg: ModelConfig = ModelConfig()):
        super().__init__()
        self.cfg = cfg
        # Per-mel-band normalisation fitted on the training set (saved with the weights).
        self.register_buffer("feat_mean", torch.zeros(cfg.n_mels))
        self.register_buffer("feat_std", torch.ones(cfg.n_mels))
        blocks, c_in = [], 1
        for i, c_out in enumerate(cfg.channels):
            time_pool = 2 if i < 2 else 1  # 10 ms frames -> 40 ms steps after two blocks
            blocks.append(ConvBlock(c_in, c_out, (2, time_pool)))
            c_in = c_out
        self.conv = nn.Sequential(*blocks)
        self.time_stride = 4 if len(cfg.channels) >= 2 else 2 ** len(cfg.channels)
        dim = c_in
        self.rnn = None
        if cfg.rnn_hidden:
            self.rnn = nn.GRU(c_in, cfg.rnn_hidden, batch_first=True, bidirectional=True)
            dim = 2 * cfg.rnn_hidden
        self.pool = AttentionPool(dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(dim, cfg.n_classes)
        self.va_head = nn.Linear(dim, 2)

    def set_normalisation(self, mean, std):
        self.feat_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feat_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-3))

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None):
        """feats [B, n_mels, T] log-mel, lengths [B] frames -> dict(logits [B, C], va [B, 2], attention)."""
        x = (feats - self.feat_mean[None, :, None]) / self.feat_std[None, :, None]
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[-1], device=x.device)
        x = self.conv(x.unsqueeze(1))               # [B, C, F', T']
        x = x.mean(dim=2).transpose(1, 2)           # [B, T', C]
        steps = x.shape[1]
        out_len = torch.clamp(torch.div(lengths, self.time_stride, rounding_mode="floor"), 1, steps)
        mask = torch.arange(steps, device=x.device)[None, :] < out_len[:, None]
        if self.rnn is not None:
            packed = nn.utils.rnn.pack_padded_sequence(x, out_len.cpu(), batch_first=True, enforce_sorted=False)
            x, _ = self.rnn(packed)
            x, _ = nn.utils.rnn.pad_packed_sequence(x, batch_first=True, total_length=steps)
        pooled, weights = self.pool(x, mask)
        pooled = self.dropout(pooled)
        return {"logits": self.classifier(pooled), "va": torch.tanh(self.va_head(pooled)), "attention": weights}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
