/*===- AttnCudaRuntime.h - calling compiled attention on a GPU ----*- C -*-===*\
|*                                                                            *|
|* The C ABI of code compiled with --attn-lower-to-nvvm, and the control     *|
|* functions of libattn_cuda_runtime, the project's runtime over the CUDA    *|
|* driver API. The runtime loads libcuda.so.1 when first used, so programs   *|
|* and libraries linked against it run where only the NVIDIA driver is       *|
|* installed (no CUDA toolkit), and build where there is no driver at all.   *|
|*                                                                            *|
|* Calling a compiled function. For                                          *|
|*                                                                            *|
|*   func.func @attn(%q: tensor<1x32x1x128xbf16>, %k: tensor<1x8x?x128xbf16>,*|
|*                   %v: tensor<1x8x?x128xbf16>) -> tensor<1x32x1x128xbf16>  *|
|*                                                                            *|
|* the pipeline emits                                                        *|
|*                                                                            *|
|*   void _mlir_ciface_attn(AttnMemRef4D *q, AttnMemRef4D *k,                 *|
|*                          AttnMemRef4D *v, AttnMemRef4D *out);              *|
|*                                                                            *|
|* Arguments come first, then one descriptor per result, which the callee   *|
|* writes into (it allocates no result). Every `allocated`/`aligned` pointer *|
|* is a device pointer (cudaMalloc, a PyTorch CUDA tensor's data_ptr(), ...) *|
|* to a contiguous row-major array: `offset` must be 0 and `strides` are     *|
|* not read. Pointers of f16/bf16 tensors must be 16-byte aligned. `sizes`   *|
|* give the dynamic dims; results must be sized by the caller.               *|
|*                                                                            *|
|* Streams. By default each call runs on a stream of the runtime's own and  *|
|* returns when its kernels are done. After attnCudaSetStream(s) calls are   *|
|* enqueued on `s` (a CUstream / cudaStream_t, e.g. PyTorch's                *|
|* torch.cuda.current_stream().cuda_stream) and return at once, ordered     *|
|* with the framework's own work on that stream.                            *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTN_RUNTIME_ATTNCUDARUNTIME_H
#define ATTN_RUNTIME_ATTNCUDARUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A ranked memref descriptor, as MLIR lays it out.
#define ATTN_MEMREF_DESCRIPTOR(NAME, RANK)                                     \
  typedef struct {                                                             \
    void *allocated;                                                           \
    void *aligned;                                                             \
    int64_t offset;                                                            \
    int64_t sizes[RANK];                                                       \
    int64_t strides[RANK];                                                     \
  } NAME;

ATTN_MEMREF_DESCRIPTOR(AttnMemRef1D, 1)
ATTN_MEMREF_DESCRIPTOR(AttnMemRef2D, 2)
ATTN_MEMREF_DESCRIPTOR(AttnMemRef3D, 3)
ATTN_MEMREF_DESCRIPTOR(AttnMemRef4D, 4)

/// Enqueues later calls on `stream` and makes them asynchronous; NULL goes
/// back to the runtime's own stream and synchronous calls.
void attnCudaSetStream(void *stream);

/// Waits for all work of the calls so far. Returns 0, or -1 on an error.
int attnCudaSynchronize(void);

/// The first error since the last call (CUDA driver errors, a missing
/// driver, a kernel that failed to load), or NULL; clears it.
const char *attnCudaGetLastError(void);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_RUNTIME_ATTNCUDARUNTIME_H */
