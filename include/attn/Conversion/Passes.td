//===- Passes.td - attn conversion passes ------------------*- tablegen -*-===//

#ifndef ATTN_CONVERSION_PASSES_TD
#define ATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAttnToLoops : Pass<"convert-attn-to-loops"> {
  let summary = "Lower attn ops to a tiled online-softmax loop nest";
  let description = [{
    Replaces every `attn.sdpa` with a FlashAttention-style loop nest written
    in upstream dialects (`scf`, `vector`, `memref`, `arith`, `math`), and
    every `attn.merge` with `linalg.generic` ops on tensors.

    `attn.sdpa` becomes one `scf.parallel` over (batch, key/value head, block
    of `row-block` query rows). The rows of a block are the query rows of
    all query heads that share the key/value head (head-major), so a
    grouped-query decode step reads each key/value tile once for the whole
    group. Each work item walks the visible keys in tiles of `key-tile`,
    keeping the running row maximum, row sum and output accumulator (f32) in
    stack scratch of `row-block x (Dv + 2)` floats plus one `key-tile` score
    row: scratch does not grow with `Lq` or `Lk`. Dot products and the
    P·V update are vectors over the head dims; causal tiles past a block's
    last visible key are never visited.

    Operands enter and leave through `bufferization.to_buffer` /
    `bufferization.to_tensor`, so the result still lives in a module on
    tensors that one-shot bufferization finishes.

    Before:

    ```mlir
    %o = attn.sdpa %q, %k, %v causal
        : tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>
        -> tensor<1x8x?x64xf32>
    ```

    After (abridged):

    ```mlir
    %qb = bufferization.to_buffer %q read_only : ... to memref<1x8x?x64xf32>
    %out = memref.alloc(%lq) {alignment = 64 : i64} : memref<1x8x?x64xf32>
    scf.parallel (%b, %hkv, %blk) = (%c0, %c0, %c0) to (%c1, %c8, %nblk) ... {
      memref.alloca_scope {
        %acc = memref.alloca() : memref<16x64xf32>
        ...
        scf.for %k0 = %c0 to %kend step %c256 {     // key tiles
          scf.for %r = %c0 to %rows step %c1 {      // rows of the block
            // scores, online max/sum update, acc += P V
          }
        }
        // out = acc / sum, lse = max + log(sum)
      }
    }
    %o = bufferization.to_tensor %out restrict writable : ...
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
  let options = [
    Option<"rowBlock", "row-block", "int64_t", /*default=*/"16",
           "Query rows per parallel work item (> 0)">,
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"256",
           "Keys per tile of the online softmax (> 0)">,
  ];
}

def ExpandMath : Pass<"attn-expand-math"> {
  let summary = "Replace math.exp and math.log with vectorizable polynomials";
  let description = [{
    Rewrites f32 `math.exp` and `math.log` (scalars or vectors) into
    upstream's polynomial approximations, built from `arith` and `math.fma`
    ops and exponent-bit manipulation, so that vector code stays vector code
    instead of becoming one libm call per lane. Other `math` ops are left
    alone. The approximations are accurate to about 1e-7 relative on f32
    (the execution tests compare whole attention results with a float64
    reference at 2e-5).

    Before:

    ```mlir
    %e = math.exp %x : vector<64xf32>
    ```

    After (abridged):

    ```mlir
    %e = ... arith.mulf / math.fma / arith.bitcast ... : vector<64xf32>
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def ConvertAttnToGPU : Pass<"convert-attn-to-gpu", "ModuleOp"> {
  let summary = "Lower attn.sdpa, attn.sparq, attn.quantized_sdpa and HyperAttention's building blocks to GPU kernels (gpu.launch on one stream)";
  let description = [{
    Replaces every `attn.sdpa`, `attn.sparq`, `attn.quantized_sdpa`,
    `attn.lsh_hash`, `attn.lsh_sort` and `attn.lsh_sort_bucket` with host
    code that launches
    kernels designed for NVIDIA GPUs, in `gpu.launch` regions that
    `gpu-kernel-outlining` turns into `gpu.func`s of a `gpu.module`.

    `attn.sdpa`:

    - f16/bf16 with head dims that are multiples of 16 (up to 256): a
      FlashAttention-2-style tensor-core kernel. Each warp owns 16 query
      rows; key and value tiles of 64 keys stream through swizzled shared
      memory with `cp.async`; `S = Q K^T` and `O += P V` run on
      `mma.sync.m16n8k16` (`nvvm.mma.sync`, operands by `nvgpu.ldmatrix`)
      with f32 accumulators and the online softmax on the accumulator
      fragments. Causal tiles past a block's last visible key are never
      loaded.
      - decode (at most 16 query rows per key/value head, i.e. the query
        heads of a GQA group times Lq): one warp per block, so the query
        heads of a group share each key/value tile they read;
      - prefill: four warps of `prefill-row-tiles` x 16 query rows (128
        by default) per block.
      When Lq is dynamic both are emitted and the host picks one at run
      time (the other gets an empty grid).
    - Anything else (f32, other head dims): a CUDA-core kernel, one warp per
      query row.
    - A `mask` (`i1` or additive, rank 2 to 4) is applied per score in
      both, its static 1 dims broadcast. A stored mask is read before each
      tile's products (without clamping or bounds checks in the tiles
      every row sees whole). A mask that is the result of an elementwise
      `linalg.generic` (all loops parallel, the init not read, a body of
      pure scalar ops; HyperAttention's masks) is not stored at all: the
      kernels load the generic's inputs through its indexing maps and
      evaluate its body per score. In the tensor-core kernel an input
      indexed by the key alone (not by the query, nor by the head when
      heads are grouped) of 4 or 8 bytes is copied into shared memory with
      each key tile (`cp.async`), and an input indexed by the row alone is
      read once, before the key loop.

    When a launch would not fill `num-sms` multiprocessors, the keys are
    split (split-KV) into as many splits as give one block per slot (the
    kernel's blocks per SM times `num-sms`), each taking an even share of
    the key tiles (split s of S gets tiles [s T / S, (s + 1) T / S)): each
    split writes its normalized output and log-sum-exp to scratch from
    `gpu.alloc`, and a merge kernel combines them. Kernels are named after
    their function: `@f` gets `@f_sdpa_decode`, `@f_sdpa_prefill`, `@f_sdpa_simt` and
    `@f_sdpa_split_merge`. All launches, allocations and frees are `async` on one
    stream that the function waits for before it returns. With
    `softmax_exp` every kernel weighs scores with TurboAttention's
    polynomial in place of `ex2.approx`; running sums are rescaled with the
    exact `ex2` (a polynomial factor per new maximum would compound its fit
    error), and `n_max` drops weights relative to the running maximum.

    `attn.sparq` (docs/GPU.md) becomes three kernels over key chunks of
    4096: `@f_sparq_scores` (top-`rank` components of |q|, approximate
    logits from the rows of `key_transposed`, staged by `cp.async` and
    multiplied on tensor cores in bf16, or from `key`, per-chunk softmax
    statistics and, without `value_mean`, V sums),
    `@f_sparq_select` (the summed approximate softmax of each key and the
    chunk's best `top_k` by a block radix select: 8-bit digit histograms,
    no sort) and `@f_sparq_attend` (the final radix select over the chunks'
    candidates, the local window, the selected rows staged in shared
    memory by `cp.async`, exact attention and the V-mean interpolation).
    Head dims above 256, `top_k` above 4096, or selected rows above 216 KiB
    of shared memory are reported as errors.

    `attn.quantized_sdpa` (f16/bf16 queries, head dims multiples of 16 up
    to 256; others are reported as errors) takes the tensor-core kernels of
    `attn.sdpa` (`@f_quantized_sdpa_decode`, `..._prefill`,
    `..._split_merge`), whose stages hold the tiles' packed codes, group
    scales, steps and zero points instead of K and V. INT4 decode steps
    decode them in registers straight into the `mma.sync` operands
    (bf16x2/f16x2 arithmetic, head and value dims permuted so that a lane's
    codes are consecutive bytes): up to 8 query rows per key/value head in
    `..._int4_decode`, which runs both products transposed (keys and value
    dims in the A rows) on operands decoded and clamped by one
    `fma.rn.sat.f16x2` per pair, with a lazy running maximum; otherwise the
    block decodes each tile into shared memory first. With `qk_int8` and groups of a multiple of 32 on
    that path, the query block and the key tile hold INT8 codes and
    `Q K^T` runs on `mma.sync.m16n8k32` s8, one k-step per 32 dims, each
    group's i32 sum times `s1_Q * s1_K`; elsewhere `qk_int8` quantizes the
    query block and multiplies on f16/bf16 tensor cores. `pv_int8` rounds
    the weights to INT8 levels; `P V` runs on f16/bf16 tensor cores. An
    INT8 cache with `qk_int8` and `pv_int8` (groups of a multiple of 32
    that divide the 64-key tile or are multiples of it, D and Dv multiples
    of 128) decodes nothing: `ldmatrix` reads the stages' codes, `Q K^T`
    and `P V` both run on `mma.sync.m16n8k32` s8 (the value codes through
    `ldmatrix.trans` and `prmt` into even- and odd-dim n-tiles, the
    weights' bytes packed by `prmt`), and the i32 sums become f32 through
    the mantissa of 1.5 * 2^23.

    ```mlir
    // Before:
    %o = attn.quantized_sdpa %q, key(%kc, %ks), value(%vc, %vs)
        bits(8) group_size(128) qk_int8 pv_int8 causal
        : tensor<?x32x?x128xbf16>, key(tensor<?x32x?x128xi8>,
          tensor<?x32x?x1xf32>), value(tensor<?x32x?x128xi8>,
          tensor<?x32x?x128xf32>) -> tensor<?x32x?x128xbf16>
    // After (prefill kernel, in part):
    %v = nvgpu.ldmatrix %values[%at] {numTiles = 4 : i32, transpose = true}
        : memref<8192xi16, #gpu.address_space<workgroup>> -> vector<4x2xi16>
    %even = llvm.inline_asm "prmt.b32 $0, $1, $2, $3;", "=r,r,r,r"
        %v0, %v1, %c25632_i32 : (i32, i32, i32) -> i32
    %pv = nvvm.mma.sync A[%p0, %p1, %p2, %p3] B[%even, %even1]
        C[%c1262485504_i32, ...] {multiplicandAPtxType = #nvvm.mma_type<s8>,
        multiplicandBPtxType = #nvvm.mma_type<s8>,
        shape = #nvvm.shape<m = 16, n = 8, k = 32>, ...}
    ```

    `attn.lsh_hash` becomes `@f_lsh_hash` (one warp per row for head
    dims that are multiples of 32: coalesced loads, the lane's projections
    in registers, shuffled sums; bf16 rows on tensor cores; else one thread
    per row) writing each row's Gray-coded key, and `attn.lsh_sort`
    becomes `@f_lsh_sort`, a counting sort per row set by one block of up
    to 16 warps (each warp a contiguous chunk of the rows with its own
    2^bits counters in shared memory, stable placement of 32 rows per step
    with `match.any`). `attn.lsh_sort_bucket` runs both, the keys in
    scratch. Sorts of more than 12 key bits are reported as errors.

    `attn.gather` and `attn.merge` become `linalg.generic` ops on tensors,
    and `attn.quantize`, `attn.dequantize` and `attn.topk` the parallel loops
    of their CPU lowering, which `attn-offload-to-gpu` runs as kernels after
    bufferization.

    Result buffers are `memref.alloc`s (`buffer-results-to-out-params`
    turns those the function returns into the caller's buffers); scratch
    is `gpu.alloc`/`gpu.dealloc` marked `bufferization.manual_deallocation`,
    so that buffer deallocation frees the rest. `attn.poly_exp` on a tensor
    has no GPU lowering yet (inside attention ops it is the `softmax_exp`
    attribute); the pass reports it as an error.

    Before:

    ```mlir
    %o = attn.sdpa %q, %k, %v causal
        : tensor<4x32x?x128xbf16>, tensor<4x32x?x128xbf16>,
          tensor<4x32x?x128xbf16> -> tensor<4x32x?x128xbf16>
    ```

    After (abridged):

    ```mlir
    %qb = bufferization.to_buffer %q read_only : ... to memref<4x32x?x128xbf16>
    %out = memref.alloc(%lq) {alignment = 64 : i64} : memref<4x32x?x128xbf16>
    %t0 = gpu.wait async
    %part, %t1 = gpu.alloc async [%t0] (%n) : memref<?xf32>
    ...
    %t3 = gpu.launch async [%t2] blocks(%bx, %by, %bz) in (%gx = %rowblocks, ...)
        threads(%tx, %ty, %tz) in (%sx = %c128, ...) dynamic_shared_memory_size %c49152_i32
        module(@f_sdpa_prefill_kernels) function(@f_sdpa_prefill) {
      ... nvgpu.device_async_copy ... nvgpu.ldmatrix ... nvvm.mma.sync ...
      gpu.terminator
    }
    %t4 = gpu.launch async [%t3] ... function(@f_sdpa_split_merge) { ... }
    %t5 = gpu.dealloc async [%t4] %part : memref<?xf32>
    ...
    gpu.wait [%t6]
    %o = bufferization.to_tensor %out restrict writable : ...
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect",
  ];
  let options = [
    Option<"numSMs", "num-sms", "int64_t", /*default=*/"132",
           "Multiprocessors to fill: launches smaller than this split the "
           "keys (> 0)">,
    Option<"decodeStages", "decode-stages", "int64_t", /*default=*/"3",
           "Key/value tiles in flight in the decode kernel (2 to 4)">,
    Option<"prefillStages", "prefill-stages", "int64_t", /*default=*/"2",
           "Key/value tiles in flight in the prefill kernel (2 to 4)">,
    Option<"prefillRowTiles", "prefill-row-tiles", "int64_t",
           /*default=*/"2",
           "16-row query tiles per warp in the prefill kernel (1 or 2)">,
    Option<"int4DecodeBlocksPerSM", "int4-decode-blocks-per-sm", "int64_t",
           /*default=*/"8",
           "Launch bound of the INT4 decode kernel of attn.quantized_sdpa: "
           "its registers leave room for this many one-warp blocks per SM "
           "(1 to 32)">,
  ];
}

def OffloadToGPU : Pass<"attn-offload-to-gpu", "ModuleOp"> {
  let summary = "Run the host code's parallel loops and copies as GPU "
                "kernels, with their buffers in device memory";
  let description = [{
    After `convert-attn-to-gpu`, bufferization and
    `convert-linalg-to-parallel-loops`, the host functions of a GPU module
    may still hold the glue the rewrites build around the attention ops:
    HyperAttention's row tables, gathers, samples and merges become `scf.parallel` loops and `memref.copy` on host buffers.
    This pass moves that work to the GPU:

    - every host `memref.copy` becomes a parallel loop of loads and stores;
    - every outermost host `scf.parallel` (without reductions) becomes a
      `gpu.launch` of 256 threads per block. When the innermost extent is a
      static multiple of 32, each warp covers 32 * E consecutive elements of
      it (E <= 8 per lane, 32 apart, so every access of a warp is
      contiguous) and computes the outer indices once for all E; the E
      copies of the body are interleaved op by op, so that their loads are
      in flight together (iterations are independent); otherwise
      each thread takes one element. Index arithmetic is 32-bit below 2^31
      iterations, with a 64-bit launch for larger spaces (the unused one
      gets an empty grid);
    - loads and stores whose last index is the innermost induction variable
      (the rows of the glue's gathers, copies and merges) move as vectors of
      up to 16 bytes (W elements, W <= 8 dividing the static innermost
      extent) when the host finds each of their buffers aligned for it: a
      unit innermost stride, the other strides multiples of W, the first
      element at a multiple of W elements. Each thread then takes W
      consecutive elements (W copies of the body, each such access one
      vector access), with its own pair of launches (`_vec_i32`,
      `_vec_i64`); the scalar launches get an empty grid, and the reverse
      when a buffer is not aligned;
    - `memref.alloc` becomes `gpu.alloc` (and its `memref.dealloc`
      `gpu.dealloc`) unless only host code reads and writes the buffer (the
      shape operands of `memref.reshape`); a `memref.get_global` that
      kernels read gets a device copy for the duration of the call.

    Host loads and stores of device memory (the arguments of public
    functions and device allocations) are reported as errors.

    Before:

    ```mlir
    %t = memref.alloc(%n) : memref<?x64xbf16>
    scf.parallel (%i, %j) = (%c0, %c0) to (%n, %c64) step (%c1, %c1) {
      %x = memref.load %src[%j, %i] : memref<64x?xbf16>
      memref.store %x, %t[%i, %j] : memref<?x64xbf16>
      scf.reduce
    }
    ```

    After (abridged):

    ```mlir
    %t = gpu.alloc (%n) : memref<?x64xbf16>
    %w = gpu.wait async
    %l = gpu.launch async [%w] blocks(%bx, ...) in (%gx = %blocks_i32, ...)
        threads(%tx, ...) in (%c256, ...) {
      // warp w: row w / 1, dims 32 e + lane for e = 0, 1 (i32 arithmetic)
      ...
    }
    %l2 = gpu.launch async [%l] ... // the i64 variant, grid 0 here
    // The vector form (the store of %t; %src is read element by element),
    // grid 0 unless %t is aligned for vectors of 8:
    %l3 = gpu.launch async [%l2] ... {
      // thread t: row t / 8, dims 8 (t % 8) + [0, 8)
      %x0 = memref.load %src[%j0, %i] : memref<64x?xbf16>
      ...
      %v = vector.from_elements %x0, ..., %x7 : vector<8xbf16>
      vector.store %v, %t[%i, %j0] {alignment = 16} : memref<?x64xbf16>, vector<8xbf16>
    }
    %l4 = gpu.launch async [%l3] ... // its i64 variant
    gpu.wait [%l4]
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def GpuKernelOutlining : Pass<"attn-gpu-kernel-outlining", "ModuleOp"> {
  let summary = "gpu-kernel-outlining that keeps the launches' nvvm.* "
                "attributes on the kernels";
  let description = [{
    Runs upstream's `gpu-kernel-outlining` and then gives each outlined
    `gpu.func` the `nvvm.*` attributes of the `gpu.launch` it came from
    (upstream drops them). The kernels of `convert-attn-to-gpu` state
    launch bounds this way: `nvvm.minctasm` makes ptxas (or the driver's
    JIT) keep a kernel's registers within what that many blocks per SM
    allow, where by default it would use up to 255 for a block of 32
    threads.

    Before:

    ```mlir
    %t = gpu.launch async [%w] blocks(...) in (...) threads(...) in (...)
        dynamic_shared_memory_size %bytes
        module(@f_int4_decode_kernels) function(@f_int4_decode) {
      ...
      gpu.terminator
    } {nvvm.minctasm = 12 : i32}
    ```

    After:

    ```mlir
    %t = gpu.launch_func async [%w] @f_int4_decode_kernels::@f_int4_decode
        blocks in (...) threads in (...) dynamic_shared_memory_size %bytes
        args(...)
    gpu.module @f_int4_decode_kernels {
      gpu.func @f_int4_decode(...) kernel attributes {
          nvvm.minctasm = 12 : i32, ...} {
        ...
      }
    }
    ```
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

#endif // ATTN_CONVERSION_PASSES_TD
