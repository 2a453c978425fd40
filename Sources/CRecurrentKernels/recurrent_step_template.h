// The recurrent step and gate pass of every cell, written once for any vector width.
// recurrent_kernels.c includes this file once per instruction set, after vector_isa_avx2.h or
// vector_isa_avx512.h and these:
//   MAX_ROWS    rows per register tile (accumulators: G · MAX_ROWS vectors, G ≤ 4)
//   vreduce     the sum of a vector's lanes
// The vector_isa headers give ISA(name) (the name with the set's suffix), TARGET (its target
// attribute), real (the lane type: float, or double where LANES_F64 is defined), W (lanes per
// vector: units per packed panel), vec, mask_t and v*: set1, zero, loadu, storeu, fmadd, mul,
// add, sub, min, max, div, mask_below(n) (lanes below n, 1 ≤ n ≤ W), load_masked(p, m),
// store_masked(p, m, v). The Double sets add what the precise activations need (abs,
// copysign, floor, select_*, exp2i) and get no bfloat16 step and no skinny GEMM.
//
// A panel of packed W_hh holds, for W hidden units, every input j's weights of all G recurrent
// gates (G·W floats), so one pass over the panel accumulates the gates of those units in
// registers; the cell update runs on the accumulators and the pre-activations never go back
// to memory (but for partial sums when the inputs take more than one pass, see PER_PASS).
// The cell (TLSTM_CELL_*) is a constant at every inlined call, so each cell gets its own loops.

#define INLINE_ISA static inline __attribute__((always_inline)) TARGET

#ifdef LANES_F64
// The precise Double activations of Activations+Double.swift, lane by lane: e^y = 2ⁿ·(1 + s)
// with y = n·ln 2 + r, |r| ≤ ½ ln 2 (ln 2 split in two so that n·ln 2_hi is exact) and
// s = e^r − 1 summed to degree 13; 2ⁿ as two normal factors, so results down to the subnormals
// are right. One series serves expm1 too: where n = 0, r is y and s is e^y − 1 without
// cancellation. Both activations are a few ulps from libm; ±0, ±∞ and NaN behave as libm's.
//
// Each activation is a chain of ~30 dependent operations, so ISA(activations) runs the same
// step over up to eight independent vectors before the next step (their chains interleaved in
// program order: the four gates of a row, then tanh(c) of a tile's rows), and the series is summed by Estrin's scheme (5 dependent FMAs, not
// Horner's 12): one chain after another kept the LSTM gate pass at 5.5 ns per unit, latency
// bound (AVX-512, Zen 5).
#define EACH for (int k = 0; k < count; k++)

