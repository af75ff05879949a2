"""Compiling a module for the CPU and calling its functions on NumPy arrays.

A function's arguments and results are ranked tensors (or identity-layout
memrefs) of f32, f16, bf16 (float32 arrays on the Python side), i1, i8, i32
or i64. Compiled code is called through the C interface
(`_mlir_ciface_NAME`, memref descriptors by pointer); every result buffer
is copied into a fresh NumPy array and freed.
"""

import ctypes
import re

import numpy as np

from . import _capi
from ._capi import MlirError, StringRef

_ELEMENT_TYPES = {
    "f32": np.float32, "f16": np.float16, "bf16": np.uint16,
    "i1": np.bool_, "i8": np.int8, "i32": np.int32, "i64": np.int64,
}

_descriptor_classes = {}


def _descriptor(rank):
    """The memref descriptor struct of a rank: allocated and aligned
    pointers, offset, sizes, strides."""
    if rank not in _descriptor_classes:
        fields = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                  ("offset", ctypes.c_int64)]
        if rank:
            fields += [("sizes", ctypes.c_int64 * rank),
                       ("strides", ctypes.c_int64 * rank)]
        _descriptor_classes[rank] = type(
            "MemRef%dD" % rank, (ctypes.Structure,), {"_fields_": fields})
    return _descriptor_classes[rank]


class TensorSpec:
    """A function argument or result: shape (None for dynamic dims) and
    element type."""

    _PATTERN = re.compile(r"^(tensor|memref)<((?:(?:\d+|\?)x)*)(\w+)>$")

    def __init__(self, text):
        match = self._PATTERN.match(text.strip())
        if not match or match.group(3) not in _ELEMENT_TYPES:
            raise MlirError(
                "unsupported function argument or result type %s (ranked "
                "tensors or identity memrefs of %s)" %
                (text, ", ".join(_ELEMENT_TYPES)))
        dims = match.group(2).split("x")[:-1]
        self.text = text
        self.shape = tuple(None if d == "?" else int(d) for d in dims)
        self.element = match.group(3)
        self.dtype = np.dtype(_ELEMENT_TYPES[self.element])

    def __repr__(self):
        return self.text


def _to_bf16_bits(array):
    """float32 -> bf16 bits, rounding to nearest even (NaN stays NaN)."""
    bits = np.ascontiguousarray(array, np.float32).view(np.uint32)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = (bits & 0x7FFFFFFF) > 0x7F800000
    return np.where(nan, (bits >> 16) | 0x40, rounded).astype(np.uint16)


