"""Vector steps the resampler needs and LLVM does not find on its own, as numba intrinsics.
Private to `vgen.picture.warp`.

numba compiles loops to vector code, but two steps of the resampler come out slow from plain code:
- a rounding 16-bit multiply-high, round(a * b / 2^15), which x86 does in one instruction
  (`pmulhrsw`): from Python-level integer code LLVM builds 32-bit products instead, on half
  the lanes (the vertical pass ran 2.2x slower);
- a 16x16 transpose of int16, which from scalar code is a load and a store per element.

Each step here is written once as LLVM vector IR, 16 lanes of int16. The multiply-high is the
AVX2 instruction where the CPU numba compiles for has it, two SSSE3 halves where it has that,
and plain IR (sign-extend, multiply, shift) elsewhere: the same integers on every CPU, so a
segment rendered on one worker matches one rendered on another. `mulhrs` is the scalar form,
for the columns left over after the last whole vector.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

LANES = 16
_I8, _I16, _I32 = ir.IntType(8), ir.IntType(16), ir.IntType(32)
_V8, _V16, _V32 = ir.VectorType(_I8, LANES), ir.VectorType(_I16, LANES), ir.VectorType(_I32, LANES)


@njit(inline="always")
def mulhrs(a, b):  # pragma: no cover - compiled
    """round(a * b / 2^15) of two int16, as `pmulhrsw` computes it."""
    return np.int16(((np.int32(a) * np.int32(b) >> 14) + 1) >> 1)


def _splat(ty: ir.VectorType, value: int) -> ir.Constant:
    return ir.Constant(ty, [ir.Constant(ty.element, value)] * ty.count)


def _broadcast(builder: ir.IRBuilder, x: ir.Value) -> ir.Value:
    undef = ir.Constant(_V16, ir.Undefined)
    one = builder.insert_element(undef, x, ir.Constant(_I32, 0))
    return builder.shuffle_vector(one, undef, ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES))


def _features(context: Any) -> set[str]:
    """CPU features numba compiles for (its cache is keyed on them, so the choice is safe to cache).

    numba has no public accessor for them: this reads its codegen's private `_tm_features`
    (present from 0.59 to 0.68, the range pyproject.toml allows). Where a release drops it, the
    set is empty and the portable IR below is compiled: the same bytes, only slower."""
    text = str(getattr(context.codegen(), "_tm_features", "") or "")
    return {f[1:] for f in text.split(",") if f.startswith("+")}


def _mulhrs_vector(builder: ir.IRBuilder, features: set[str], a: ir.Value, b: ir.Value) -> ir.Value:
    if "avx2" in features:
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_V16, [_V16, _V16]), "llvm.x86.avx2.pmul.hr.sw"
        )
        return builder.call(fn, [a, b])
    if "ssse3" in features:
        half = ir.VectorType(_I16, 8)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(half, [half, half]), "llvm.x86.ssse3.pmul.hr.sw.128"
        )
        parts = []
        for lo in (0, 8):
            pick = ir.Constant(ir.VectorType(_I32, 8), list(range(lo, lo + 8)))
            parts.append(builder.call(fn, [builder.shuffle_vector(a, a, pick), builder.shuffle_vector(b, b, pick)]))
        return builder.shuffle_vector(parts[0], parts[1], ir.Constant(ir.VectorType(_I32, LANES), list(range(16))))
    p = builder.mul(builder.sext(a, _V32), builder.sext(b, _V32))
    p = builder.ashr(builder.add(builder.ashr(p, _splat(_V32, 14)), _splat(_V32, 1)), _splat(_V32, 1))
    return builder.trunc(p, _V16)


def _at(builder: ir.IRBuilder, address: ir.Value, offset: ir.Value, vector: ir.VectorType) -> ir.Value:
    """Pointer to a vector at `offset` elements past the byte address `address`."""
    first = builder.gep(builder.inttoptr(address, ir.PointerType(vector.element)), [offset])
    return builder.bitcast(first, ir.PointerType(vector))


_ROW_ARGS = (types.intp,) * 4 + (types.int16,) * 4 + (types.intp, types.intp)


def _rows_step(to_u8: bool):
    """The intrinsic out[c] = sum_k mulhrs(row_k[c], w_k) for c < 16 * chunks, rows of int16 at byte
    addresses; stored as int16, or with `to_u8` rounded by 2^5 and clamped into uint8."""

    def typer(typingctx, r0, r1, r2, r3, w0, w1, w2, w3, out, chunks):
        def codegen(context, builder, sig, args):
            features = _features(context)
            rows, weights = args[:4], [_broadcast(builder, w) for w in args[4:8]]
            out_addr, n = args[8], args[9]
            with cgutils.for_range(builder, n) as loop:
                off = builder.mul(loop.index, ir.Constant(loop.index.type, LANES))
                acc = None
                for row, w in zip(rows, weights):
                    term = _mulhrs_vector(builder, features, builder.load(_at(builder, row, off, _V16), align=2), w)
                    acc = term if acc is None else builder.add(acc, term)
                if to_u8:
                    acc = builder.ashr(builder.add(acc, _splat(_V16, 16)), _splat(_V16, 5))
                    acc = builder.select(builder.icmp_signed("<", acc, _splat(_V16, 0)), _splat(_V16, 0), acc)
                    acc = builder.select(builder.icmp_signed(">", acc, _splat(_V16, 255)), _splat(_V16, 255), acc)
                    builder.store(builder.trunc(acc, _V8), _at(builder, out_addr, off, _V8), align=1)
                else:
                    builder.store(acc, _at(builder, out_addr, off, _V16), align=2)
            return context.get_dummy_value()

        return types.void(*_ROW_ARGS), codegen

    return intrinsic(typer)


rows_to_i16 = _rows_step(to_u8=False)
rows_to_u8 = _rows_step(to_u8=True)


@intrinsic
def transpose16(typingctx, src, src_stride, dst, dst_stride):
    """dst[c][r] = src[r][c] for one 16x16 tile of int16 (byte addresses and row strides), in registers:
    four rounds of swapping the off-diagonal blocks of 8, 4, 2 and 1."""

    def codegen(context, builder, sig, args):
        s, ss, d, ds = args
        rows = [
            builder.load(
                _at(builder, builder.add(s, builder.mul(ss, ir.Constant(ss.type, r))), ir.Constant(_I32, 0), _V16),
                align=2,
            )
            for r in range(LANES)
        ]
        k = LANES // 2
        while k:
            swapped = list(rows)
            for r in (r for r in range(LANES) if not r & k):
                a, b = rows[r], rows[r + k]
                top = [c if not c & k else LANES + c - k for c in range(LANES)]
                bottom = [c + k if not c & k else LANES + c for c in range(LANES)]
                swapped[r] = builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(_I32, LANES), top))
                swapped[r + k] = builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(_I32, LANES), bottom))
            rows, k = swapped, k // 2
        for r, row in enumerate(rows):
            builder.store(
                row,
                _at(builder, builder.add(d, builder.mul(ds, ir.Constant(ds.type, r))), ir.Constant(_I32, 0), _V16),
                align=2,
            )
        return context.get_dummy_value()

    return types.void(types.intp, types.intp, types.intp, types.intp), codegen