// tanh where bit k of tanh_mask is set, else σ, of x[0..count) (count ≤ 8), in place:
//   tanh(x) = −expm1(−2|x|) / (2 + expm1(−2|x|)) with x's sign (x itself for tiny x, exactly
//             ±1 past ~19.06),
//   σ(x) = 1 / (1 + e^−|x|) for x ≥ 0 and e^−|x| / (1 + e^−|x|) below (tiny results keep
//             their precision).
INLINE_ISA void ISA(activations)(const int count, const int tanh_mask, vec *x) {
  const vec shift = vset1(0x1.8p52);  // adding and subtracting it rounds to an integer
  vec y[8], n[8], r[8], r2[8], r4[8], q[8][6], p[8], e[8];
  // y ≤ 0, clamped where e^y is 0 (NaN lanes compute NaN or garbage; x is put back at the end).
  EACH {
    vec a = vabs(x[k]);
    y[k] = vmax(vset1(-746.0), (tanh_mask >> k) & 1 ? vmul(vset1(-2.0), a) : vsub(vzero(), a));
  }
  EACH n[k] = vsub(vfmadd(y[k], vset1(1.4426950408889634), shift), shift);
  // n·ln 2_hi is exact, so the first FMA rounds once, as a subtraction would.
  EACH r[k] = vfmadd(n[k], vset1(-0.693147180369123816490), y[k]);
  EACH r[k] = vfmadd(n[k], vset1(-1.90821492927058770002e-10), r[k]);
  // s = r + r²·p(r), p's coefficients 1/2!…1/13! in pairs, pairs of pairs, then r⁴ and r⁸.
  EACH {
    r2[k] = vmul(r[k], r[k]);
    q[k][0] = vfmadd(vset1(1.0 / 6.0), r[k], vset1(0.5));
    q[k][1] = vfmadd(vset1(1.0 / 120.0), r[k], vset1(1.0 / 24.0));
    q[k][2] = vfmadd(vset1(1.0 / 5040.0), r[k], vset1(1.0 / 720.0));
    q[k][3] = vfmadd(vset1(1.0 / 362880.0), r[k], vset1(1.0 / 40320.0));
    q[k][4] = vfmadd(vset1(1.0 / 39916800.0), r[k], vset1(1.0 / 3628800.0));
    q[k][5] = vfmadd(vset1(1.0 / 6227020800.0), r[k], vset1(1.0 / 479001600.0));
  }
  EACH {
    r4[k] = vmul(r2[k], r2[k]);
    q[k][0] = vfmadd(q[k][1], r2[k], q[k][0]);
    q[k][2] = vfmadd(q[k][3], r2[k], q[k][2]);
    q[k][4] = vfmadd(q[k][5], r2[k], q[k][4]);
  }
  EACH p[k] = vfmadd(q[k][4], vmul(r4[k], r4[k]), vfmadd(q[k][2], r4[k], q[k][0]));
  EACH p[k] = vfmadd(p[k], r2[k], r[k]);  // s
  // e^y = 2ⁿ·(1 + s), 2ⁿ as 2^⌊n/2⌋ · 2^(n − ⌊n/2⌋).
  EACH {
    vec half = vfloor(vmul(n[k], vset1(0.5)));
    e[k] = vmul(vmul(vadd(vset1(1.0), p[k]), vexp2i(half)), vexp2i(vsub(n[k], half)));
  }
  EACH {
    vec numerator, denominator;
    if ((tanh_mask >> k) & 1) {
      vec em = vselect_eq(n[k], vzero(), p[k], vsub(e[k], vset1(1.0)));
      numerator = vsub(vzero(), em);
      denominator = vadd(vset1(2.0), em);
    } else {
      numerator = vselect_lt(x[k], vzero(), e[k], vset1(1.0));
      denominator = vadd(vset1(1.0), e[k]);
    }
    vec value = vdiv(numerator, denominator);
    if ((tanh_mask >> k) & 1) value = vcopysign(value, x[k]);
    x[k] = vselect_nan(x[k], x[k], value);
  }
}
#undef EACH

INLINE_ISA vec ISA(tanh_v)(vec x) {
  ISA(activations)(1, 1, &x);
  return x;
}

INLINE_ISA vec ISA(sigmoid_v)(vec x) {
  ISA(activations)(1, 0, &x);
  return x;
}
#else
// tanh as the odd rational p(x)/q(x) of Eigen and MLAS, x clamped to ±7.905 (the constants and
// the clamp of Activations.swift). min/max keep NaN: with a NaN second operand they return it.
INLINE_ISA vec ISA(tanh_v)(vec x) {
  vec v = vmax(vset1(-7.90531110763549805f), vmin(vset1(7.90531110763549805f), x));
  vec v2 = vmul(v, v);
  vec p = vfmadd(vset1(-2.76076847742355e-16f), v2, vset1(2.00018790482477e-13f));
  p = vfmadd(p, v2, vset1(-8.60467152213735e-11f));
  p = vfmadd(p, v2, vset1(5.12229709037114e-08f));
  p = vfmadd(p, v2, vset1(1.48572235717979e-05f));
  p = vfmadd(p, v2, vset1(6.37261928875436e-04f));
  p = vfmadd(p, v2, vset1(4.89352455891786e-03f));
  vec q = vfmadd(vset1(1.19825839466702e-06f), v2, vset1(1.18534705686654e-04f));
  q = vfmadd(q, v2, vset1(2.26843463243900e-03f));
  q = vfmadd(q, v2, vset1(4.89352518554385e-03f));
  return vdiv(vmul(p, v), q);
}

// σ(x) = ½ + ½·tanh(x/2).
INLINE_ISA vec ISA(sigmoid_v)(vec x) {
  return vfmadd(vset1(0.5f), ISA(tanh_v)(vmul(vset1(0.5f), x)), vset1(0.5f));
}

// tanh where bit k of tanh_mask is set, else σ, of x[0..count), in place.
INLINE_ISA void ISA(activations)(const int count, const int tanh_mask, vec *x) {
  for (int k = 0; k < count; k++) {
    x[k] = (tanh_mask >> k) & 1 ? ISA(tanh_v)(x[k]) : ISA(sigmoid_v)(x[k]);
  }
}
#endif

