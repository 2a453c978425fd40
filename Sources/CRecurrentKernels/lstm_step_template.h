// The LSTM step and gate pass, written once for any vector width. recurrent_kernels.c includes
// this file once per instruction set, after defining:
//   ISA(name)   the name with the set's suffix (name##_avx2, name##_avx512)
//   TARGET      the target attribute of the set
//   W           lanes per vector (units per packed panel)
//   MAX_ROWS    rows per register tile (accumulators: 4 · MAX_ROWS vectors)
//   vec, mask_t and v*: set1, zero, loadu, storeu, fmadd, mul, add, min, max, div,
//   mask_below(n) (lanes below n, 1 ≤ n ≤ W), load_masked(p, m), store_masked(p, m, v)
//
// A panel of packed W_hh holds, for W hidden units, every input j's weights of all four gates
// (4W floats), so one pass over the panel accumulates i, f, g and o for those units in
// registers; the cell update runs on the accumulators and the pre-activations never go back
// to memory (but for partial sums when the inputs take more than one pass, see PER_PASS).

#define INLINE_ISA static inline __attribute__((always_inline)) TARGET

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

INLINE_ISA vec ISA(load)(const float *p, int full, mask_t mask) {
  return full ? vloadu(p) : vload_masked(p, mask);
}

INLINE_ISA void ISA(store)(float *p, vec v, int full, mask_t mask) {
  if (full) {
    vstoreu(p, v);
  } else {
    vstore_masked(p, mask, v);
  }
}

// c = σ(f)·c + σ(i)·tanh(g), h = σ(o)·tanh(c) for W units (or the masked tail).
INLINE_ISA void ISA(update_cell)(vec i, vec f, vec g, vec o, float *cell, float *h, int full,
                                 mask_t mask) {
  vec c = ISA(load)(cell, full, mask);
  c = vfmadd(ISA(sigmoid_v)(f), c, vmul(ISA(sigmoid_v)(i), ISA(tanh_v)(g)));
  ISA(store)(cell, c, full, mask);
  ISA(store)(h, vmul(ISA(sigmoid_v)(o), ISA(tanh_v)(c)), full, mask);
}

// `rows` (1...MAX_ROWS) rows of one W-unit panel over `k` inputs (panel and h_prev start at
// the pass's first input). The accumulators start from `gates`; on the last pass the cell
// update runs on them, on the others they go back to `gates` for the next pass. `rows` is a
// constant at each call site, so each call inlines into its own copy with the loops unrolled.
INLINE_ISA void ISA(step_rows)(const int rows, const float *panel, ptrdiff_t k,
                               const float *h_prev, ptrdiff_t h_prev_stride, float *gates,
                               ptrdiff_t gate_stride, ptrdiff_t gate_block, int last, float *cell,
                               ptrdiff_t cell_stride, float *h, ptrdiff_t h_stride, int full,
                               mask_t mask) {
  vec acc[MAX_ROWS][4];
  for (int r = 0; r < rows; r++) {
    for (int s = 0; s < 4; s++) {
      acc[r][s] = ISA(load)(gates + r * gate_stride + s * gate_block, full, mask);
    }
  }
  ptrdiff_t j = 0;
  if (rows == 1) {
    // One row alone has four chains; a second set over odd j doubles them.
    vec odd[4] = {vzero(), vzero(), vzero(), vzero()};
    for (; j + 2 <= k; j += 2) {
      const float *w = panel + j * 4 * W;
      vec a0 = vset1(h_prev[j]);
      vec a1 = vset1(h_prev[j + 1]);
      for (int s = 0; s < 4; s++) {
        acc[0][s] = vfmadd(a0, vloadu(w + s * W), acc[0][s]);
        odd[s] = vfmadd(a1, vloadu(w + 4 * W + s * W), odd[s]);
      }
    }
    for (int s = 0; s < 4; s++) acc[0][s] = vadd(acc[0][s], odd[s]);
  }
  for (; j < k; j++) {
    const float *w = panel + j * 4 * W;
    vec weights[4];
    for (int s = 0; s < 4; s++) weights[s] = vloadu(w + s * W);
    for (int r = 0; r < rows; r++) {
      vec a = vset1(h_prev[r * h_prev_stride + j]);
      for (int s = 0; s < 4; s++) acc[r][s] = vfmadd(a, weights[s], acc[r][s]);
    }
  }
  for (int r = 0; r < rows; r++) {
    if (last) {
      ISA(update_cell)(acc[r][0], acc[r][1], acc[r][2], acc[r][3], cell + r * cell_stride,
                       h + r * h_stride, full, mask);
    } else {
      for (int s = 0; s < 4; s++) {
        ISA(store)(gates + r * gate_stride + s * gate_block, acc[r][s], full, mask);
      }
    }
  }
}

