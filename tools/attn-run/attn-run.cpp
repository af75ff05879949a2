//===- attn-run.cpp - run a function of an MLIR module ----------*- C++ -*-===//
//
// Compiles a module (through --attn-lower-to-llvm unless it is already in the
// LLVM dialect), JIT-compiles it with MLIR's ExecutionEngine and calls one
// function on NumPy .npy inputs:
//
//   attn-run FILE --function=NAME --input=@q.npy ... --output=@o.npy
//            [--benchmark=N] [--warmup=N]
//
// Function arguments and results are ranked tensors or memrefs; dynamic
// dimensions are bound from the inputs' shapes.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/InitAllAttn.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>

using namespace mlir;
using namespace mlir::attn;
using namespace npy;
namespace cl = llvm::cl;

static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<input.mlir>"),
                                      cl::Required);
static cl::opt<std::string>
    functionName("function", cl::desc("Function to call"), cl::Required);
static cl::list<std::string>
    inputs("input", cl::desc("Argument as @file.npy, in order"));
static cl::list<std::string>
    outputs("output", cl::desc("Where to write result N, as @file.npy"));
static cl::opt<unsigned>
    benchmark("benchmark",
              cl::desc("Time N calls after a warm-up and print min/median"),
              cl::init(0));
static cl::opt<unsigned>
    warmup("warmup",
           cl::desc("Untimed calls before --benchmark's timed ones (page "
                    "faults, OpenMP thread start)"),
           cl::init(1));
static cl::opt<unsigned>
    numThreads("num-threads",
               cl::desc("Threads of the compiled parallel loops (0: all "
                        "cores or OMP_NUM_THREADS)"),
               cl::init(0));
static cl::list<std::string>
    sharedLibs("shared-libs", cl::desc("Extra shared libraries to load"));

namespace {

[[noreturn]] void fail(const llvm::Twine &message) {
  llvm::errs() << "attn-run: error: " << message << "\n";
  std::exit(1);
}

/// How one argument or result crosses the boundary.
struct ArgSpec {
  SmallVector<int64_t> shape; // ShapedType::kDynamic for dynamic dims.
  Type elementType;
  DType dtype;         // The .npy dtype exchanged.
  bool viaF32 = false; // bf16 travels as float32 .npy.
};

std::optional<ArgSpec> makeSpec(Type type) {
  auto shaped = dyn_cast<ShapedType>(type);
  if (!shaped || !shaped.hasRank() ||
      !(isa<RankedTensorType>(type) || isa<MemRefType>(type)))
    return std::nullopt;
  if (auto memref = dyn_cast<MemRefType>(type))
    if (!memref.getLayout().isIdentity())
      return std::nullopt;
  ArgSpec spec;
  spec.shape.assign(shaped.getShape().begin(), shaped.getShape().end());
  spec.elementType = shaped.getElementType();
  Type t = spec.elementType;
  if (t.isF32())
    spec.dtype = DType::F32;
  else if (t.isF16())
    spec.dtype = DType::F16;
  else if (t.isBF16()) {
    spec.dtype = DType::F32;
    spec.viaF32 = true;
  } else if (t.isInteger(1))
    spec.dtype = DType::Bool;
  else if (t.isInteger(8))
    spec.dtype = DType::I8;
  else if (t.isInteger(32))
    spec.dtype = DType::I32;
  else if (t.isInteger(64))
    spec.dtype = DType::I64;
  else
    return std::nullopt;
  return spec;
}

std::string typeToString(Type type) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << type;
  return s;
}

/// A pair of argument dimensions an op of the function needs equal; checked
/// on the inputs because the compiled code trusts them.
struct DimEquality {
  unsigned argA, dimA, argB, dimB;
  std::string what;
};

void addEquality(SmallVectorImpl<DimEquality> &out, Value a, unsigned dimA,
                 Value b, unsigned dimB, StringRef what) {
  auto argA = dyn_cast<BlockArgument>(a);
  auto argB = dyn_cast<BlockArgument>(b);
  if (!argA || !argB || !isa<func::FuncOp>(argA.getOwner()->getParentOp()) ||
      argA.getOwner() != argB.getOwner())
    return;
  out.push_back(
      {argA.getArgNumber(), dimA, argB.getArgNumber(), dimB, what.str()});
}

