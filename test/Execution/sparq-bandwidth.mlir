// Checks the bandwidth form: the transposed key cache and the value mean
// passed as operands give the result of the reference with that mean, and
// the same result as the plain form (which gathers strided components and
// computes the mean from V) on the same inputs. Dynamic Lk, GQA per head.
// RUN: %check-attn %s --function=bandwidth --op=sparq --bandwidth --also=plain --q=1x8x1x64 --k=1x2x333x64 --v=1x2x333x64 --rank=16 --top-k=48

// Checks the bandwidth form with group-shared selection and a local window.
// RUN: %check-attn %s --function=bandwidth_shared --op=sparq --bandwidth --also=plain_shared --q=1x8x1x64 --k=1x2x333x64 --v=1x2x333x64 --rank=16 --top-k=48 --local-window=12 --group-shared

func.func @bandwidth(%q: tensor<1x8x1x64xf32>, %k: tensor<1x2x?x64xf32>,
                     %v: tensor<1x2x?x64xf32>, %kt: tensor<1x2x64x?xf32>,
                     %vmean: tensor<1x2x64xf32>) -> tensor<1x8x1x64xf32> {
  %o = attn.sparq %q, %k, %v key_transposed(%kt : tensor<1x2x64x?xf32>)
      value_mean(%vmean : tensor<1x2x64xf32>) rank(16) top_k(48)
      : tensor<1x8x1x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
      -> tensor<1x8x1x64xf32>
  return %o : tensor<1x8x1x64xf32>
}

func.func @plain(%q: tensor<1x8x1x64xf32>, %k: tensor<1x2x?x64xf32>,
                 %v: tensor<1x2x?x64xf32>) -> tensor<1x8x1x64xf32> {
  %o = attn.sparq %q, %k, %v rank(16) top_k(48)
      : tensor<1x8x1x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
      -> tensor<1x8x1x64xf32>
  return %o : tensor<1x8x1x64xf32>
}

func.func @bandwidth_shared(%q: tensor<1x8x1x64xf32>, %k: tensor<1x2x?x64xf32>,
                            %v: tensor<1x2x?x64xf32>, %kt: tensor<1x2x64x?xf32>,
                            %vmean: tensor<1x2x64xf32>) -> tensor<1x8x1x64xf32> {
  %o = attn.sparq %q, %k, %v key_transposed(%kt : tensor<1x2x64x?xf32>)
      value_mean(%vmean : tensor<1x2x64xf32>) rank(16) top_k(48)
      local_window(12) group_shared
      : tensor<1x8x1x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
      -> tensor<1x8x1x64xf32>
  return %o : tensor<1x8x1x64xf32>
}

func.func @plain_shared(%q: tensor<1x8x1x64xf32>, %k: tensor<1x2x?x64xf32>,
                        %v: tensor<1x2x?x64xf32>) -> tensor<1x8x1x64xf32> {
  %o = attn.sparq %q, %k, %v rank(16) top_k(48) local_window(12) group_shared
      : tensor<1x8x1x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
      -> tensor<1x8x1x64xf32>
  return %o : tensor<1x8x1x64xf32>
}
