#!/usr/bin/env bash
# Installs what is missing, builds, and takes the example through attn-opt
# and attn-run: IR before and after, a check against NumPy, and timings.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

install_packages
build release
"$PYTHON" "$ROOT/python/demo.py" --bin "$ROOT/build/release/bin" \
  --example "$ROOT/examples/dense_attention.mlir" \
  --sparq-example "$ROOT/examples/sparq_decode.mlir" \
  --hyper-example "$ROOT/examples/hyper_prefill.mlir" \
  --turbo-example "$ROOT/examples/turbo_decode.mlir"