SmallVector<DimEquality> collectDimEqualities(func::FuncOp func) {
  SmallVector<DimEquality> eqs;
  func.walk([&](SdpaOp op) {
    addEquality(eqs, op.getQuery(), 0, op.getKey(), 0,
                "attn.sdpa query and key batch");
    addEquality(eqs, op.getQuery(), 0, op.getValue(), 0,
                "attn.sdpa query and value batch");
    addEquality(eqs, op.getKey(), 2, op.getValue(), 2,
                "attn.sdpa key and value length");
    if (Value mask = op.getMask()) {
      auto maskType = cast<RankedTensorType>(mask.getType());
      int64_t offset = 4 - maskType.getRank();
      Value targets[4] = {op.getQuery(), op.getQuery(), op.getQuery(),
                          op.getKey()};
      unsigned targetDims[4] = {0, 1, 2, 2};
      for (int64_t d = 0; d < maskType.getRank(); ++d)
        if (maskType.getDimSize(d) != 1)
          addEquality(eqs, targets[offset + d], targetDims[offset + d], mask, d,
                      "attn.sdpa mask (broadcasts only static size-1 dims)");
    }
  });
  func.walk([&](MergeOp op) {
    auto rank = cast<RankedTensorType>(op.getOut1().getType()).getRank();
    for (int64_t d = 0; d < rank; ++d)
      addEquality(eqs, op.getOut1(), d, op.getOut2(), d,
                  "attn.merge output shapes");
    for (int64_t d = 0; d + 1 < rank; ++d) {
      addEquality(eqs, op.getOut1(), d, op.getLse1(), d,
                  "attn.merge out1 and lse1 shapes");
      addEquality(eqs, op.getOut2(), d, op.getLse2(), d,
                  "attn.merge out2 and lse2 shapes");
    }
  });
  return eqs;
}

uint16_t f32ToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffff) > 0x7f800000) // NaN stays NaN.
    return (bits >> 16) | 0x40;
  bits += 0x7fff + ((bits >> 16) & 1); // Round to nearest even.
  return bits >> 16;
}

