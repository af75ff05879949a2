# UNSUPPORTED: cuda-driver
# RUN: %python %s %attn_lib_dir/libattn_cuda_runtime.so

# Checks that the CUDA runtime loads where there is no NVIDIA driver and
# reports that instead of crashing: the calls fail cleanly and the error
# names libcuda.so.1 once, then clears.
import ctypes
import sys

lib = ctypes.CDLL(sys.argv[1])
lib.attnCudaGetLastError.restype = ctypes.c_char_p
lib.mgpuStreamCreate.restype = ctypes.c_void_p
assert lib.attnCudaGetLastError() is None
assert lib.attnCudaSynchronize() == -1
error = lib.attnCudaGetLastError()
assert error is not None and b"libcuda.so.1" in error, error
assert lib.attnCudaGetLastError() is None
assert lib.mgpuStreamCreate() is None
# A launch with an empty grid is skipped before the driver is needed.
lib.mgpuLaunchKernel(None, 0, 1, 1, 32, 1, 1, 0, None, None, None, 0)
assert lib.attnCudaGetLastError() is None
print("ok")
