"""Fixed-width float vectors for numba kernels (LLVM ``<W x double>`` / ``<W x float>``),
exact IEEE arithmetic.

numba vectorises only innermost loops and keeps no accumulator in registers
across an outer loop; the sparse kernels need exactly that (a protein tile of
sums held in registers while the nonzeros stream past).  These intrinsics give
numba code a value type ``f64xW`` (or ``f32xW``) that LLVM keeps in vector
registers (a 16-wide float64 vector is four AVX2 or two AVX-512 registers) and plain,
separately rounded IEEE operations on it: no fast-math flags, no
reassociation, so each lane computes bit for bit what the scalar expression
computes.  Widths are compile-time constants.

Multiply-adds come in two kinds that give different bits, and a kernel picks
one on purpose: :func:`vmuladd` rounds the product, then the sum (the sparse
kernels: what ``acc + v * row`` computes in numba); :func:`vfma` and the scalar
:func:`fma` round once (``llvm.fma``: what a BLAS GEMM kernel's ``vfmadd``
computes, for the kernels that must sum exactly as BLAS does).

>>> import numba, numpy as np
>>> @numba.njit
... def axpy(x, a, y, out):
...     vstore(out, 0, vmuladd(vload(y, 0, 4), vsplat(a, 4), vload(x, 0, 4)))
>>> out = np.empty(4)
>>> axpy(np.arange(4.0), 0.1, np.ones(4), out)
>>> bool((out == np.ones(4) + 0.1 * np.arange(4.0)).all())
True
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

__all__ = ["vzero", "vzeros", "vload", "vstore", "vsplat", "vadd", "vsub", "vmul", "vmuladd", "vfma", "fma",
           "vcount_ge", "vwiden", "vlane", "load", "prefetch", "address"]

_I32 = ir.IntType(32)
_I8P = ir.IntType(8).as_pointer()
_FLOATS = (types.float32, types.float64)


class _Vector(types.Type):
    def __init__(self, dtype, width: int):
        self.dtype = dtype
        self.width = width
        super().__init__(name=f"{'f32' if dtype == types.float32 else 'f64'}x{width}")


@register_model(_Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _llvm(fe_type))


_VECTORS: dict[tuple, _Vector] = {}


def _vector(dtype, width: int) -> _Vector:
    if (dtype, width) not in _VECTORS:
        _VECTORS[dtype, width] = _Vector(dtype, width)
    return _VECTORS[dtype, width]


def _llvm(vty: _Vector) -> ir.VectorType:
    return ir.VectorType(ir.FloatType() if vty.dtype == types.float32 else ir.DoubleType(), vty.width)


def _width(w) -> int | None:
    return w.literal_value if isinstance(w, types.IntegerLiteral) and w.literal_value > 0 else None


def _float_array(arr) -> bool:
    return isinstance(arr, types.Array) and arr.dtype in _FLOATS


def _element_pointer(context, builder, arrty, arr, idx, to):
    data = context.make_array(arrty)(context, builder, arr).data
    return builder.bitcast(builder.gep(data, [idx]), to)


def _zeros(dtype, w):
    def codegen(context, builder, sig, args):
        return ir.Constant(_llvm(sig.return_type), [0.0] * w)
    return codegen


@intrinsic
def vzero(typingctx, width):
    """A float64 vector of zeros."""
    w = _width(width)
    if w is None:
        return None
    return _vector(types.float64, w)(width), _zeros(types.float64, w)


@intrinsic
def vzeros(typingctx, like, width):
    """A vector of zeros of ``like``'s element type (``like``: a float array)."""
    w = _width(width)
    if w is None or not _float_array(like):
        return None
    return _vector(like.dtype, w)(like, width), _zeros(like.dtype, w)


@intrinsic
def vload(typingctx, arr, idx, width):
    """``arr.flat[idx:idx + width]`` of a C-contiguous float array (no bounds check)."""
    w = _width(width)
    if w is None or not _float_array(arr):
        return None

    def codegen(context, builder, sig, args):
        llty = _llvm(sig.return_type)
        return builder.load(_element_pointer(context, builder, sig.args[0], args[0], args[1], llty.as_pointer()),
                            align=arr.dtype.bitwidth // 8)
    return _vector(arr.dtype, w)(arr, types.intp, width), codegen


@intrinsic
def vstore(typingctx, arr, idx, vec):
    """``arr.flat[idx:idx + W] = vec`` (no bounds check; same element type)."""
    if not (_float_array(arr) and isinstance(vec, _Vector) and vec.dtype == arr.dtype):
        return None

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1], _llvm(sig.args[2]).as_pointer())
        builder.store(args[2], ptr, align=arr.dtype.bitwidth // 8)
        return context.get_dummy_value()
    return types.none(arr, types.intp, vec), codegen


@intrinsic
def vsplat(typingctx, x, width):
    """``x`` in every lane: a float32 vector for a float32 ``x``, float64 otherwise."""
    w = _width(width)
    if w is None or not isinstance(x, (types.Float, types.Integer)):
        return None
    dtype = types.float32 if x == types.float32 else types.float64

    def codegen(context, builder, sig, args):
        llty = _llvm(sig.return_type)
        x = context.cast(builder, args[0], sig.args[0], dtype)
        one = builder.insert_element(ir.Constant(llty, ir.Undefined), x, ir.Constant(_I32, 0))
        return builder.shuffle_vector(one, ir.Constant(llty, ir.Undefined),
                                      ir.Constant(ir.VectorType(_I32, w), [0] * w))
    return _vector(dtype, w)(x, width), codegen


def _binary(op: str, doc: str):
    @intrinsic
    def fn(typingctx, a, b):
        if not isinstance(a, _Vector) or a != b:
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, op)(args[0], args[1])
        return a(a, b), codegen
    fn.__doc__ = doc
    return fn


