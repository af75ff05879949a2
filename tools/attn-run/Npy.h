//===- Npy.h - NumPy .npy arrays --------------------------------*- C++ -*-===//
//
// Reading and writing NumPy's .npy format (version 1.0/2.0/3.0, C order,
// little endian) for the dtypes attn-run exchanges with compiled code.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_ATTN_RUN_NPY_H
#define ATTN_TOOLS_ATTN_RUN_NPY_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>

namespace npy {

/// The element types attn-run supports, named by their .npy descriptor.
enum class DType { F32, F16, Bool, I8, I32, I64 };

llvm::StringRef dtypeDescr(DType dtype);
llvm::StringRef dtypeName(DType dtype);
int64_t dtypeSize(DType dtype);

/// Frees with std::free (buffers are std::aligned_alloc'd).
struct FreeDeleter {
  void operator()(void *p) const;
};

/// A dense, C-ordered array in a 64-byte aligned buffer.
struct NpyArray {
  DType dtype = DType::F32;
  llvm::SmallVector<int64_t> shape;
  std::unique_ptr<char, FreeDeleter> data;

  int64_t numElements() const;
  int64_t numBytes() const { return numElements() * dtypeSize(dtype); }
  /// Allocates zero-filled storage for `shape`.
  static NpyArray allocate(DType dtype, llvm::ArrayRef<int64_t> shape);
};

llvm::Expected<NpyArray> readNpy(llvm::StringRef path);
llvm::Error writeNpy(llvm::StringRef path, DType dtype,
                     llvm::ArrayRef<int64_t> shape, const void *data);

std::string shapeToString(llvm::ArrayRef<int64_t> shape);

} // namespace npy

#endif // ATTN_TOOLS_ATTN_RUN_NPY_H