def _from_bf16_bits(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


_libc = ctypes.CDLL(None)
_libc.free.argtypes = [ctypes.c_void_p]
_libc.free.restype = None
# What memref.get_global results carry as their allocated pointer.
_GLOBAL_ALLOCATED = 0xDEADBEEF


class Function:
    """A compiled function; call it with NumPy arrays."""

    def __init__(self, engine, name, arguments, results):
        self.name = name
        self.arguments = [TensorSpec(t) for t in arguments]
        self.results = [TensorSpec(t) for t in results]
        self._engine = engine  # Keeps the code alive.
        address = _capi.lib().mlirExecutionEngineLookup(
            engine.handle, StringRef.of("_mlir_ciface_" + name))
        if not address:
            raise MlirError("no C interface for @%s in the compiled module"
                            % name)
        self._result_struct = type("Results", (ctypes.Structure,), {
            "_fields_": [("r%d" % i, _descriptor(len(r.shape)))
                         for i, r in enumerate(self.results)]})
        argtypes = [ctypes.POINTER(_descriptor(len(a.shape)))
                    for a in self.arguments]
        if self.results:
            argtypes.insert(0, ctypes.POINTER(self._result_struct))
        self._call = ctypes.CFUNCTYPE(None, *argtypes)(address)

    def _argument(self, index, value):
        spec = self.arguments[index]
        array = np.asarray(value)
        if array.ndim != len(spec.shape) or any(
                want is not None and want != got
                for want, got in zip(spec.shape, array.shape)):
            raise ValueError("argument %d of @%s: shape %s does not match %s"
                             % (index, self.name, array.shape, spec.text))
        if spec.element == "bf16":
            array = _to_bf16_bits(array)
        else:
            array = np.ascontiguousarray(array, spec.dtype)
        descriptor = _descriptor(array.ndim)()
        descriptor.allocated = descriptor.aligned = array.ctypes.data
        descriptor.offset = 0
        for d in range(array.ndim):
            descriptor.sizes[d] = array.shape[d]
            descriptor.strides[d] = array.strides[d] // array.itemsize
        return array, descriptor

    def _result(self, spec, descriptor, inputs):
        rank = len(spec.shape)
        shape = tuple(descriptor.sizes[d] for d in range(rank))
        strides = tuple(descriptor.strides[d] * spec.dtype.itemsize
                        for d in range(rank))
        count = int(np.prod(shape)) if rank else 1
        if count:
            base = descriptor.aligned + descriptor.offset * spec.dtype.itemsize
            span = sum((n - 1) * s for n, s in zip(shape, strides)) + \
                spec.dtype.itemsize
            raw = (ctypes.c_char * span).from_address(base)
            view = np.lib.stride_tricks.as_strided(
                np.frombuffer(raw, spec.dtype), shape, strides)
            out = np.array(view)
        else:
            out = np.empty(shape, spec.dtype)
        allocated = descriptor.allocated
        if allocated and allocated != _GLOBAL_ALLOCATED and \
                allocated not in inputs:
            _libc.free(allocated)
        if spec.element == "bf16":
            out = _from_bf16_bits(out)
        return out

    def __call__(self, *args):
        if len(args) != len(self.arguments):
            raise TypeError("@%s takes %d arguments, got %d" %
                            (self.name, len(self.arguments), len(args)))
        arrays, descriptors = zip(*(self._argument(i, a)
                                    for i, a in enumerate(args))) \
            if args else ((), ())
        pointers = [ctypes.pointer(d) for d in descriptors]
        results = self._result_struct()
        if self.results:
            self._call(ctypes.pointer(results), *pointers)
        else:
            self._call(*pointers)
        inputs = {d.allocated for d in descriptors}
        outs = [self._result(spec, getattr(results, "r%d" % i), inputs)
                for i, spec in enumerate(self.results)]
        del arrays  # Kept alive through the call.
        if not outs:
            return None
        return outs[0] if len(outs) == 1 else tuple(outs)


class _Engine:
    def __init__(self, module, opt_level):
        lib = _capi.lib()
        libs = _capi.runtime_libraries()
        paths = (StringRef * len(libs))(*[StringRef.of(p) for p in libs])
        with module.context.reporting("JIT compilation") as failed:
            self.handle = lib.mlirExecutionEngineCreate(
                module._handle, opt_level, len(libs), paths, False, False)
            if not self.handle.ptr:
                failed.append(True)
        lib.mlirExecutionEngineInitialize(self.handle)

    def __del__(self):
        handle = getattr(self, "handle", None)
        if handle is not None and handle.ptr:
            _capi.lib().mlirExecutionEngineDestroy(handle)


class CompiledModule:
    """Every public function of a module compiled for this CPU, as
    attributes: `compiled.f(q, k, v)`."""

    def __init__(self, module, pipeline=None, num_threads=0, opt_level=2):
        signatures = module.functions()
        if not signatures:
            raise MlirError("the module has no func.func to compile")
        lowered = module.clone()
        for name in signatures:
            lowered._set_unit_attribute(name, "llvm.emit_c_interface")
        if pipeline:
            lowered.run(pipeline)
        lowered.run("attn-lower-to-llvm{num-threads=%d}" % num_threads)
        self.ir = str(lowered)
        self._engine = _Engine(lowered, opt_level)
        self.functions = {name: Function(self._engine, name, *types)
                          for name, types in signatures.items()}

    def __getattr__(self, name):
        functions = self.__dict__.get("functions", {})
        if name in functions:
            return functions[name]
        raise AttributeError(name)

    def __getitem__(self, name):
        return self.functions[name]


def compile(module, pipeline=None, num_threads=0, opt_level=2):
    """Compiles `module` (an attn_mlir.Module, left unchanged) for the CPU:
    `pipeline` (e.g. "attn-sparq{top-k=64}") first, then
    --attn-lower-to-llvm. Returns a CompiledModule.

    Dynamic dimensions are bound from the arrays of each call; the equalities
    the function's ops assume between them (e.g. key and value lengths) are
    the caller's to keep."""
    return CompiledModule(module, pipeline, num_threads, opt_level)