vadd = _binary("fadd", "Lane-wise ``a + b``.")
vsub = _binary("fsub", "Lane-wise ``a - b``.")
vmul = _binary("fmul", "Lane-wise ``a * b``.")


@intrinsic
def vmuladd(typingctx, acc, v, row):
    """``acc + v * row`` lane-wise: the product rounded, then the sum (never fused)."""
    if not isinstance(acc, _Vector) or not (acc == v == row):
        return None

    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], builder.fmul(args[1], args[2]))
    return acc(acc, acc, acc), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """``a * b + c`` lane-wise, FUSED: rounded once (``llvm.fma``, a ``vfmadd``), as BLAS's GEMM kernels sum.

    Not :func:`vmuladd` (product and sum rounded separately): the two differ in the last bits.

    >>> import numba, numpy as np
    >>> @numba.njit
    ... def fused(a, b, c, out):
    ...     vstore(out, 0, vfma(vload(a, 0, 4), vload(b, 0, 4), vload(c, 0, 4)))
    >>> a, b, c, out = np.full(4, 1.0 + 2.0**-30), np.full(4, 1.0 - 2.0**-30), np.full(4, -1.0), np.empty(4)
    >>> fused(a, b, c, out)
    >>> out.tolist() == [-2.0**-60] * 4, (a * b + c).tolist() == [0.0] * 4
    (True, True)
    """
    if not isinstance(a, _Vector) or not (a == b == c):
        return None

    def codegen(context, builder, sig, args):
        llty = _llvm(sig.return_type)
        name = f"llvm.fma.v{a.width}{'f32' if a.dtype == types.float32 else 'f64'}"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(llty, [llty] * 3), name)
        return builder.call(fn, args)
    return a(a, a, a), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """Scalar ``a * b + c`` rounded once (``llvm.fma``): what a BLAS GEMM kernel computes per term."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        lty = context.get_value_type(sig.return_type)
        fn = builder.module.declare_intrinsic("llvm.fma", [lty], ir.FunctionType(lty, [lty, lty, lty]))
        return builder.call(fn, args)
    return a(a, b, c), codegen


@intrinsic
def vcount_ge(typingctx, cnt, b, ref):
    """``cnt + (|b| >= |ref|)`` lane-wise (counts held as exact floats)."""
    if not isinstance(cnt, _Vector) or not (cnt == b == ref):
        return None

    def codegen(context, builder, sig, args):
        llty = _llvm(sig.return_type)
        w = sig.return_type.width
        name = f"llvm.fabs.v{w}{'f32' if sig.return_type.dtype == types.float32 else 'f64'}"
        fabs = cgutils.get_or_insert_function(builder.module, ir.FunctionType(llty, [llty]), name)
        ge = builder.fcmp_ordered(">=", builder.call(fabs, [args[1]]), builder.call(fabs, [args[2]]))
        one = builder.select(ge, ir.Constant(llty, [1.0] * w), ir.Constant(llty, [0.0] * w))
        return builder.fadd(args[0], one)
    return cnt(cnt, cnt, cnt), codegen


@intrinsic
def vwiden(typingctx, vec):
    """The lanes as float64 (exact: float32 -> float64 conversion; float64 unchanged)."""
    if not isinstance(vec, _Vector):
        return None
    out = _vector(types.float64, vec.width)

    def codegen(context, builder, sig, args):
        if sig.args[0].dtype == types.float64:
            return args[0]
        return builder.fpext(args[0], _llvm(sig.return_type))
    return out(vec), codegen


@intrinsic
def vlane(typingctx, vec, i):
    """Lane ``i`` of ``vec``."""
    if not isinstance(vec, _Vector) or not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        return builder.extract_element(args[0], args[1])
    return vec.dtype(vec, i), codegen


@intrinsic
def load(typingctx, arr, idx):
    """``arr.flat[idx]`` with no bounds check and no negative-index wraparound (``idx >= 0``)."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        idx = context.cast(builder, args[1], sig.args[1], types.intp)
        return builder.load(builder.gep(data, [idx]))
    return arr.dtype(arr, idx), codegen


@intrinsic
def prefetch(typingctx, arr, idx):
    """Hint the cache line holding ``arr.flat[idx]`` into L1 (``llvm.prefetch``; no fault if out of range)."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        ptr = _element_pointer(context, builder, sig.args[0], args[0], args[1], _I8P)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [_I8P, _I32, _I32, _I32]), "llvm.prefetch.p0")
        builder.call(fn, [ptr, ir.Constant(_I32, 0), ir.Constant(_I32, 3), ir.Constant(_I32, 1)])
        return context.get_dummy_value()
    return types.none(arr, types.intp), codegen


@intrinsic
def address(typingctx, arr):
    """The address of ``arr``'s first element (to align buffers to cache lines)."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        return builder.ptrtoint(data, ir.IntType(64))
    return types.uintp(arr), codegen
