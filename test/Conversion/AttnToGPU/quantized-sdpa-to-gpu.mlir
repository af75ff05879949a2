// RUN: attn-opt %s --convert-attn-to-gpu --split-input-file | FileCheck %s

// Checks the INT4 decode kernel (4 query rows per key/value head): launch
// bounds for 8 blocks per SM; as many key splits as give one block per
// slot (132 SMs x 8 / 8 heads, at most the key tiles T), split s taking
// the tiles [s T / S, (s + 1) T / S); cp.async of the packed codes and the
// group scales (no float copy of K or V); the tile's steps and zero points
// made into f16 pairs by prmt and fma (the direct form's offsets by one
// fma more, with -1024 times its steps / 4096); key codes read by ldmatrix
// as b16; in the general form's body, code pairs put into
// the mantissa of 1024 by one lop3, taken out by a sub or an fma, decoded
// and clamped by fma.rn.sat and clamped below by max; a lazy running
// maximum (the warp's reduction of the tile maxima only when a lane's
// scores rise 8 above it); the weights transposed by movmatrix into the B
// operand of O^T = V^T P^T on f16 mma.sync; then the direct form's body
// (steps in [0, 31]): codes shifted to bits 4-7 and decoded by lop3 and
// fma.rn.sat alone; the key splits merged by the split-merge kernel.
// CHECK-LABEL: func.func @int4_decode(
// CHECK: %[[MARGIN:.+]] = arith.constant 8.000000e+00 : f32
// CHECK: %[[CEIL:.+]] = arith.ceildivui %{{.+}}, %c64 : index
// CHECK: %[[TILES:.+]] = arith.maxsi %[[CEIL]], %c1 : index
// CHECK: %[[SPLITS:.+]] = arith.minsi %[[TILES]], %c132 : index
// CHECK: gpu.launch async
// CHECK-SAME: in (%{{.+}} = %c1, %{{.+}} = %c8, %{{.+}} = %[[SPLITS]])
// CHECK-SAME: module(@int4_decode_quantized_sdpa_int4_decode_kernels) function(@int4_decode_quantized_sdpa_int4_decode)
// CHECK: %[[SPLIT:.+]] = arith.remui %{{.+}}, %[[SPLITS]] : index
// CHECK: %[[SCALED:.+]] = arith.muli %[[SPLIT]], %[[TILES]] : index
// CHECK: %[[FIRST_TILE:.+]] = arith.divui %[[SCALED]], %[[SPLITS]] : index
// CHECK: arith.muli %[[FIRST_TILE]], %c64 : index
// CHECK: nvgpu.device_async_copy {{.*}} : memref<1x8x?x64xi8> to memref<{{[0-9]+}}xi8, #gpu.address_space<workgroup>>
// CHECK: nvgpu.device_async_copy {{.*}} : memref<1x8x?x4xf32> to memref<{{[0-9]+}}xf32, #gpu.address_space<workgroup>>
// CHECK: nvgpu.device_async_copy {{.*}} : memref<1x8x?x128xf32> to memref<{{[0-9]+}}xf32, #gpu.address_space<workgroup>>
// CHECK: llvm.inline_asm "prmt.b32 $0, $1, $2, $3;"
// CHECK: llvm.inline_asm "fma.rn.f16x2 $0, $1, $2, $3;"
// CHECK: llvm.inline_asm "fma.rn.f16x2 $0, $1, $2, $3;", "=r,r,r,r" %{{.+}}, %c-469703680_i32, %{{.+}}
// CHECK-NOT: mul.rn.f16x2
// CHECK: nvgpu.ldmatrix {{.*}} : memref<{{[0-9]+}}xi16, #gpu.address_space<workgroup>>
// CHECK: llvm.inline_asm "lop3.b32 $0, $1, $2, $3, 0xEA;", "=r,r,r,r" %{{.+}}, %c983055_i32, %c1677747200_i32
// CHECK: llvm.inline_asm "sub.rn.f16x2 $0, $1, $2;"
// CHECK: llvm.inline_asm "fma.rn.sat.f16x2 $0, $1, $2, $3;"
// CHECK: llvm.inline_asm "max.f16x2 $0, $1, $2;"
// CHECK: nvvm.mma.sync {{.*}} shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32)
// CHECK: %[[CEILING:.+]] = arith.addf %{{.+}}, %[[MARGIN]]
// CHECK: arith.cmpf ogt, %{{.+}}, %[[CEILING]] : f32
// CHECK: %[[GROWS:.+]] = nvvm.vote.sync  ballot
// CHECK: %[[RESCALE:.+]] = arith.cmpi ne, %[[GROWS]]
// CHECK: scf.if %[[RESCALE]]
// CHECK-NEXT: gpu.shuffle  xor
// CHECK: llvm.inline_asm "movmatrix.sync.aligned.m8n8.trans.b16 $0, $1;"
// CHECK: llvm.inline_asm "prmt.b32
// CHECK: arith.shli %{{.+}}, %c4_i32 : i32
// CHECK: llvm.inline_asm "lop3.b32 $0, $1, $2, $3, 0xEA;", "=r,r,r,r" %{{.+}}, %c15728880_i32, %c1677747200_i32
// CHECK-NEXT: llvm.inline_asm "fma.rn.sat.f16x2 $0, $1, $2, $3;"
// CHECK-NOT: bf16x2
// CHECK: } {nvvm.minctasm = 8 : i32}
// CHECK: gpu.launch async
// CHECK-SAME: function(@int4_decode_quantized_sdpa_split_merge)
// CHECK-NOT: gpu.launch
// CHECK: bufferization.to_tensor
func.func @int4_decode(%q: tensor<1x32x1x128xbf16>,
    %kc: tensor<1x8x?x64xi8>, %ks: tensor<1x8x?x4xf32>,
    %kst: tensor<1x8x?x4xi8>, %kz: tensor<1x8x?x4xi8>,
    %vc: tensor<1x8x?x64xi8>, %vs: tensor<1x8x?x128xf32>,
    %vst: tensor<1x8x?x128xi8>, %vz: tensor<1x8x?x128xi8>)
    -> tensor<1x32x1x128xbf16> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(4) group_size(32)
      : tensor<1x32x1x128xbf16>,
        key(tensor<1x8x?x64xi8>, tensor<1x8x?x4xf32>, tensor<1x8x?x4xi8>,
            tensor<1x8x?x4xi8>),
        value(tensor<1x8x?x64xi8>, tensor<1x8x?x128xf32>,
              tensor<1x8x?x128xi8>, tensor<1x8x?x128xi8>)
      -> tensor<1x32x1x128xbf16>
  return %o : tensor<1x32x1x128xbf16>
}