INLINE_ISA vec ISA(load)(const real *p, int full, mask_t mask) {
  return full ? vloadu(p) : vload_masked(p, mask);
}

INLINE_ISA void ISA(store)(real *p, vec v, int full, mask_t mask) {
  if (full) {
    vstoreu(p, v);
  } else {
    vstore_masked(p, mask, v);
  }
}

// Recurrent gates per cell: LSTM i, f, g, o; GRU r, z, n (n's recurrent part alone); RNN one.
#define CELL_GATES(cell)                                                                         \
  ((cell) == TLSTM_CELL_LSTM || (cell) == TLSTM_CELL_LSTM_TRACE ? 4                             \
   : (cell) == TLSTM_CELL_GRU || (cell) == TLSTM_CELL_GRU_TRACE ? 3                             \
                                                                : 1)

// The cell update for W units (or the masked tail) of one row, from the pre-activations `a`
// (input projection, biases and recurrent product summed, but for the GRU's n, see below):
//   LSTM: c = σ(f)·c + σ(i)·tanh(g), h = σ(o)·tanh(c)
//   GRU:  r = σ(a0), z = σ(a1), n = tanh(x_n + r·a2), h = n + z·(h_old − n), where a2 is
//         W_hn·h + b_hn and x_n = W_in·x + b_in waits in the row's fourth slot (`x_n`)
//   RNN:  h = tanh(a0) or max(0, a0)
// The LSTM's trace variant also stores σ(i), σ(f), tanh(g), σ(o) into the row's four slots
// (`row`, `block` apart) for the backward; the GRU's stores r, z, n and a2 (W_hn·h + b_hn).
// The LSTM's update up to h: activates the gates `a`, stores and returns c = σ(f)·c + σ(i)·tanh(g)
// (in `c`) and the trace, and returns σ(o).
INLINE_ISA vec ISA(lstm_cell)(const int cell, const vec *a, real *cell_state, real *row,
                              ptrdiff_t block, int full, mask_t mask, vec *c) {
  vec act[4] = {a[0], a[1], a[2], a[3]};
  ISA(activations)(4, 1 << 2, act);
  vec i = act[0], f = act[1], g = act[2], o = act[3];
  *c = vfmadd(f, ISA(load)(cell_state, full, mask), vmul(i, g));
  ISA(store)(cell_state, *c, full, mask);
  if (cell == TLSTM_CELL_LSTM_TRACE) {
    ISA(store)(row, i, full, mask);
    ISA(store)(row + block, f, full, mask);
    ISA(store)(row + 2 * block, g, full, mask);
    ISA(store)(row + 3 * block, o, full, mask);
  }
  return o;
}

INLINE_ISA void ISA(update)(const int cell, vec *a, real *cell_state, const real *h_old,
                            real *row, ptrdiff_t block, real *h, int full, mask_t mask) {
  if (cell == TLSTM_CELL_LSTM || cell == TLSTM_CELL_LSTM_TRACE) {
    vec c;
    vec o = ISA(lstm_cell)(cell, a, cell_state, row, block, full, mask, &c);
    ISA(store)(h, vmul(o, ISA(tanh_v)(c)), full, mask);
  } else if (cell == TLSTM_CELL_GRU || cell == TLSTM_CELL_GRU_TRACE) {
    vec act[2] = {a[0], a[1]};
    ISA(activations)(2, 0, act);
    vec r = act[0], z = act[1];
    vec n = ISA(tanh_v)(vfmadd(r, a[2], ISA(load)(row + 3 * block, full, mask)));
    // PyTorch's order: (h_old − n)·z + n.
    ISA(store)(h, vfmadd(vsub(ISA(load)(h_old, full, mask), n), z, n), full, mask);
    if (cell == TLSTM_CELL_GRU_TRACE) {
      ISA(store)(row, r, full, mask);
      ISA(store)(row + block, z, full, mask);
      ISA(store)(row + 2 * block, n, full, mask);
      ISA(store)(row + 3 * block, a[2], full, mask);
    }
  } else if (cell == TLSTM_CELL_RNN_TANH) {
    ISA(store)(h, ISA(tanh_v)(a[0]), full, mask);
  } else {
    // max(0, a) returns a when a is NaN (its second operand), as PyTorch's relu does.
    ISA(store)(h, vmax(vzero(), a[0]), full, mask);
  }
}