// One tile of `rows` rows at row `b`, with the row count a constant in each case.
INLINE_ISA void ISA(step_tile)(int rows, const float *panel, ptrdiff_t count,
                               const float *h_prev, ptrdiff_t h_prev_stride, float *gates,
                               ptrdiff_t gate_stride, ptrdiff_t gate_block, int last, float *cell,
                               ptrdiff_t cell_stride, float *h, ptrdiff_t h_stride, int full,
                               mask_t mask) {
#define TILE(R)                                                                                 \
  case R:                                                                                       \
    ISA(step_rows)(R, panel, count, h_prev, h_prev_stride, gates, gate_stride, gate_block,     \
                   last, cell, cell_stride, h, h_stride, full, mask);                           \
    break;
  switch (rows) {
    TILE(1)
    TILE(2)
#if MAX_ROWS >= 3
    TILE(3)
#endif
#if MAX_ROWS >= 4
    TILE(4)
#endif
#if MAX_ROWS >= 5
    TILE(5)
#endif
#if MAX_ROWS >= 6
    TILE(6)
#endif
  }
#undef TILE
}

// Inputs per pass over the panels when rows share them: a panel's slice is then 16 KiB, which
// stays in L1 while every row tile goes through it.
enum { ISA(PER_PASS) = 4096 / (4 * W) };

TARGET void ISA(tlstm_lstm_step)(const float *packed, ptrdiff_t units, ptrdiff_t k,
                                 const float *h_prev, ptrdiff_t h_prev_stride, float *gates,
                                 ptrdiff_t gate_stride, ptrdiff_t gate_block, float *cell,
                                 ptrdiff_t cell_stride, float *h, ptrdiff_t h_stride,
                                 ptrdiff_t batch) {
  // Tiles of at most MAX_ROWS rows, as even as possible: 7 rows at MAX_ROWS 6 are 4 + 3, and
  // an odd batch never leaves a one-row pass behind a full tile.
  ptrdiff_t tiles = (batch + MAX_ROWS - 1) / MAX_ROWS;
  ptrdiff_t base = batch / tiles, extra = batch % tiles;
  // One tile reuses nothing from L1: one pass over all inputs, no partial sums. Tiles of 4 or
  // more rows need so few weight bytes per FMA (AVX-512, 6 rows: 256 B per 24 FMAs) that the
  // panel streams from L2 for each tile at no cost, so they take one pass too and skip the
  // partial sums: B 12, H 768 645 → 515 µs per step; B 48, H 384 608 → 524 (Zen 4).
  ptrdiff_t per_pass = (tiles == 1 || base >= 4) ? k : ISA(PER_PASS);
  for (ptrdiff_t j0 = 0; j0 < k; j0 += per_pass) {
    ptrdiff_t count = k - j0 < per_pass ? k - j0 : per_pass;
    int last = j0 + count == k;
    for (ptrdiff_t u0 = 0; u0 < units; u0 += W) {
      const float *panel = packed + u0 / W * k * 4 * W + j0 * 4 * W;
      int full = units - u0 >= W;
      mask_t mask = vmask_below(full ? W : units - u0);
      ptrdiff_t b = 0;
      for (ptrdiff_t tile = 0; tile < tiles; tile++) {
        int rows = (int)(base + (tile < extra ? 1 : 0));
        ISA(step_tile)(rows, panel, count, h_prev + b * h_prev_stride + j0, h_prev_stride,
                       gates + b * gate_stride + u0, gate_stride, gate_block, last,
                       cell + b * cell_stride + u0, cell_stride, h + b * h_stride + u0, h_stride,
                       full, mask);
        b += rows;
      }
    }
  }
}

TARGET void ISA(tlstm_gates)(const float *gates, float *cell, float *h, ptrdiff_t units) {
  for (ptrdiff_t u0 = 0; u0 < units; u0 += W) {
    int full = units - u0 >= W;
    mask_t mask = vmask_below(full ? W : units - u0);
    const float *row = gates + u0;
    ISA(update_cell)(ISA(load)(row, full, mask), ISA(load)(row + units, full, mask),
                     ISA(load)(row + 2 * units, full, mask), ISA(load)(row + 3 * units, full, mask),
                     cell + u0, h + u0, full, mask);
  }
}

#undef INLINE_ISA
