"""Content checksums of weights files (no torch: the web process checks names
and sums without loading a model)."""

import hashlib


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