// -----

// Checks the INT4 decode of 16 query rows per key/value head (more than the
// transposed kernel takes): the one-warp kernel with query rows in the mma
// rows decodes the codes into bf16 operands: codes into the mantissa of
// bf16 128 (0x43004300), value codes of two keys side by side by prmt, the
// group arithmetic on bf16x2 pairs.
// CHECK-LABEL: func.func @int4_decode_16_rows(
// CHECK: gpu.launch async
// CHECK-SAME: module(@int4_decode_16_rows_quantized_sdpa_decode_kernels) function(@int4_decode_16_rows_quantized_sdpa_decode)
// CHECK: nvgpu.device_async_copy {{.*}} : memref<1x2x?x64xi8> to memref<{{[0-9]+}}xi8, #gpu.address_space<workgroup>>
// CHECK: arith.ori %{{.+}}, %c1124090624_i32 : i32
// CHECK: llvm.inline_asm "fma.rn.bf16x2 $0, $1, $2, $3;"
// CHECK: nvvm.mma.sync
// CHECK: llvm.inline_asm "prmt.b32
// CHECK: llvm.inline_asm "mul.rn.bf16x2 $0, $1, $2;"
// CHECK: nvvm.mma.sync
// CHECK-NOT: nvgpu.ldmatrix
// CHECK: gpu.launch async
// CHECK-SAME: function(@int4_decode_16_rows_quantized_sdpa_split_merge)
func.func @int4_decode_16_rows(%q: tensor<1x32x1x128xbf16>,
    %kc: tensor<1x2x?x64xi8>, %ks: tensor<1x2x?x4xf32>,
    %kst: tensor<1x2x?x4xi8>, %kz: tensor<1x2x?x4xi8>,
    %vc: tensor<1x2x?x64xi8>, %vs: tensor<1x2x?x128xf32>,
    %vst: tensor<1x2x?x128xi8>, %vz: tensor<1x2x?x128xi8>)
    -> tensor<1x32x1x128xbf16> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(4) group_size(32)
      : tensor<1x32x1x128xbf16>,
        key(tensor<1x2x?x64xi8>, tensor<1x2x?x4xf32>, tensor<1x2x?x4xi8>,
            tensor<1x2x?x4xi8>),
        value(tensor<1x2x?x64xi8>, tensor<1x2x?x128xf32>,
              tensor<1x2x?x128xi8>, tensor<1x2x?x128xi8>)
      -> tensor<1x32x1x128xbf16>
  return %o : tensor<1x32x1x128xbf16>
}

