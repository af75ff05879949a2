// RUN: attn-opt %s --convert-attn-to-gpu --split-input-file -verify-diagnostics
// RUN: not attn-opt %s --convert-attn-to-gpu="prefill-row-tiles=3" 2>&1 | FileCheck %s --check-prefix=OPTIONS
// RUN: not attn-opt %s --convert-attn-to-gpu="decode-stages=1" 2>&1 | FileCheck %s --check-prefix=OPTIONS
// RUN: not attn-opt %s --convert-attn-to-gpu="int4-decode-blocks-per-sm=0" 2>&1 | FileCheck %s --check-prefix=OPTIONS

// OPTIONS: convert-attn-to-gpu: num-sms must be positive, decode-stages/prefill-stages in [2, 4], prefill-row-tiles 1 or 2 and int4-decode-blocks-per-sm in [1, 32]

// Checks that attn ops without GPU kernels are reported by name: the
// elementwise attn.poly_exp on a tensor (inside attention ops it is the
// softmax_exp attribute instead).
func.func @poly_exp(%x: tensor<?x7xf32>) -> tensor<?x7xf32> {
  // expected-error @below {{'attn.poly_exp' has no GPU lowering yet}}
  %y = attn.poly_exp %x : tensor<?x7xf32>
  return %y : tensor<?x7xf32>
}

// -----

// Checks that attn.lsh_sort_bucket with more projections than the GPU
// sort's shared-memory counters hold is reported with the reason.
func.func @lsh_projections(%x: tensor<1x2x?x16xbf16>, %r: tensor<16x13xf32>)
    -> tensor<1x2x?xi32> {
  // expected-error @below {{attn.lsh_sort_bucket has no GPU kernel for more than 12 key bits, one per projection}}
  %p = attn.lsh_sort_bucket %x, %r
      : tensor<1x2x?x16xbf16>, tensor<16x13xf32> -> tensor<1x2x?xi32>
  return %p : tensor<1x2x?xi32>
}

// -----

// Checks that attn.lsh_sort of more key bits than the GPU sort's
// shared-memory counters hold is reported with the reason.
func.func @lsh_sort_bits(%keys: tensor<1x2x?xi32>) -> tensor<1x2x?xi32> {
  // expected-error @below {{attn.lsh_sort has no GPU kernel for more than 12 key bits}}
  %p = attn.lsh_sort %keys {bits = 13} : tensor<1x2x?xi32> -> tensor<1x2x?xi32>
  return %p : tensor<1x2x?xi32>
}

// -----

// Checks that attn.sparq beyond the GPU kernels' limits is reported with
// the reason.
func.func @sparq_top_k(%q: tensor<1x2x1x16xbf16>, %k: tensor<1x2x?x16xbf16>,
                       %v: tensor<1x2x?x16xbf16>) -> tensor<1x2x1x16xbf16> {
  // expected-error @below {{attn.sparq has no GPU kernel for top_k above 4096}}
  %o = attn.sparq %q, %k, %v rank(4) top_k(5000)
      : tensor<1x2x1x16xbf16>, tensor<1x2x?x16xbf16>, tensor<1x2x?x16xbf16>
      -> tensor<1x2x1x16xbf16>
  return %o : tensor<1x2x1x16xbf16>
}

// -----

func.func @sparq_staging(%q: tensor<1x2x1x256xf32>, %k: tensor<1x2x?x256xf32>,
                         %v: tensor<1x2x?x256xf32>) -> tensor<1x2x1x256xf32> {
  // expected-error @below {{attn.sparq has no GPU kernel for top_k selected keys and values above 216 KiB of shared memory}}
  %o = attn.sparq %q, %k, %v rank(4) top_k(128)
      : tensor<1x2x1x256xf32>, tensor<1x2x?x256xf32>, tensor<1x2x?x256xf32>
      -> tensor<1x2x1x256xf32>
  return %o : tensor<1x2x1x256xf32>
}

// -----

// Checks that attn.quantized_sdpa outside the tensor-core kernel's forms is
// reported with the reason: f32 queries, then a head dim of 40.
func.func @quantized_f32(%q: tensor<1x2x1x32xf32>,
    %kc: tensor<1x2x?x32xi8>, %ks: tensor<1x2x?x1xf32>,
    %vc: tensor<1x2x?x32xi8>, %vs: tensor<1x2x?x32xf32>)
    -> tensor<1x2x1x32xf32> {
  // expected-error @below {{attn.quantized_sdpa has no GPU kernel for queries other than f16 and bf16}}
  %o = attn.quantized_sdpa %q, key(%kc, %ks), value(%vc, %vs)
      bits(8) group_size(32)
      : tensor<1x2x1x32xf32>, key(tensor<1x2x?x32xi8>, tensor<1x2x?x1xf32>),
        value(tensor<1x2x?x32xi8>, tensor<1x2x?x32xf32>)
      -> tensor<1x2x1x32xf32>
  return %o : tensor<1x2x1x32xf32>
}

// -----

func.func @quantized_head_dim(%q: tensor<1x2x1x40xbf16>,
    %kc: tensor<1x2x?x40xi8>, %ks: tensor<1x2x?x5xf32>,
    %vc: tensor<1x2x?x40xi8>, %vs: tensor<1x2x?x40xf32>)
    -> tensor<1x2x1x40xbf16> {
  // expected-error @below {{attn.quantized_sdpa has no GPU kernel for head dims that are not multiples of 16 up to 256}}
  %o = attn.quantized_sdpa %q, key(%kc, %ks), value(%vc, %vs)
      bits(8) group_size(8)
      : tensor<1x2x1x40xbf16>, key(tensor<1x2x?x40xi8>, tensor<1x2x?x5xf32>),
        value(tensor<1x2x?x40xi8>, tensor<1x2x?x40xf32>)
      -> tensor<1x2x1x40xbf16>
  return %o : tensor<1x2x1x40xbf16>
}
