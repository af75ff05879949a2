"""Contexts, modules and pass pipelines over the C API."""

import ctypes
from contextlib import contextmanager

from . import _capi
from ._capi import MlirError, StringRef

_SEVERITIES = ("error", "warning", "note", "remark")


class Diagnostic:
    """One diagnostic MLIR reported: severity, location and message."""

    def __init__(self, severity, location, message):
        self.severity = severity
        self.location = location
        self.message = message

    def __str__(self):
        return "%s: %s: %s" % (self.location, self.severity, self.message)

    __repr__ = __str__


def _record(sink, diagnostic):
    lib = _capi.lib()
    severity = lib.mlirDiagnosticGetSeverity(diagnostic)
    location = _capi.print_with(lib.mlirLocationPrint,
                                lib.mlirDiagnosticGetLocation(diagnostic))
    message = _capi.print_with(lib.mlirDiagnosticPrint, diagnostic)
    sink.append(Diagnostic(
        _SEVERITIES[severity] if severity < len(_SEVERITIES) else "?",
        location, message))
    return 1  # Handled.


class Context:
    """An MLIRContext with every upstream dialect and the attn dialect.

    Diagnostics are collected, not printed: failures raise MlirError with
    the errors; `diagnostics` holds everything the last operation reported
    (remarks of the rewrites, warnings).
    """

    def __init__(self, threading=False):
        lib = _capi.lib()
        registry = lib.mlirDialectRegistryCreate()
        lib.attnRegisterAllDialects(registry)
        self._handle = lib.mlirContextCreateWithRegistry(registry, threading)
        lib.mlirDialectRegistryDestroy(registry)
        lib.attnRegisterAllLLVMTranslations(self._handle)
        # The handler appends to a list, not to self: a cycle through the
        # context would let the garbage collector destroy it before the
        # modules that use it.
        sink = self._sink = []
        self._handler = _capi.DiagnosticHandler(
            lambda diagnostic, _: _record(sink, diagnostic))
        lib.mlirContextAttachDiagnosticHandler(
            self._handle, self._handler, None,
            ctypes.cast(None, _capi.DeleteUserData))

    @property
    def diagnostics(self):
        return self._sink

    @contextmanager
    def reporting(self, what):
        """Runs a block that reports failure by returning False; raises
        MlirError with the errors collected meanwhile."""
        del self._sink[:]
        failed = []
        yield failed
        if failed:
            errors = [str(d) for d in self.diagnostics
                      if d.severity == "error"] or ["(no diagnostic)"]
            raise MlirError("%s failed:\n%s" % (what, "\n".join(errors)))

    # The garbage collector may finalize a context before modules that use
    # it (both in one unreachable cycle): the MLIR context is destroyed only
    # once the Python context is finalized and no module is left.
    _live_modules = 0
    _finalized = False

    def _release(self):
        handle = getattr(self, "_handle", None)
        if self._finalized and not self._live_modules and \
                handle is not None and handle.ptr:
            _capi.lib().mlirContextDestroy(handle)
            self._handle = None

    def __del__(self):
        self._finalized = True
        self._release()


_default_context = None


def default_context():
    """The context that functions given none use (one per process)."""
    global _default_context
    if _default_context is None:
        _default_context = Context()
    return _default_context


class Module:
    """A builtin.module, owned by this object."""

    def __init__(self, context, handle):
        self.context = context
        self._handle = handle
        context._live_modules += 1

    @property
    def operation(self):
        return _capi.lib().mlirModuleGetOperation(self._handle)

    def __str__(self):
        return _capi.print_with(_capi.lib().mlirOperationPrint,
                                self.operation)

    def clone(self):
        lib = _capi.lib()
        return Module(self.context, lib.mlirModuleFromOperation(
            lib.mlirOperationClone(self.operation)))

    def verify(self):
        """Raises MlirError unless the module verifies."""
        with self.context.reporting("verification") as failed:
            if not _capi.lib().mlirOperationVerify(self.operation):
                failed.append(True)

    def run(self, pipeline):
        """Runs a textual pass pipeline on the module, in place, e.g.
        "builtin.module(attn-raise-sdpa, canonicalize)"; a bare list of
        passes is anchored on the module. Returns self."""
        lib = _capi.lib()
        if not pipeline.lstrip().startswith("builtin.module("):
            pipeline = "builtin.module(%s)" % pipeline
        pm = lib.mlirPassManagerCreate(self.context._handle)
        try:
            errors = _capi.TextCollector()
            result = lib.mlirParsePassPipeline(
                lib.mlirPassManagerGetAsOpPassManager(pm),
                StringRef.of(pipeline), errors.callback, None)
            if not result.value:
                raise MlirError("invalid pass pipeline %r: %s" %
                                (pipeline, errors.text().strip()))
            with self.context.reporting("pass pipeline %r" % pipeline) \
                    as failed:
                if not lib.mlirPassManagerRunOnOp(pm, self.operation).value:
                    failed.append(True)
        finally:
            lib.mlirPassManagerDestroy(pm)
        return self

    def _top_level_operations(self):
        lib = _capi.lib()
        op = lib.mlirBlockGetFirstOperation(lib.mlirModuleGetBody(
            self._handle))
        while op.ptr:
            yield op
            op = lib.mlirOperationGetNextInBlock(op)

    def _symbol_name(self, op):
        lib = _capi.lib()
        symbol = lib.mlirOperationGetAttributeByName(
            op, StringRef.of("sym_name"))
        if symbol.ptr and lib.mlirAttributeIsAString(symbol):
            return lib.mlirStringAttrGetValue(symbol).str()
        return None

    def functions(self):
        """{name: (argument types, result types)} of the func.func ops at
        the top level, types as MLIR prints them."""
        lib = _capi.lib()
        functions = {}
        for op in self._top_level_operations():
            name = lib.mlirIdentifierStr(lib.mlirOperationGetName(op)).str()
            if name != "func.func":
                continue
            ftype = lib.mlirTypeAttrGetValue(
                lib.mlirOperationGetAttributeByName(
                    op, StringRef.of("function_type")))
            printed = [
                [_capi.print_with(lib.mlirTypePrint, get(ftype, i))
                 for i in range(count(ftype))]
                for get, count in (
                    (lib.mlirFunctionTypeGetInput,
                     lib.mlirFunctionTypeGetNumInputs),
                    (lib.mlirFunctionTypeGetResult,
                     lib.mlirFunctionTypeGetNumResults))]
            functions[self._symbol_name(op)] = tuple(printed)
        return functions

    def _set_unit_attribute(self, function, attribute):
        lib = _capi.lib()
        for op in self._top_level_operations():
            if self._symbol_name(op) == function:
                lib.mlirOperationSetAttributeByName(
                    op, StringRef.of(attribute),
                    lib.mlirUnitAttrGet(self.context._handle))
                return
        raise MlirError("no function @%s in the module" % function)

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle is not None and handle.ptr:
            _capi.lib().mlirModuleDestroy(handle)
            self._handle = None
        self.context._live_modules -= 1
        self.context._release()


def parse(text, context=None):
    """Parses (and verifies) a module from its text."""
    context = context or default_context()
    with context.reporting("parsing") as failed:
        handle = _capi.lib().mlirModuleCreateParse(context._handle,
                                                   StringRef.of(text))
        if not handle.ptr:
            failed.append(True)
    return Module(context, handle)
