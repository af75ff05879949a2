"""attn_mlir: the attn MLIR project from Python.

ctypes over libAttnCAPI.so (the C API of include/attn-c plus the upstream C
API and ExecutionEngine it bundles); NumPy in and out.

    import attn_mlir
    module = attn_mlir.parse(text)              # any upstream or attn IR
    module.run("attn-raise-sdpa, canonicalize") # a pass pipeline, in place
    print(module)
    f = attn_mlir.compile(module).attention     # JIT for this CPU
    out = f(q, k, v)                            # NumPy arrays
    out = attn_mlir.attention(q, k, v, variant="sparq", top_k=64)

attn_mlir.reference holds the NumPy references of ALGORITHMS.md and needs
no compiled library. From a build tree, put <build>/python_packages on
PYTHONPATH; elsewhere set ATTN_MLIR_LIBRARY to libAttnCAPI.so (and
ATTN_MLIR_OMP_LIBRARY to the libomp.so compiled code calls).
"""

from . import reference
from ._capi import MlirError
from .attention import attention, pipeline_for, sdpa_module_text
from .execution import CompiledModule, Function, compile
from .ir import Context, Diagnostic, Module, default_context, parse

__all__ = ["CompiledModule", "Context", "Diagnostic", "Function",
           "MlirError", "Module", "attention", "compile", "default_context",
           "parse", "pipeline_for", "reference", "sdpa_module_text"]
