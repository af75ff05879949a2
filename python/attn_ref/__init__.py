"""NumPy references of ALGORITHMS.md, the contract the tests check."""

from .reference import merge, sdpa
from .sparq import gather, sparq, sparq_transfer_ratio, topk

__all__ = ["gather", "merge", "sdpa", "sparq", "sparq_transfer_ratio", "topk"]