// -----

// Checks INT8 queries and weights in the prefill kernel: the query block is
// group-quantized into INT8 codes (cvt.rni), the key codes decoded through
// the mantissa of 2^23 (0x4B000000) into an INT8 tile, and Q K^T runs on
// mma.sync m16n8k32 s8 with i32 sums that become f32 through the mantissa
// of 1.5 * 2^23 (0x4B400000); the weights are rounded to INT8 levels
// (cvt.rni again) before P V on f16 tensor cores; the lse is written.
// CHECK-LABEL: func.func @int8_prefill(
// CHECK: gpu.launch async {{.*}} function(@int8_prefill_quantized_sdpa_prefill)
// CHECK: llvm.inline_asm "cvt.rni.f32.f32 $0, $1;"
// CHECK: nvgpu.device_async_copy {{.*}} : memref<2x2x?x64xi8>
// CHECK: arith.ori %{{.+}}, %c1258291200_i32 : i32
// CHECK: nvgpu.ldmatrix {{.*}} : memref<{{[0-9]+}}xi16, #gpu.address_space<workgroup>>
// CHECK: nvvm.mma.sync {{.*}} multiplicandAPtxType = #nvvm.mma_type<s8>, multiplicandBPtxType = #nvvm.mma_type<s8>, shape = #nvvm.shape<m = 16, n = 8, k = 32>} : (i32, i32, i32) -> !llvm.struct<(i32, i32, i32, i32)>
// CHECK: arith.addi %{{.+}}, %c1262485504_i32 : i32
// CHECK: llvm.inline_asm "cvt.rni.f32.f32 $0, $1;"
// CHECK: nvvm.mma.sync {{.*}} shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32)
// CHECK: memref.store {{.*}} : memref<2x8x?xf32>
func.func @int8_prefill(%q: tensor<2x8x?x64xf16>,
    %kc: tensor<2x2x?x64xi8>, %ks: tensor<2x2x?x2xf32>,
    %vc: tensor<2x2x?x64xi8>, %vs: tensor<2x2x?x64xf32>)
    -> (tensor<2x8x?x64xf16>, tensor<2x8x?xf32>) {
  %o, %lse = attn.quantized_sdpa %q, key(%kc, %ks), value(%vc, %vs)
      bits(8) group_size(32) qk_int8 pv_int8 causal
      : tensor<2x8x?x64xf16>, key(tensor<2x2x?x64xi8>, tensor<2x2x?x2xf32>),
        value(tensor<2x2x?x64xi8>, tensor<2x2x?x64xf32>)
      -> tensor<2x8x?x64xf16>, tensor<2x8x?xf32>
  return %o, %lse : tensor<2x8x?x64xf16>, tensor<2x8x?xf32>
}

// -----