// Inputs per pass over the panels when rows share them: an LSTM panel's slice is then 16 KiB,
// which stays in L1 while every row tile goes through it.
enum { ISA(PER_PASS) = 16384 / (4 * W * (int)sizeof(real)) };

// The fused step, once over weights of the lane type and, for Float, once over bfloat16
// weights (half the bytes per step; widened to Float in registers, so the arithmetic is the
// Float step's).
#define WT real
#define vload_w vloadu
#define WISA(name) ISA(name)
#include "recurrent_step_weights_template.h"
#undef WT
#undef vload_w
#undef WISA
#ifndef LANES_F64
#define WT uint16_t
#define vload_w vload_bf16
#define WISA(name) ISA(name##_bf16)
#include "recurrent_step_weights_template.h"
#undef WT
#undef vload_w
#undef WISA
#endif

// The gate pass alone for one row: the update of ISA(update) on the row's slots.
INLINE_ISA void ISA(gates_cell)(const int cell, const real *gates, real *cell_state,
                                const real *h_old, real *h, ptrdiff_t units) {
  const int G = CELL_GATES(cell);
  for (ptrdiff_t u0 = 0; u0 < units; u0 += W) {
    int full = units - u0 >= W;
    mask_t mask = vmask_below(full ? W : units - u0);
    vec a[4];
    for (int s = 0; s < G; s++) a[s] = ISA(load)(gates + s * units + u0, full, mask);
    ISA(update)(cell, a, cell_state + u0, h_old + u0, (real *)gates + u0, units, h + u0, full,
                mask);
  }
}

TARGET void ISA(tlstm_gates)(int cell, const real *gates, real *cell_state, const real *h_old,
                             real *h, ptrdiff_t units) {
  if (!h_old) h_old = h;
  switch (cell) {
  case TLSTM_CELL_LSTM: ISA(gates_cell)(TLSTM_CELL_LSTM, gates, cell_state, h_old, h, units); break;
  case TLSTM_CELL_GRU: ISA(gates_cell)(TLSTM_CELL_GRU, gates, cell_state, h_old, h, units); break;
  case TLSTM_CELL_RNN_TANH:
    ISA(gates_cell)(TLSTM_CELL_RNN_TANH, gates, cell_state, h_old, h, units);
    break;
  default: ISA(gates_cell)(TLSTM_CELL_RNN_RELU, gates, cell_state, h_old, h, units); break;
  }
}

// The LSTM cell's backward for one row (see tlstm_lstm_gate_gradient_* in the header).
TARGET void ISA(tlstm_lstm_gate_gradient)(const real *gates, const real *cell,
                                          const real *cell_prev, const real *dh,
                                          real *carry_c, real *dg, real *full_hidden,
                                          ptrdiff_t units, ptrdiff_t slot) {
  const vec one = vset1(1.0f);
  for (ptrdiff_t u0 = 0; u0 < units; u0 += W) {
    int full = units - u0 >= W;
    mask_t mask = vmask_below(full ? W : units - u0);
    vec i = ISA(load)(gates + u0, full, mask), f = ISA(load)(gates + slot + u0, full, mask);
    vec g = ISA(load)(gates + 2 * slot + u0, full, mask);
    vec o = ISA(load)(gates + 3 * slot + u0, full, mask);
    vec tc = ISA(tanh_v)(ISA(load)(cell + u0, full, mask));
    vec d = ISA(load)(dh + u0, full, mask);
    // dc = carry + dh·o·(1 − tanh²c)
    vec dc = vfmadd(vmul(d, o), vsub(one, vmul(tc, tc)), ISA(load)(carry_c + u0, full, mask));
    ISA(store)(dg + u0, vmul(vmul(dc, g), vmul(i, vsub(one, i))), full, mask);
    ISA(store)(dg + slot + u0,
               vmul(vmul(dc, ISA(load)(cell_prev + u0, full, mask)), vmul(f, vsub(one, f))), full,
               mask);
    ISA(store)(dg + 2 * slot + u0, vmul(vmul(dc, i), vsub(one, vmul(g, g))), full, mask);
    ISA(store)(dg + 3 * slot + u0, vmul(vmul(d, tc), vmul(o, vsub(one, o))), full, mask);
    ISA(store)(carry_c + u0, vmul(dc, f), full, mask);
    if (full_hidden) ISA(store)(full_hidden + u0, vmul(o, tc), full, mask);
  }
}

