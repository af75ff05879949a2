"""NumPy references of the attn dialect's ops (ALGORITHMS.md)."""

from .reference import merge, sdpa

__all__ = ["merge", "sdpa"]
