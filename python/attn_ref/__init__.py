"""NumPy references of ALGORITHMS.md, the contract the tests check."""

from .reference import merge, sdpa
from .hyper import hyper_attention, lsh_sort_bucket, projections
from .sparq import gather, sparq, sparq_transfer_ratio, topk
from .turbo import (dequantize, head_priority, poly_exp, poly_exp64,
                    quantize, quantized_sdpa)

__all__ = ["dequantize", "gather", "head_priority", "hyper_attention",
           "lsh_sort_bucket", "merge", "poly_exp", "poly_exp64", "projections",
           "quantize", "quantized_sdpa", "sdpa", "sparq",
           "sparq_transfer_ratio", "topk"]
