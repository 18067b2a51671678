"""to_dict / from_dict for the student's frozen config dataclasses (stored in
TrainingRun.config and checkpoints as plain JSON; tuples travel as lists,
unknown keys from older runs are ignored)."""

from __future__ import annotations

from dataclasses import asdict


class JsonConfig:
    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict | None):
        kept = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in kept.items()})
