//===- Npy.cpp - NumPy .npy arrays ------------------------------*- C++ -*-===//

#include "Npy.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <cstring>

using namespace npy;
using llvm::StringRef;

StringRef npy::dtypeDescr(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "<f4";
  case DType::F16:
    return "<f2";
  case DType::Bool:
    return "|b1";
  case DType::I8:
    return "|i1";
  case DType::I32:
    return "<i4";
  case DType::I64:
    return "<i8";
  }
  llvm_unreachable("unknown dtype");
}

StringRef npy::dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "float32";
  case DType::F16:
    return "float16";
  case DType::Bool:
    return "bool";
  case DType::I8:
    return "int8";
  case DType::I32:
    return "int32";
  case DType::I64:
    return "int64";
  }
  llvm_unreachable("unknown dtype");
}

int64_t npy::dtypeSize(DType dtype) {
  switch (dtype) {
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F16:
    return 2;
  case DType::Bool:
  case DType::I8:
    return 1;
  case DType::I64:
    return 8;
  }
  llvm_unreachable("unknown dtype");
}

void FreeDeleter::operator()(void *p) const { std::free(p); }

int64_t NpyArray::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

NpyArray NpyArray::allocate(DType dtype, llvm::ArrayRef<int64_t> shape) {
  NpyArray array;
  array.dtype = dtype;
  array.shape.assign(shape.begin(), shape.end());
  // aligned_alloc needs a size that is a multiple of the alignment.
  size_t bytes = (static_cast<size_t>(array.numBytes()) + 63) / 64 * 64;
  if (bytes == 0)
    bytes = 64;
  array.data.reset(static_cast<char *>(std::aligned_alloc(64, bytes)));
  std::memset(array.data.get(), 0, bytes);
  return array;
}

std::string npy::shapeToString(llvm::ArrayRef<int64_t> shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1)
    s += ",";
  return s + ")";
}

/// Extracts the value of `'key': value` from a .npy header dictionary.
static std::optional<StringRef> headerField(StringRef header, StringRef key) {
  std::string quoted = ("'" + key + "'").str();
  size_t pos = header.find(quoted);
  if (pos == StringRef::npos)
    return std::nullopt;
  StringRef rest = header.drop_front(pos + quoted.size()).ltrim();
  if (!rest.consume_front(":"))
    return std::nullopt;
  rest = rest.ltrim();
  size_t end;
  if (rest.starts_with("'"))
    end = rest.find('\'', 1) + 1;
  else if (rest.starts_with("("))
    end = rest.find(')') + 1;
  else
    end = rest.find_first_of(",}");
  if (end == 0 || end == StringRef::npos + 1 || end > rest.size())
    return std::nullopt;
  return rest.take_front(end).trim();
}

static llvm::Error npyError(StringRef path, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "'" + path + "': " + message);
}

llvm::Expected<NpyArray> npy::readNpy(StringRef path) {
  auto fileOrErr =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                  /*RequiresNullTerminator=*/false);
  if (!fileOrErr)
    return npyError(path, "cannot open: " + fileOrErr.getError().message());
  StringRef bytes = (*fileOrErr)->getBuffer();
  if (bytes.size() < 10 || !bytes.starts_with("\x93NUMPY"))
    return npyError(path, "not a .npy file");
  uint8_t major = bytes[6];
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = uint8_t(bytes[8]) | (uint8_t(bytes[9]) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return npyError(path, "truncated header");
    headerLen = uint32_t(uint8_t(bytes[8])) | uint32_t(uint8_t(bytes[9])) << 8 |
                uint32_t(uint8_t(bytes[10])) << 16 |
                uint32_t(uint8_t(bytes[11])) << 24;
    headerStart = 12;
  } else {
    return npyError(path, "unsupported .npy version " + llvm::Twine(major));
  }
  if (headerStart + headerLen > bytes.size())
    return npyError(path, "truncated header");
  StringRef header = bytes.substr(headerStart, headerLen);

  auto descr = headerField(header, "descr");
  auto order = headerField(header, "fortran_order");
  auto shapeText = headerField(header, "shape");
  if (!descr || !order || !shapeText)
    return npyError(path, "malformed header");
  if (*order != "False")
    return npyError(path, "Fortran-ordered arrays are not supported");

  std::optional<DType> dtype;
  for (DType t :
       {DType::F32, DType::F16, DType::Bool, DType::I8, DType::I32, DType::I64})
    if (descr->trim("'") == dtypeDescr(t))
      dtype = t;
  if (!dtype)
    return npyError(path, "unsupported dtype " + *descr +
                              " (supported: float32, float16, bool, int8, "
                              "int32, int64, little endian)");

  llvm::SmallVector<int64_t> shape;
  StringRef dims = shapeText->trim("()");
  llvm::SmallVector<StringRef> parts;
  dims.split(parts, ',', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  for (StringRef part : parts) {
    part = part.trim();
    if (part.empty())
      continue;
    int64_t dim;
    if (part.getAsInteger(10, dim) || dim < 0)
      return npyError(path, "malformed shape " + *shapeText);
    shape.push_back(dim);
  }

  NpyArray array = NpyArray::allocate(*dtype, shape);
  size_t dataStart = headerStart + headerLen;
  if (bytes.size() - dataStart < static_cast<size_t>(array.numBytes()))
    return npyError(path, "file holds fewer bytes than its shape " +
                              shapeToString(shape) + " needs");
  std::memcpy(array.data.get(), bytes.data() + dataStart, array.numBytes());
  return std::move(array);
}

llvm::Error npy::writeNpy(StringRef path, DType dtype,
                          llvm::ArrayRef<int64_t> shape, const void *data) {
  std::string dict =
      "{'descr': '" + dtypeDescr(dtype).str() +
      "', 'fortran_order': False, 'shape': " + shapeToString(shape) + ", }";
  // Magic (6) + version (2) + length (2) + dict + newline, padded to 64.
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict.push_back('\n');

  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return npyError(path, "cannot write: " + ec.message());
  os << "\x93NUMPY" << char(1) << char(0) << char(dict.size() & 0xff)
     << char(dict.size() >> 8) << dict;
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  os.write(static_cast<const char *>(data), n * dtypeSize(dtype));
  if (os.has_error())
    return npyError(path, "write failed");
  return llvm::Error::success();
}