// Checks both products on INT8 tensor cores straight from the stages of an
// INT8 cache (D = Dv = 128, one key group): key and value codes copied by
// cp.async as they are (no decode through 2^23, no decoded tiles), Q K^T
// on mma.sync s8 whose sums start from the bits of 1.5 * 2^23 (they are
// f32 values as they are, the key scale applied by one fma), the
// polynomial without conversions, the weights' low bytes packed by prmt,
// the value codes read by ldmatrix.trans and split into even and odd dims
// by prmt (0x6420 = 25632, 0x7531 = 30001) for P V on mma.sync s8, whose
// group sums take the value scales from one 16-byte read.
// CHECK-LABEL: func.func @int8_products(
// CHECK: gpu.launch async {{.*}} function(@int8_products_quantized_sdpa_prefill)
// CHECK-NOT: %c1258291200_i32
// CHECK: nvgpu.device_async_copy {{.*}}, 16, {{.*}} : memref<2x2x?x128xi8> to memref<16384xi8, #gpu.address_space<workgroup>>
// CHECK: nvgpu.device_async_copy {{.*}}, 16, {{.*}} : memref<2x2x?x128xi8> to memref<16384xi8, #gpu.address_space<workgroup>>
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = false} : memref<8192xi16, #gpu.address_space<workgroup>>
// CHECK: nvvm.mma.sync {{.*}} C[%c1262485504_i32, %c1262485504_i32, %c1262485504_i32, %c1262485504_i32] {{.*}} multiplicandAPtxType = #nvvm.mma_type<s8>, multiplicandBPtxType = #nvvm.mma_type<s8>
// CHECK: llvm.inline_asm "add.rm.f32 $0, $1, $2;"
// CHECK-NOT: arith.fptosi
// CHECK: llvm.inline_asm "prmt.b32 $0, $1, $2, $3;"
// CHECK: nvgpu.ldmatrix {{.*}} {numTiles = 4 : i32, transpose = true} : memref<8192xi16, #gpu.address_space<workgroup>>
// CHECK: llvm.inline_asm "prmt.b32 $0, $1, $2, $3;", "=r,r,r,r" {{.*}}, %c25632_i32
// CHECK: llvm.inline_asm "prmt.b32 $0, $1, $2, $3;", "=r,r,r,r" {{.*}}, %c30001_i32
// CHECK: nvvm.mma.sync {{.*}} multiplicandAPtxType = #nvvm.mma_type<s8>, multiplicandBPtxType = #nvvm.mma_type<s8>
// CHECK: vector.load {{.*}} : memref<{{[0-9]+}}xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK-NOT: nvvm.shape<m = 16, n = 8, k = 16>
// CHECK: gpu.terminator
func.func @int8_products(%q: tensor<2x4x?x128xbf16>,
    %kc: tensor<2x2x?x128xi8>, %ks: tensor<2x2x?x1xf32>,
    %vc: tensor<2x2x?x128xi8>, %vs: tensor<2x2x?x128xf32>)
    -> tensor<2x4x?x128xbf16> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks), value(%vc, %vs)
      bits(8) group_size(128) qk_int8 pv_int8 causal
      {softmax_exp = #attn.poly_exp<degree = 3>}
      : tensor<2x4x?x128xbf16>, key(tensor<2x2x?x128xi8>,
        tensor<2x2x?x1xf32>), value(tensor<2x2x?x128xi8>,
        tensor<2x2x?x128xf32>)
      -> tensor<2x4x?x128xbf16>
  return %o : tensor<2x4x?x128xbf16>
}

// -----

// Checks that the INT4 decode kernel keeps the running maximum exact where
// weights must stay within 1 (pv_int8 rounds them to 127ths): scores are
// compared with the maximum itself, with no margin added.
// CHECK-LABEL: func.func @int4_decode_pv_int8(
// CHECK: gpu.launch async
// CHECK-SAME: function(@int4_decode_pv_int8_quantized_sdpa_int4_decode)
// CHECK: nvvm.mma.sync
// CHECK: arith.cmpf ogt, %{{.+}}, %arg{{[0-9]+}} : f32
// CHECK: arith.cmpf ogt, %{{.+}}, %arg{{[0-9]+}} : f32
// CHECK-NEXT: arith.ori
// CHECK-NEXT: nvvm.vote.sync  ballot
func.func @int4_decode_pv_int8(%q: tensor<1x8x1x64xf16>,
    %kc: tensor<1x2x?x32xi8>, %ks: tensor<1x2x?x2xf32>,
    %kst: tensor<1x2x?x2xi8>, %kz: tensor<1x2x?x2xi8>,
    %vc: tensor<1x2x?x32xi8>, %vs: tensor<1x2x?x64xf32>,
    %vst: tensor<1x2x?x64xi8>, %vz: tensor<1x2x?x64xi8>)
    -> tensor<1x8x1x64xf16> {
  %o = attn.quantized_sdpa %q, key(%kc, %ks, %kst, %kz),
      value(%vc, %vs, %vst, %vz) bits(4) group_size(32) pv_int8
      : tensor<1x8x1x64xf16>,
        key(tensor<1x2x?x32xi8>, tensor<1x2x?x2xf32>, tensor<1x2x?x2xi8>,
            tensor<1x2x?x2xi8>),
        value(tensor<1x2x?x32xi8>, tensor<1x2x?x64xf32>,
              tensor<1x2x?x64xi8>, tensor<1x2x?x64xi8>)
      -> tensor<1x8x1x64xf16>
  return %o : tensor<1x8x1x64xf16>
}
