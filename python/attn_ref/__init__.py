"""NumPy references of ALGORITHMS.md, the contract the tests check."""

from .reference import merge, sdpa
from .hyper import hyper_attention, lsh_sort_bucket, projections
from .sparq import gather, sparq, sparq_transfer_ratio, topk

__all__ = ["gather", "hyper_attention", "lsh_sort_bucket", "merge",
           "projections", "sdpa", "sparq", "sparq_transfer_ratio", "topk"]
