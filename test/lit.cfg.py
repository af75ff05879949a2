# -*- Python -*-
"""lit configuration of the check-attn suite."""

import os
import sys

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "ATTN"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".py", ".c"]
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "lib", "CMakeLists.txt"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attn_obj_root, "test")

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
# The attn_mlir package as the build copies it (it knows this build's
# libAttnCAPI.so).
llvm_config.with_environment(
    "PYTHONPATH", os.path.join(config.attn_obj_root, "python_packages"),
    append_path=True)

# The sanitized tools must not report the JIT-ed code's allocations or the
# process-lifetime singletons of LLVM as leaks. LLVM's BumpPtrAllocator
# poisons a new slab and unpoisons each allocation only where it is
# compiled with AddressSanitizer: our code (instrumented) and Debian's
# libMLIR (not) allocate from the same slabs of the context's storage
# uniquer, so allocations made in libMLIR from a slab started by our code
# would read as poisoned. Manual poisoning is therefore off; heap, stack
# and global checks are unaffected.
asan_options = "detect_leaks={}:abort_on_error=1:allow_user_poisoning=0"
if config.attn_sanitizers:
    config.environment["ASAN_OPTIONS"] = asan_options.format(1)
    config.environment["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"

# Processes that are not built with the sanitizers (upstream mlir-opt,
# Python) load sanitized libraries of this build only with the sanitizer
# runtime preloaded; their own leaks are not this project's.
if config.attn_sanitizers:
    config.substitutions.append(
        ("%sanitizer_preload",
         "env LD_PRELOAD=" + config.attn_asan_runtime +
         " ASAN_OPTIONS=" + asan_options.format(0)))
else:
    config.substitutions.append(("%sanitizer_preload", ""))

# Tests use the interpreter lit itself runs under (Debian's, with NumPy).
python = sys.executable
config.substitutions.append(("%python", python))
config.substitutions.append(
    ("%check-attn",
     python + " " + os.path.join(config.test_source_root, "lib",
                                 "check_attn.py")
     + " --attn-run " + os.path.join(config.attn_tools_dir, "attn-run")))

# ptxas from a CUDA toolkit, for the tests that assemble the NVVM kernels
# (skipped without one); a CUDA driver changes what the runtime tests see.
import ctypes
import shutil
ptxas = shutil.which("ptxas") or (
    "/usr/local/cuda/bin/ptxas"
    if os.path.exists("/usr/local/cuda/bin/ptxas") else None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))
try:
    ctypes.CDLL("libcuda.so.1")
    config.available_features.add("cuda-driver")
except OSError:
    pass
config.substitutions.append(
    ("%extract-ptx", python + " " + os.path.join(config.test_source_root,
                                                 "lib", "extract_ptx.py")))
config.substitutions.append(("%attn_lib_dir",
                             os.path.join(config.attn_obj_root, "lib")))
config.substitutions.append(("%attn_src_root", config.attn_src_root))

config.substitutions.append(("%omp_lib", config.attn_omp_library))

tools = [
    ToolSubst("attn-opt", unresolved="fatal"),
    ToolSubst("attn-run", unresolved="fatal"),
    ToolSubst("attn-capi-test", unresolved="fatal"),
]
llvm_config.add_tool_substitutions(
    [ToolSubst("mlir-opt", unresolved="fatal")], [config.llvm_tools_dir])
llvm_config.add_tool_substitutions(tools, [config.attn_tools_dir])
