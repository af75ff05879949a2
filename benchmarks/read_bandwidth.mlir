// Read bandwidth: sums every element of a [N, 4096] f32 buffer, rows spread
// over the OpenMP threads; used by bench_dense.py as the machine's measured
// read bandwidth.
func.func @read_sum(%x: memref<?x4096xf32>) -> memref<?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %c4096 = arith.constant 4096 : index
  %n = memref.dim %x, %c0 : memref<?x4096xf32>
  %out = memref.alloc(%n) : memref<?xf32>
  %zero = arith.constant dense<0.0> : vector<64xf32>
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    %acc = scf.for %j = %c0 to %c4096 step %c64 iter_args(%a = %zero) -> vector<64xf32> {
      %v = vector.load %x[%i, %j] : memref<?x4096xf32>, vector<64xf32>
      %s = arith.addf %a, %v : vector<64xf32>
      scf.yield %s : vector<64xf32>
    }
    %r = vector.reduction <add>, %acc : vector<64xf32> into f32
    memref.store %r, %out[%i] : memref<?xf32>
    scf.reduce
  }
  return %out : memref<?xf32>
}
