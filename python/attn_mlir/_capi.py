"""ctypes declarations of the C API functions attn_mlir calls
(libAttnCAPI.so: include/attn-c and the upstream mlir-c headers).

The library is loaded on first use: from ATTN_MLIR_LIBRARY if set, else from
the build tree this package was copied into (_config.py, written by CMake).
"""

import ctypes
import os
import threading


class MlirError(RuntimeError):
    """A failure reported by MLIR (parse errors, verifier errors, pass
    failures); the message holds MLIR's diagnostics."""


def _handle(name):
    return type(name, (ctypes.Structure,),
                {"_fields_": [("ptr", ctypes.c_void_p)]})


Context = _handle("MlirContext")
DialectRegistry = _handle("MlirDialectRegistry")
Module = _handle("MlirModule")
Operation = _handle("MlirOperation")
Block = _handle("MlirBlock")
Attribute = _handle("MlirAttribute")
Type = _handle("MlirType")
Identifier = _handle("MlirIdentifier")
PassManager = _handle("MlirPassManager")
OpPassManager = _handle("MlirOpPassManager")
ExecutionEngine = _handle("MlirExecutionEngine")
Diagnostic = _handle("MlirDiagnostic")
Location = _handle("MlirLocation")


class StringRef(ctypes.Structure):
    # Not c_char_p: MLIR's strings are not NUL-terminated.
    _fields_ = [("data", ctypes.c_void_p), ("length", ctypes.c_size_t)]

    @classmethod
    def of(cls, text):
        data = text.encode() if isinstance(text, str) else text
        buffer = ctypes.create_string_buffer(data, len(data))
        ref = cls(ctypes.cast(buffer, ctypes.c_void_p), len(data))
        ref._buffer = buffer  # Lives as long as the reference.
        return ref

    def str(self):
        return ctypes.string_at(self.data, self.length).decode()


class LogicalResult(ctypes.Structure):
    _fields_ = [("value", ctypes.c_int8)]


StringCallback = ctypes.CFUNCTYPE(None, StringRef, ctypes.c_void_p)
# MlirLogicalResult is returned as its one int8 field (same ABI): ctypes
# callbacks cannot return structures.
DiagnosticHandler = ctypes.CFUNCTYPE(ctypes.c_int8, Diagnostic,
                                     ctypes.c_void_p)
DeleteUserData = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

