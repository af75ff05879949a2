// Checks that tile sizes that are not positive are refused with a message.
// RUN: not attn-opt %s --convert-attn-to-loops="key-tile=0" 2>&1 | FileCheck %s
// CHECK: error: convert-attn-to-loops: row-block and key-tile must be positive
func.func @f() {
  return
}