float bf16ToF32(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// Storage of one memref argument as the LLVM calling convention expands it:
/// allocated and aligned pointers, offset, sizes, strides.
struct MemRefDescriptor {
  void *allocated = nullptr;
  void *aligned = nullptr;
  int64_t offset = 0;
  SmallVector<int64_t> sizes, strides;

  void appendPackedArgs(SmallVectorImpl<void *> &args) {
    args.push_back(&allocated);
    args.push_back(&aligned);
    args.push_back(&offset);
    for (int64_t &s : sizes)
      args.push_back(&s);
    for (int64_t &s : strides)
      args.push_back(&s);
  }
};

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  cl::ParseCommandLineOptions(argc, argv,
                              "attn-run: compile and run an MLIR function\n");
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();

  DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  mlir::attn::registerAllDialects(registry);
  MLIRContext context(registry);

  std::string errorMessage;
  auto file = openInputFile(inputFile, &errorMessage);
  if (!file)
    fail(errorMessage);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    fail("cannot parse '" + inputFile + "'");

  // The signature comes from the func.func; a module already in the LLVM
  // dialect must keep it in an `attn.signature` attribute.
  FunctionType signature;
  if (auto func = module->lookupSymbol<func::FuncOp>(functionName)) {
    signature = func.getFunctionType();
  } else if (auto llvmFunc =
                 module->lookupSymbol<LLVM::LLVMFuncOp>(functionName)) {
    auto attr = llvmFunc->getAttrOfType<TypeAttr>("attn.signature");
    if (!attr)
      fail("function '" + functionName +
           "' is in the LLVM dialect without an 'attn.signature' attribute; "
           "pass the module before lowering");
    signature = cast<FunctionType>(attr.getValue());
  } else {
    fail("no function named '" + functionName + "' in '" + inputFile + "'");
  }

  SmallVector<ArgSpec> argSpecs, resultSpecs;
  for (auto [i, type] : llvm::enumerate(signature.getInputs())) {
    auto spec = makeSpec(type);
    if (!spec)
      fail("argument #" + llvm::Twine(i) + " has unsupported type " +
           typeToString(type) +
           " (ranked tensors/identity memrefs of f32, f16, bf16, i1, i8, i32, "
           "i64)");
    argSpecs.push_back(*spec);
  }
  for (auto [i, type] : llvm::enumerate(signature.getResults())) {
    auto spec = makeSpec(type);
    if (!spec)
      fail("result #" + llvm::Twine(i) + " has unsupported type " +
           typeToString(type));
    resultSpecs.push_back(*spec);
  }
  if (inputs.size() != argSpecs.size())
    fail("function '" + functionName + "' takes " +
         llvm::Twine(argSpecs.size()) + " arguments, got " +
         llvm::Twine(inputs.size()) + " --input");
  if (outputs.size() > resultSpecs.size())
    fail("function '" + functionName + "' returns " +
         llvm::Twine(resultSpecs.size()) + " results, got " +
         llvm::Twine(outputs.size()) + " --output");

  // Load and check the inputs.
  std::vector<NpyArray> arrays;
  for (auto [i, input] : llvm::enumerate(inputs)) {
    StringRef path(input);
    if (!path.consume_front("@"))
      fail("--input must be @file.npy, got '" + input + "'");
    auto array = readNpy(path);
    if (!array)
      fail(llvm::toString(array.takeError()));
    const ArgSpec &spec = argSpecs[i];
    std::string where = "input #" + std::to_string(i) + " ('" + path.str() +
                        "', " + typeToString(signature.getInput(i)) + ")";
    if (array->dtype != spec.dtype)
      fail(where + ": dtype is " + dtypeName(array->dtype) + ", expected " +
           dtypeName(spec.dtype));
    if (array->shape.size() != spec.shape.size())
      fail(where + ": rank is " + llvm::Twine(array->shape.size()) +
           ", expected " + llvm::Twine(spec.shape.size()));
    for (auto [d, dim] : llvm::enumerate(spec.shape))
      if (!ShapedType::isDynamic(dim) && array->shape[d] != dim)
        fail(where + ": shape is " + shapeToString(array->shape) + ", dim " +
             llvm::Twine(d) + " must be " + llvm::Twine(dim));
    arrays.push_back(std::move(*array));
  }
  if (auto func = module->lookupSymbol<func::FuncOp>(functionName)) {
    for (const DimEquality &eq : collectDimEqualities(func)) {
      int64_t a = arrays[eq.argA].shape[eq.dimA];
      int64_t b = arrays[eq.argB].shape[eq.dimB];
      if (a != b)
        fail("input #" + llvm::Twine(eq.argB) + " dim " + llvm::Twine(eq.dimB) +
             " is " + llvm::Twine(b) + " but must equal input #" +
             llvm::Twine(eq.argA) + " dim " + llvm::Twine(eq.dimA) + " (" +
             llvm::Twine(a) + "): " + eq.what);
    }
  }

  // bf16 arguments arrive as float32 .npy and are rounded here.
  for (auto [spec, array] : llvm::zip(argSpecs, arrays)) {
    if (!spec.viaF32)
      continue;
    NpyArray rounded = NpyArray::allocate(DType::F16, array.shape);
    auto *src = reinterpret_cast<const float *>(array.data.get());
    auto *dst = reinterpret_cast<uint16_t *>(rounded.data.get());
    for (int64_t e = 0, n = array.numElements(); e < n; ++e)
      dst[e] = f32ToBf16(src[e]);
    array = std::move(rounded);
  }

  // Lower to the LLVM dialect if needed, then JIT.
  if (auto func = module->lookupSymbol<func::FuncOp>(functionName)) {
    func->setAttr("attn.signature", TypeAttr::get(signature));
    PassManager pm(&context);
    LowerToLLVMOptions options;
    options.numThreads = numThreads;
    buildLowerToLLVMPipeline(pm, options);
    if (failed(pm.run(*module)))
      fail("lowering '" + inputFile + "' to the LLVM dialect failed");
  }

  auto tmBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!tmBuilder)
    fail("cannot detect the host target: " +
         llvm::toString(tmBuilder.takeError()));
  tmBuilder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  auto tm = tmBuilder->createTargetMachine();
  if (!tm)
    fail("cannot create a target machine: " + llvm::toString(tm.takeError()));
  auto transformer = makeOptimizingTransformer(3, 0, tm->get());
  SmallVector<StringRef> libs = {ATTN_OMP_LIBRARY};
  for (const std::string &lib : sharedLibs)
    libs.push_back(lib);
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transformer;
  engineOptions.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  engineOptions.sharedLibPaths = libs;
  auto engine = ExecutionEngine::create(*module, engineOptions, std::move(*tm));
  if (!engine)
    fail("JIT compilation failed: " + llvm::toString(engine.takeError()));

  // Packed call: one pointer per expanded argument, then one to the results.
  SmallVector<MemRefDescriptor> descriptors;
  for (const NpyArray &array : arrays) {
    MemRefDescriptor desc;
    desc.allocated = desc.aligned = array.data.get();
    desc.sizes.assign(array.shape.begin(), array.shape.end());
    desc.strides.resize(array.shape.size());
    int64_t stride = 1;
    for (int64_t d = array.shape.size() - 1; d >= 0; --d) {
      desc.strides[d] = stride;
      stride *= array.shape[d];
    }
    descriptors.push_back(std::move(desc));
  }
  size_t resultWords = 0;
  for (const ArgSpec &spec : resultSpecs)
    resultWords += 3 + 2 * spec.shape.size();
  std::vector<int64_t> resultStorage(resultWords);
  SmallVector<void *> packedArgs;
  for (MemRefDescriptor &desc : descriptors)
    desc.appendPackedArgs(packedArgs);
  if (!resultSpecs.empty())
    packedArgs.push_back(resultStorage.data());

  std::set<void *> inputBuffers;
  for (const NpyArray &array : arrays)
    inputBuffers.insert(array.data.get());
  auto releaseResults = [&]() {
    std::set<void *> freed;
    size_t offset = 0;
    for (const ArgSpec &spec : resultSpecs) {
      void *allocated = reinterpret_cast<void *>(resultStorage[offset]);
      if (!inputBuffers.count(allocated) && freed.insert(allocated).second)
        std::free(allocated);
      offset += 3 + 2 * spec.shape.size();
    }
  };
  auto call = [&]() {
    if (llvm::Error err = (*engine)->invokePacked(functionName, packedArgs))
      fail("call failed: " + llvm::toString(std::move(err)));
  };

  if (benchmark > 0) {
    for (unsigned w = 0; w < warmup; ++w) {
      call();
      releaseResults();
    }
    std::vector<double> times;
    for (unsigned r = 0; r < benchmark; ++r) {
      auto start = std::chrono::steady_clock::now();
      call();
      auto stop = std::chrono::steady_clock::now();
      times.push_back(
          std::chrono::duration<double, std::milli>(stop - start).count());
      // The last timed call's results are the ones written out.
      if (r + 1 < benchmark)
        releaseResults();
    }
    std::sort(times.begin(), times.end());
    llvm::outs() << llvm::format(
        "benchmark: %u runs, min %.3f ms, median %.3f ms\n",
        unsigned(benchmark), times.front(), times[times.size() / 2]);
  } else {
    call();
  }

  size_t offset = 0;
  for (auto [r, spec] : llvm::enumerate(resultSpecs)) {
    int64_t *words = &resultStorage[offset];
    unsigned rank = spec.shape.size();
    offset += 3 + 2 * rank;
    char *aligned = reinterpret_cast<char *>(words[1]);
    int64_t elementOffset = words[2];
    ArrayRef<int64_t> sizes(words + 3, rank), strides(words + 3 + rank, rank);
    int64_t storedSize = spec.viaF32 ? 2 : dtypeSize(spec.dtype);

    // Gather the (possibly strided) result into a dense array.
    NpyArray out = NpyArray::allocate(spec.dtype, sizes);
    SmallVector<int64_t> index(rank, 0);
    for (int64_t e = 0, n = out.numElements(); e < n; ++e) {
      int64_t linear = elementOffset;
      for (unsigned d = 0; d < rank; ++d)
        linear += index[d] * strides[d];
      const char *src = aligned + linear * storedSize;
      if (spec.viaF32) {
        uint16_t h;
        std::memcpy(&h, src, 2);
        reinterpret_cast<float *>(out.data.get())[e] = bf16ToF32(h);
      } else {
        std::memcpy(out.data.get() + e * storedSize, src, storedSize);
      }
      for (int d = rank - 1; d >= 0; --d) {
        if (++index[d] < sizes[d])
          break;
        index[d] = 0;
      }
    }

    if (r < outputs.size()) {
      StringRef path(outputs[r]);
      if (!path.consume_front("@"))
        fail("--output must be @file.npy, got '" + outputs[r] + "'");
      if (llvm::Error err =
              writeNpy(path, out.dtype, out.shape, out.data.get()))
        fail(llvm::toString(std::move(err)));
    } else {
      llvm::outs() << "result #" << r << ": " << dtypeName(out.dtype) << " "
                   << shapeToString(out.shape) << "\n";
    }
  }
  releaseResults();
  return 0;
}