_c = ctypes
_SIGNATURES = {
    # Registration (attn-c).
    "attnRegisterAllDialects": (None, [DialectRegistry]),
    "attnRegisterAllPasses": (None, []),
    "attnRegisterAllLLVMTranslations": (None, [Context]),
    # Context and diagnostics.
    "mlirDialectRegistryCreate": (DialectRegistry, []),
    "mlirDialectRegistryDestroy": (None, [DialectRegistry]),
    "mlirContextCreateWithRegistry": (Context, [DialectRegistry, _c.c_bool]),
    "mlirContextDestroy": (None, [Context]),
    "mlirContextAttachDiagnosticHandler":
        (_c.c_uint64, [Context, DiagnosticHandler, _c.c_void_p,
                       DeleteUserData]),
    "mlirDiagnosticPrint": (None, [Diagnostic, StringCallback, _c.c_void_p]),
    "mlirDiagnosticGetSeverity": (_c.c_int, [Diagnostic]),
    "mlirDiagnosticGetLocation": (Location, [Diagnostic]),
    "mlirLocationPrint": (None, [Location, StringCallback, _c.c_void_p]),
    # Modules and operations.
    "mlirModuleCreateParse": (Module, [Context, StringRef]),
    "mlirModuleGetOperation": (Operation, [Module]),
    "mlirModuleGetBody": (Block, [Module]),
    "mlirModuleFromOperation": (Module, [Operation]),
    "mlirModuleDestroy": (None, [Module]),
    "mlirOperationClone": (Operation, [Operation]),
    "mlirOperationVerify": (_c.c_bool, [Operation]),
    "mlirOperationPrint": (None, [Operation, StringCallback, _c.c_void_p]),
    "mlirOperationGetName": (Identifier, [Operation]),
    "mlirOperationGetNextInBlock": (Operation, [Operation]),
    "mlirOperationGetAttributeByName": (Attribute, [Operation, StringRef]),
    "mlirOperationSetAttributeByName":
        (None, [Operation, StringRef, Attribute]),
    "mlirBlockGetFirstOperation": (Operation, [Block]),
    "mlirIdentifierStr": (StringRef, [Identifier]),
    # Attributes and types.
    "mlirUnitAttrGet": (Attribute, [Context]),
    "mlirStringAttrGetValue": (StringRef, [Attribute]),
    "mlirAttributeIsAString": (_c.c_bool, [Attribute]),
    "mlirTypeAttrGetValue": (Type, [Attribute]),
    "mlirFunctionTypeGetNumInputs": (_c.c_ssize_t, [Type]),
    "mlirFunctionTypeGetNumResults": (_c.c_ssize_t, [Type]),
    "mlirFunctionTypeGetInput": (Type, [Type, _c.c_ssize_t]),
    "mlirFunctionTypeGetResult": (Type, [Type, _c.c_ssize_t]),
    "mlirTypePrint": (None, [Type, StringCallback, _c.c_void_p]),
    # Pass managers.
    "mlirPassManagerCreate": (PassManager, [Context]),
    "mlirPassManagerDestroy": (None, [PassManager]),
    "mlirPassManagerGetAsOpPassManager": (OpPassManager, [PassManager]),
    "mlirParsePassPipeline":
        (LogicalResult, [OpPassManager, StringRef, StringCallback,
                         _c.c_void_p]),
    "mlirPassManagerRunOnOp": (LogicalResult, [PassManager, Operation]),
    # ExecutionEngine.
    "mlirExecutionEngineCreate":
        (ExecutionEngine, [Module, _c.c_int, _c.c_int,
                           _c.POINTER(StringRef), _c.c_bool, _c.c_bool]),
    "mlirExecutionEngineInitialize": (None, [ExecutionEngine]),
    "mlirExecutionEngineDestroy": (None, [ExecutionEngine]),
    "mlirExecutionEngineLookup": (_c.c_void_p, [ExecutionEngine, StringRef]),
}

_lock = threading.Lock()
_lib = None


def library_path():
    """Where libAttnCAPI.so is read from."""
    path = os.environ.get("ATTN_MLIR_LIBRARY")
    if path:
        return path
    try:
        from . import _config
    except ImportError:
        raise MlirError(
            "libAttnCAPI.so not found: put <build>/python_packages on "
            "PYTHONPATH (the package copied there knows its library) or set "
            "ATTN_MLIR_LIBRARY") from None
    return _config.CAPI_LIBRARY


def runtime_libraries():
    """Shared libraries compiled CPU code calls (the OpenMP runtime)."""
    path = os.environ.get("ATTN_MLIR_OMP_LIBRARY")
    if path:
        return [path]
    try:
        from . import _config
    except ImportError:
        return []
    return [_config.OMP_LIBRARY]


def lib():
    """The loaded library, with every function above declared, and the
    passes registered."""
    global _lib
    with _lock:
        if _lib is None:
            loaded = ctypes.CDLL(library_path())
            for name, (restype, argtypes) in _SIGNATURES.items():
                function = getattr(loaded, name)
                function.restype = restype
                function.argtypes = argtypes
            loaded.attnRegisterAllPasses()
            _lib = loaded
    return _lib


class TextCollector:
    """A StringCallback that appends what MLIR prints."""

    def __init__(self):
        self.parts = []
        self.callback = StringCallback(
            lambda ref, _: self.parts.append(ctypes.string_at(
                ref.data, ref.length)))

    def text(self):
        return b"".join(self.parts).decode()


def print_with(function, *args):
    """Calls an mlir*Print function and returns the text."""
    collector = TextCollector()
    function(*args, collector.callback, None)
    return collector.text()
