//===- CudaRuntime.cpp - the host functions of lowered GPU code -*- C++ -*-===//
//
// Defines the mgpu* functions that gpu-to-llvm emits calls to (module load,
// kernel launch, streams, events, device memory), over the CUDA driver API,
// plus the control functions of AttnCudaRuntime.h.
//
// libcuda.so.1 is opened with dlopen on first use: the library builds
// without the CUDA toolkit and runs with the driver alone. It is plain C++
// without the standard library, so it loads next to any C++ runtime.
//
// - Module loads run from global constructors of the compiled code; kernel
//   handles are cached per (module, name).
// - mgpuStreamCreate hands out one stream (the runtime's own, or the one set
//   with attnCudaSetStream); destroying it is a no-op.
// - Device memory (the split-KV scratch) comes from a small cache of blocks
//   per stream: a freed block is reused by later calls on the same stream,
//   which the stream orders after its last use, so a call allocates nothing
//   once warm and never synchronizes.
// - A launch with an empty grid is skipped (dynamic sizes of 0, and the
//   kernel variants the host code did not pick).
//
//===----------------------------------------------------------------------===//

#include "attn/Runtime/AttnCudaRuntime.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

namespace {

// The driver API's types, as cuda.h declares them.
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUevent = struct CUevent_st *;
constexpr int kMaxDynamicSharedSizeBytes = 8; // CU_FUNC_ATTRIBUTE_...
constexpr int kJitOptimizationLevel = 7;      // CU_JIT_OPTIMIZATION_LEVEL
constexpr unsigned kEventDisableTiming = 2;   // CU_EVENT_DISABLE_TIMING
constexpr unsigned kMemAttachGlobal = 1;      // CU_MEM_ATTACH_GLOBAL

#define ATTN_CUDA_FUNCTIONS(X)                                                 \
  X(cuInit, (unsigned))                                                        \
  X(cuGetErrorString, (CUresult, const char **))                               \
  X(cuDeviceGet, (CUdevice *, int))                                            \
  X(cuDevicePrimaryCtxRetain, (CUcontext *, CUdevice))                         \
  X(cuCtxSetCurrent, (CUcontext))                                              \
  X(cuCtxSynchronize, ())                                                      \
  X(cuModuleLoadData, (CUmodule *, const void *))                              \
  X(cuModuleLoadDataEx, (CUmodule *, const void *, unsigned, int *, void **))  \
  X(cuModuleUnload, (CUmodule))                                                \
  X(cuModuleGetFunction, (CUfunction *, CUmodule, const char *))               \
  X(cuFuncSetAttribute, (CUfunction, int, int))                                \
  X(cuLaunchKernel,                                                            \
    (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,   \
     unsigned, CUstream, void **, void **))                                    \
  X(cuStreamCreate, (CUstream *, unsigned))                                    \
  X(cuStreamSynchronize, (CUstream))                                           \
  X(cuStreamWaitEvent, (CUstream, CUevent, unsigned))                          \
  X(cuEventCreate, (CUevent *, unsigned))                                      \
  X(cuEventDestroy_v2, (CUevent))                                              \
  X(cuEventSynchronize, (CUevent))                                             \
  X(cuEventRecord, (CUevent, CUstream))                                        \
  X(cuMemAlloc_v2, (CUdeviceptr *, size_t))                                    \
  X(cuMemAllocManaged, (CUdeviceptr *, size_t, unsigned))                      \
  X(cuMemFree_v2, (CUdeviceptr))                                               \
  X(cuMemcpyAsync, (CUdeviceptr, CUdeviceptr, size_t, CUstream))               \
  X(cuMemsetD32Async, (CUdeviceptr, unsigned, size_t, CUstream))               \
  X(cuMemsetD16Async, (CUdeviceptr, unsigned short, size_t, CUstream))

struct Driver {
#define ATTN_DECLARE(name, params) CUresult(*name) params = nullptr;
  ATTN_CUDA_FUNCTIONS(ATTN_DECLARE)
#undef ATTN_DECLARE
  bool loaded = false;
  CUcontext context = nullptr;
};

Driver driver;
pthread_once_t driverOnce = PTHREAD_ONCE_INIT;
pthread_mutex_t stateMutex = PTHREAD_MUTEX_INITIALIZER;
char lastError[512];
bool hasError = false;
CUstream ownStream = nullptr;
CUstream userStream = nullptr;
int defaultDevice = 0;

void recordError(const char *what, const char *detail) {
  pthread_mutex_lock(&stateMutex);
  if (!hasError) {
    snprintf(lastError, sizeof(lastError), "attn cuda runtime: %s: %s", what,
             detail);
    hasError = true;
    fprintf(stderr, "%s\n", lastError);
  }
  pthread_mutex_unlock(&stateMutex);
}

void loadDriver() {
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
  if (!lib) {
    recordError("cannot load libcuda.so.1 (is the NVIDIA driver installed?)",
                dlerror());
    return;
  }
#define ATTN_RESOLVE(name, params)                                             \
  driver.name = reinterpret_cast<CUresult(*) params>(dlsym(lib, #name));       \
  if (!driver.name) {                                                          \
    recordError("libcuda.so.1 lacks", #name);                                  \
    return;                                                                    \
  }
  ATTN_CUDA_FUNCTIONS(ATTN_RESOLVE)
#undef ATTN_RESOLVE
  CUdevice device;
  if (driver.cuInit(0) || driver.cuDeviceGet(&device, defaultDevice) ||
      driver.cuDevicePrimaryCtxRetain(&driver.context, device)) {
    recordError("cannot initialize", "cuInit/cuDevicePrimaryCtxRetain failed");
    return;
  }
  driver.loaded = true;
}

/// Loads the driver once and makes the device's primary context (the one
/// CUDA runtime users and frameworks share) current on this thread.
bool ready() {
  pthread_once(&driverOnce, loadDriver);
  if (!driver.loaded)
    return false;
  static thread_local bool current = false;
  if (!current) {
    if (driver.cuCtxSetCurrent(driver.context))
      return false;
    current = true;
  }
  return true;
}

/// Checks a driver call; records the first failure.
bool check(CUresult result, const char *call) {
  if (result == 0)
    return true;
  const char *message = "unknown error";
  if (driver.cuGetErrorString)
    driver.cuGetErrorString(result, &message);
  recordError(call, message);
  return false;
}

// Kernel handles by (module, name): lowered code asks at every launch.
struct KernelEntry {
  CUmodule module;
  const char *name;
  CUfunction function;
  int sharedBytesAllowed;
};
constexpr int kMaxKernels = 4096;
KernelEntry kernels[kMaxKernels];
int numKernels = 0;

KernelEntry *findKernel(CUfunction function) {
  for (int i = 0; i < numKernels; ++i)
    if (kernels[i].function == function)
      return &kernels[i];
  return nullptr;
}

// Cached device blocks: never returned to the driver while the process
// lives.
struct Block {
  CUdeviceptr ptr;
  size_t size;
  CUstream stream;
  bool inUse;
};
constexpr int kMaxBlocks = 4096;
Block blocks[kMaxBlocks];
int numBlocks = 0;

/// A free cached block of `size` to `2 * size` bytes last used on `stream`,
/// or a new one.
CUdeviceptr allocateBlock(size_t size, CUstream stream) {
  pthread_mutex_lock(&stateMutex);
  for (int i = 0; i < numBlocks; ++i) {
    Block &block = blocks[i];
    if (!block.inUse && block.stream == stream && block.size >= size &&
        block.size <= 2 * size) {
      block.inUse = true;
      pthread_mutex_unlock(&stateMutex);
      return block.ptr;
    }
  }
  pthread_mutex_unlock(&stateMutex);
  CUdeviceptr ptr = 0;
  if (!check(driver.cuMemAlloc_v2(&ptr, size), "cuMemAlloc"))
    return 0;
  pthread_mutex_lock(&stateMutex);
  if (numBlocks < kMaxBlocks)
    blocks[numBlocks++] = {ptr, size, stream, true};
  pthread_mutex_unlock(&stateMutex);
  return ptr;
}

/// Returns a cached block; false for memory the cache does not hold.
bool releaseBlock(CUdeviceptr ptr, CUstream stream) {
  pthread_mutex_lock(&stateMutex);
  bool found = false;
  for (int i = 0; i < numBlocks && !found; ++i)
    if (blocks[i].ptr == ptr) {
      blocks[i].inUse = false;
      blocks[i].stream = stream;
      found = true;
    }
  pthread_mutex_unlock(&stateMutex);
  return found;
}

} // namespace

extern "C" {

//===----------------------------------------------------------------------===//
// Control functions (AttnCudaRuntime.h)
//===----------------------------------------------------------------------===//

void attnCudaSetStream(void *stream) {
  pthread_mutex_lock(&stateMutex);
  userStream = static_cast<CUstream>(stream);
  pthread_mutex_unlock(&stateMutex);
}

int attnCudaSynchronize(void) {
  if (!ready())
    return -1;
  return check(driver.cuCtxSynchronize(), "cuCtxSynchronize") ? 0 : -1;
}

const char *attnCudaGetLastError(void) {
  static char reported[sizeof(lastError)];
  pthread_mutex_lock(&stateMutex);
  const char *result = nullptr;
  if (hasError) {
    memcpy(reported, lastError, sizeof(lastError));
    hasError = false;
    result = reported;
  }
  pthread_mutex_unlock(&stateMutex);
  return result;
}

//===----------------------------------------------------------------------===//
// The functions lowered GPU code calls
//===----------------------------------------------------------------------===//

void mgpuSetDefaultDevice(int32_t device) { defaultDevice = device; }

CUmodule mgpuModuleLoad(void *data, size_t /*size*/) {
  CUmodule module = nullptr;
  if (ready())
    check(driver.cuModuleLoadData(&module, data), "cuModuleLoadData");
  return module;
}

CUmodule mgpuModuleLoadJIT(void *data, int optLevel) {
  CUmodule module = nullptr;
  if (!ready())
    return nullptr;
  int options[] = {kJitOptimizationLevel};
  void *values[] = {reinterpret_cast<void *>(static_cast<intptr_t>(optLevel))};
  check(driver.cuModuleLoadDataEx(&module, data, 1, options, values),
        "cuModuleLoadDataEx (PTX JIT)");
  return module;
}

void mgpuModuleUnload(CUmodule module) {
  // Runs from global destructors, possibly after the driver shut down at
  // exit: nothing to report then.
  if (module && ready())
    driver.cuModuleUnload(module);
}

CUfunction mgpuModuleGetFunction(CUmodule module, const char *name) {
  if (!module || !ready())
    return nullptr;
  pthread_mutex_lock(&stateMutex);
  CUfunction function = nullptr;
  for (int i = 0; i < numKernels && !function; ++i)
    if (kernels[i].module == module &&
        (kernels[i].name == name || !strcmp(kernels[i].name, name)))
      function = kernels[i].function;
  pthread_mutex_unlock(&stateMutex);
  if (function)
    return function;
  if (!check(driver.cuModuleGetFunction(&function, module, name),
             "cuModuleGetFunction"))
    return nullptr;
  pthread_mutex_lock(&stateMutex);
  if (numKernels < kMaxKernels)
    kernels[numKernels++] = {module, name, function, 0};
  pthread_mutex_unlock(&stateMutex);
  return function;
}

void mgpuLaunchKernel(CUfunction function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t sharedBytes, CUstream stream,
                      void **params, void **extra, size_t /*paramsCount*/) {
  if (gridX <= 0 || gridY <= 0 || gridZ <= 0)
    return;
  if (!function) {
    recordError("launch", "the kernel was not loaded");
    return;
  }
  if (!ready())
    return;
  // Dynamic shared memory is allowed explicitly, once per kernel: past 48
  // KiB of static and dynamic shared memory together a launch needs it.
  pthread_mutex_lock(&stateMutex);
  KernelEntry *entry = findKernel(function);
  bool raise =
      entry ? sharedBytes > entry->sharedBytesAllowed : sharedBytes > 0;
  if (raise)
    entry->sharedBytesAllowed = sharedBytes;
  pthread_mutex_unlock(&stateMutex);
  if (raise && !check(driver.cuFuncSetAttribute(
                          function, kMaxDynamicSharedSizeBytes, sharedBytes),
                      "cuFuncSetAttribute(max dynamic shared memory)"))
    return;
  CUresult result =
      driver.cuLaunchKernel(function, gridX, gridY, gridZ, blockX, blockY,
                            blockZ, sharedBytes, stream, params, extra);
  if (result != 0) {
    // Which launch failed, with its configuration.
    char what[256];
    snprintf(what, sizeof(what),
             "cuLaunchKernel(%s, grid %ld x %ld x %ld, block %ld x %ld x %ld, "
             "%d B shared)",
             entry ? entry->name : "?", (long)gridX, (long)gridY, (long)gridZ,
             (long)blockX, (long)blockY, (long)blockZ, sharedBytes);
    check(result, what);
  }
}

CUstream mgpuStreamCreate() {
  if (!ready())
    return nullptr;
  pthread_mutex_lock(&stateMutex);
  CUstream stream = userStream;
  if (!stream) {
    if (!ownStream)
      // A blocking stream: ordered after work on the legacy default stream
      // (stream 0), where a caller's inputs may still be in flight.
      check(driver.cuStreamCreate(&ownStream, 0), "cuStreamCreate");
    stream = ownStream;
  }
  pthread_mutex_unlock(&stateMutex);
  return stream;
}

void mgpuStreamDestroy(CUstream) {}

void mgpuStreamSynchronize(CUstream stream) {
  // Calls on a caller's stream stay asynchronous, as the framework's own.
  if (!ready() || (userStream && stream == userStream))
    return;
  check(driver.cuStreamSynchronize(stream), "cuStreamSynchronize");
}

void mgpuStreamWaitEvent(CUstream stream, CUevent event) {
  if (ready())
    check(driver.cuStreamWaitEvent(stream, event, 0), "cuStreamWaitEvent");
}

CUevent mgpuEventCreate() {
  CUevent event = nullptr;
  if (ready())
    check(driver.cuEventCreate(&event, kEventDisableTiming), "cuEventCreate");
  return event;
}

void mgpuEventDestroy(CUevent event) {
  if (ready())
    check(driver.cuEventDestroy_v2(event), "cuEventDestroy");
}

void mgpuEventSynchronize(CUevent event) {
  if (ready())
    check(driver.cuEventSynchronize(event), "cuEventSynchronize");
}

void mgpuEventRecord(CUevent event, CUstream stream) {
  if (ready())
    check(driver.cuEventRecord(event, stream), "cuEventRecord");
}

void *mgpuMemAlloc(uint64_t sizeBytes, CUstream stream, bool isHostShared) {
  CUdeviceptr ptr = 0;
  if (!ready() || sizeBytes == 0)
    return nullptr;
  if (isHostShared)
    check(driver.cuMemAllocManaged(&ptr, sizeBytes, kMemAttachGlobal),
          "cuMemAllocManaged");
  else
    ptr = allocateBlock(sizeBytes, stream);
  return reinterpret_cast<void *>(ptr);
}

void mgpuMemFree(void *ptr, CUstream stream) {
  if (!ptr || !ready())
    return;
  auto devicePtr = reinterpret_cast<CUdeviceptr>(ptr);
  if (!releaseBlock(devicePtr, stream)) {
    // Not from the cache (managed memory): free once the stream is done.
    check(driver.cuStreamSynchronize(stream), "cuStreamSynchronize");
    check(driver.cuMemFree_v2(devicePtr), "cuMemFree");
  }
}

void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, CUstream stream) {
  if (ready())
    check(driver.cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                               reinterpret_cast<CUdeviceptr>(src), sizeBytes,
                               stream),
          "cuMemcpyAsync");
}

void mgpuMemset32(void *dst, unsigned value, size_t count, CUstream stream) {
  if (ready())
    check(driver.cuMemsetD32Async(reinterpret_cast<CUdeviceptr>(dst), value,
                                  count, stream),
          "cuMemsetD32Async");
}

void mgpuMemset16(void *dst, unsigned short value, size_t count,
                  CUstream stream) {
  if (ready())
    check(driver.cuMemsetD16Async(reinterpret_cast<CUdeviceptr>(dst), value,
                                  count, stream),
          "cuMemsetD16Async");
}

} // extern "C"
