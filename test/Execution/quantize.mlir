// Checks attn.quantize bit for bit against the NumPy reference of
// ALGORITHMS.md §5 (codes, scales, steps, zero points), and attn.dequantize
// of the reference's layout bit for bit: INT4 of a key cache in groups of
// 32 channels; the inputs hold all-zero groups.
// RUN: %check-attn %s --function=int4_keys --op=quantize --input=2x4x33x64 --axis=3 --group-size=32 --bits=4 --also=dequant_int4_keys

// Checks exact rounding ties in stage 1 (every group's max is 127, so
// s1 = 1 and half-integers tie) and in stage 2.
// RUN: %check-attn %s --function=int4_keys --op=quantize --input=2x4x33x64 --axis=3 --group-size=32 --bits=4 --ties

// Checks INT2 of a value cache grouped along the keys (axis 2) with a
// partial last group (50 keys, groups of 16) and a dynamic length.
// RUN: %check-attn %s --function=int2_values --op=quantize --input=1x2x50x24 --axis=2 --group-size=16 --bits=2 --also=dequant_int2_values

// Checks INT8 alone along a leading axis, on f16 input.
// RUN: %check-attn %s --function=int8_f16 --op=quantize --input=10x6 --axis=0 --group-size=4 --bits=8 --dtype=f16 --also=dequant_int8_f16

// Checks head-wise mixed precision: the 2 heads of lowest §5 priority use
// 2-bit levels inside the 4-bit storage.
// RUN: %check-attn %s --function=mixed --op=quantize --input=1x4x40x32 --axis=3 --group-size=16 --bits=4 --low-priority-heads=2 --also=dequant_mixed

func.func @int4_keys(%x: tensor<2x4x?x64xf32>)
    -> (tensor<2x4x?x32xi8>, tensor<2x4x?x2xf32>, tensor<2x4x?x2xi8>,
        tensor<2x4x?x2xi8>) {
  %c, %s, %st, %z = attn.quantize %x axis(3) group_size(32) bits(4)
      : tensor<2x4x?x64xf32> -> tensor<2x4x?x32xi8>, tensor<2x4x?x2xf32>,
        tensor<2x4x?x2xi8>, tensor<2x4x?x2xi8>
  return %c, %s, %st, %z : tensor<2x4x?x32xi8>, tensor<2x4x?x2xf32>,
      tensor<2x4x?x2xi8>, tensor<2x4x?x2xi8>
}

func.func @dequant_int4_keys(%c: tensor<2x4x?x32xi8>, %s: tensor<2x4x?x2xf32>,
    %st: tensor<2x4x?x2xi8>, %z: tensor<2x4x?x2xi8>) -> tensor<2x4x?x64xf32> {
  %x = attn.dequantize %c, %s, %st, %z axis(3) group_size(32) bits(4)
      : tensor<2x4x?x32xi8>, tensor<2x4x?x2xf32>, tensor<2x4x?x2xi8>,
        tensor<2x4x?x2xi8> -> tensor<2x4x?x64xf32>
  return %x : tensor<2x4x?x64xf32>
}

func.func @int2_values(%x: tensor<1x2x?x24xf32>)
    -> (tensor<1x2x?x6xi8>, tensor<1x2x?x24xf32>, tensor<1x2x?x24xi8>,
        tensor<1x2x?x24xi8>) {
  %c, %s, %st, %z = attn.quantize %x axis(2) group_size(16) bits(2)
      : tensor<1x2x?x24xf32> -> tensor<1x2x?x6xi8>, tensor<1x2x?x24xf32>,
        tensor<1x2x?x24xi8>, tensor<1x2x?x24xi8>
  return %c, %s, %st, %z : tensor<1x2x?x6xi8>, tensor<1x2x?x24xf32>,
      tensor<1x2x?x24xi8>, tensor<1x2x?x24xi8>
}

func.func @dequant_int2_values(%c: tensor<1x2x50x6xi8>,
    %s: tensor<1x2x4x24xf32>, %st: tensor<1x2x4x24xi8>,
    %z: tensor<1x2x4x24xi8>) -> tensor<1x2x50x24xf32> {
  %x = attn.dequantize %c, %s, %st, %z axis(2) group_size(16) bits(2)
      : tensor<1x2x50x6xi8>, tensor<1x2x4x24xf32>, tensor<1x2x4x24xi8>,
        tensor<1x2x4x24xi8> -> tensor<1x2x50x24xf32>
  return %x : tensor<1x2x50x24xf32>
}

func.func @int8_f16(%x: tensor<10x6xf16>)
    -> (tensor<10x6xi8>, tensor<3x6xf32>) {
  %c, %s = attn.quantize %x axis(0) group_size(4) bits(8)
      : tensor<10x6xf16> -> tensor<10x6xi8>, tensor<3x6xf32>
  return %c, %s : tensor<10x6xi8>, tensor<3x6xf32>
}

func.func @dequant_int8_f16(%c: tensor<10x6xi8>, %s: tensor<3x6xf32>)
    -> tensor<10x6xf16> {
  %x = attn.dequantize %c, %s axis(0) group_size(4) bits(8)
      : tensor<10x6xi8>, tensor<3x6xf32> -> tensor<10x6xf16>
  return %x : tensor<10x6xf16>
}

func.func @mixed(%x: tensor<1x4x40x32xf32>)
    -> (tensor<1x4x40x16xi8>, tensor<1x4x40x2xf32>, tensor<1x4x40x2xi8>,
        tensor<1x4x40x2xi8>) {
  %c, %s, %st, %z = attn.quantize %x axis(3) group_size(16) bits(4)
      low_priority_heads(2)
      : tensor<1x4x40x32xf32> -> tensor<1x4x40x16xi8>, tensor<1x4x40x2xf32>,
        tensor<1x4x40x2xi8>, tensor<1x4x40x2xi8>
  return %c, %s, %st, %z : tensor<1x4x40x16xi8>, tensor<1x4x40x2xf32>,
      tensor<1x4x40x2xi8>, tensor<1x4x40x2xi8>
}

func.func @dequant_mixed(%c: tensor<1x4x40x16xi8>, %s: tensor<1x4x40x2xf32>,
    %st: tensor<1x4x40x2xi8>, %z: tensor<1x4x40x2xi8>)
    -> tensor<1x4x40x32xf32> {
  %x = attn.dequantize %c, %s, %st, %z axis(3) group_size(16) bits(4)
      : tensor<1x4x40x16xi8>, tensor<1x4x40x2xf32>, tensor<1x4x40x2xi8>,
        tensor<1x4x40x2xi8> -> tensor<1x4x40x32xf32>
  return %x : tensor<1x4x40x32xf32>
}