#ifndef LANES_F64
// One register tile of the skinny GEMM: MR rows of `a` by NB columns (rows of `bt`), MR·NB
// accumulators, walking j once. MR and NB are constants at every call, so the loops unroll.
// Tails reuse the last row or column and store only the valid sums.
INLINE_ISA void ISA(skinny_tile)(const real *a, ptrdiff_t lda, const real *bt, ptrdiff_t ldb,
                                 real *c, ptrdiff_t ldc, ptrdiff_t m0, ptrdiff_t mb,
                                 ptrdiff_t n0, ptrdiff_t nb, ptrdiff_t k, const int MR,
                                 const int NB) {
  const ptrdiff_t full = k - k % W;
  const real *b[4], *r[8];
  for (int q = 0; q < NB; q++) b[q] = bt + (n0 + (q < nb ? q : nb - 1)) * ldb;
  for (int p = 0; p < MR; p++) r[p] = a + (m0 + (p < mb ? p : mb - 1)) * lda;
  vec s[8][4];
  for (int p = 0; p < MR; p++)
    for (int q = 0; q < NB; q++) s[p][q] = vzero();
  for (ptrdiff_t j = 0; j < full; j += W) {
    vec vb[4];
    for (int q = 0; q < NB; q++) vb[q] = vloadu(b[q] + j);
    for (int p = 0; p < MR; p++) {
      const vec va = vloadu(r[p] + j);
      for (int q = 0; q < NB; q++) s[p][q] = vfmadd(va, vb[q], s[p][q]);
    }
  }
  if (full < k) {
    const mask_t tail = vmask_below(k % W);
    vec vb[4];
    for (int q = 0; q < NB; q++) vb[q] = vload_masked(b[q] + full, tail);
    for (int p = 0; p < MR; p++) {
      const vec va = vload_masked(r[p] + full, tail);
      for (int q = 0; q < NB; q++) s[p][q] = vfmadd(va, vb[q], s[p][q]);
    }
  }
  for (ptrdiff_t p = 0; p < mb; p++)
    for (ptrdiff_t q = 0; q < nb; q++) c[(m0 + p) * ldc + n0 + q] += vreduce(s[p][q]);
}

// c[m·ldc + n] += Σ_j a[m·lda + j] · bt[n·ldb + j]: a GEMM with few columns (an im2col'd
// convolution with few output positions, a batch-1 projection) that a packing GEMM spends most
// of its time preparing for. Each row of `a` is read once per tile of columns: tiles of four
// rows by four columns (8 loads per 16 FMAs; three rows on AVX2, whose 16 registers would
// spill), of eight rows by two, or of eight rows by one for the last columns, so a one- or
// two-column product does no FMA on a repeated column.
TARGET void ISA(tlstm_skinny_gemm)(const real *a, ptrdiff_t lda, const real *bt, ptrdiff_t ldb,
                                   real *c, ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t cols,
                                   ptrdiff_t k) {
  for (ptrdiff_t n0 = 0; n0 < cols; n0 += 4) {
    const ptrdiff_t nb = cols - n0 < 4 ? cols - n0 : 4;
    if (nb >= 3) {
      // AVX2 has 16 vector registers: 3 rows (12 accumulators and 4 columns) do not spill.
      const ptrdiff_t mr = W == 8 ? 3 : 4;
      for (ptrdiff_t m0 = 0; m0 < rows; m0 += mr)
        ISA(skinny_tile)(a, lda, bt, ldb, c, ldc, m0, rows - m0 < mr ? rows - m0 : mr, n0, nb, k,
                         W == 8 ? 3 : 4, 4);
    } else if (nb == 2) {
      for (ptrdiff_t m0 = 0; m0 < rows; m0 += 8)
        ISA(skinny_tile)(a, lda, bt, ldb, c, ldc, m0, rows - m0 < 8 ? rows - m0 : 8, n0, 2, k,
                         8, 2);
    } else {
      for (ptrdiff_t m0 = 0; m0 < rows; m0 += 8)
        ISA(skinny_tile)(a, lda, bt, ldb, c, ldc, m0, rows - m0 < 8 ? rows - m0 : 8, n0, 1, k,
                         8, 1);
    }
  }
}

#endif
#undef INLINE_ISA
