// The fused step over packed W_hh of one weight type, included by recurrent_step_template.h once
// per type after defining:
//   WT          the packed weight type (float, or uint16_t holding bfloat16)
//   vload_w(p)  W weights from p as a vector of Floats (bfloat16 widens exactly)
//   WISA(name)  the name of this type's instance (ISA(name), ISA(name##_bf16))

// `rows` (1...MAX_ROWS) rows of one W-unit panel over `k` inputs (panel and h_prev start at
// the pass's first input). The accumulators start from `gates`; on the last pass the cell
// update runs on them, on the others they go back to `gates` for the next pass. `cell` and
// `rows` are constants at each call site, so each call inlines into its own copy with the
// loops unrolled.
INLINE_ISA void WISA(step_rows)(const int cell, const int rows, const WT *panel, ptrdiff_t k,
                               const real *h_prev, ptrdiff_t h_prev_stride, const real *h_old,
                               real *gates, ptrdiff_t gate_stride, ptrdiff_t gate_block,
                               int last, real *cell_state, ptrdiff_t cell_stride, real *h,
                               ptrdiff_t h_stride, int full, mask_t mask) {
  const int G = CELL_GATES(cell);
  vec acc[MAX_ROWS][4];
  for (int r = 0; r < rows; r++) {
    for (int s = 0; s < G; s++) {
      acc[r][s] = ISA(load)(gates + r * gate_stride + s * gate_block, full, mask);
    }
  }
  ptrdiff_t j = 0;
  if (rows == 1) {
    // One row alone has G chains; a second set over odd j doubles them.
    vec odd[4] = {vzero(), vzero(), vzero(), vzero()};
    for (; j + 2 <= k; j += 2) {
      const WT *w = panel + j * G * W;
      vec a0 = vset1(h_prev[j]);
      vec a1 = vset1(h_prev[j + 1]);
      for (int s = 0; s < G; s++) {
        acc[0][s] = vfmadd(a0, vload_w(w + s * W), acc[0][s]);
        odd[s] = vfmadd(a1, vload_w(w + G * W + s * W), odd[s]);
      }
    }
    for (int s = 0; s < G; s++) acc[0][s] = vadd(acc[0][s], odd[s]);
  }
  for (; j < k; j++) {
    const WT *w = panel + j * G * W;
    vec weights[4];
    for (int s = 0; s < G; s++) weights[s] = vload_w(w + s * W);
    for (int r = 0; r < rows; r++) {
      vec a = vset1(h_prev[r * h_prev_stride + j]);
      for (int s = 0; s < G; s++) acc[r][s] = vfmadd(a, weights[s], acc[r][s]);
    }
  }
  if (last && (cell == TLSTM_CELL_LSTM || cell == TLSTM_CELL_LSTM_TRACE)) {
    // The LSTM's update in two phases, so that tanh(c) of every row runs as one batch of
    // independent chains: c (and the trace) row by row, then h = σ(o)·tanh(c) for all rows.
    vec o[MAX_ROWS], c[MAX_ROWS];
    for (int r = 0; r < rows; r++) {
      o[r] = ISA(lstm_cell)(cell, acc[r], cell_state + r * cell_stride, gates + r * gate_stride,
                            gate_block, full, mask, &c[r]);
    }
    ISA(activations)(rows, (1 << rows) - 1, c);
    for (int r = 0; r < rows; r++) ISA(store)(h + r * h_stride, vmul(o[r], c[r]), full, mask);
    return;
  }
  for (int r = 0; r < rows; r++) {
    if (last) {
      ISA(update)(cell, acc[r], cell_state + r * cell_stride, h_old + r * h_prev_stride,
                  gates + r * gate_stride, gate_block, h + r * h_stride, full, mask);
    } else {
      for (int s = 0; s < G; s++) {
        ISA(store)(gates + r * gate_stride + s * gate_block, acc[r][s], full, mask);
      }
    }
  }
}

// One tile of `rows` rows, with the cell and the row count constants in each case.
INLINE_ISA void WISA(step_tile)(const int cell, int rows, const WT *panel, ptrdiff_t count,
                               const real *h_prev, ptrdiff_t h_prev_stride, const real *h_old,
                               real *gates, ptrdiff_t gate_stride, ptrdiff_t gate_block,
                               int last, real *cell_state, ptrdiff_t cell_stride, real *h,
                               ptrdiff_t h_stride, int full, mask_t mask) {
#define TILE(R)                                                                                 \
  case R:                                                                                       \
    WISA(step_rows)(cell, R, panel, count, h_prev, h_prev_stride, h_old, gates, gate_stride,    \
                   gate_block, last, cell_state, cell_stride, h, h_stride, full, mask);         \
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

INLINE_ISA void WISA(step_cell)(const int cell, const WT *packed, ptrdiff_t units, ptrdiff_t k,
                               const real *h_prev, ptrdiff_t h_prev_stride, const real *h_old,
                               real *gates, ptrdiff_t gate_stride, ptrdiff_t gate_block,
                               real *cell_state, ptrdiff_t cell_stride, real *h,
                               ptrdiff_t h_stride, ptrdiff_t batch) {
  const int G = CELL_GATES(cell);
  // Tiles of at most MAX_ROWS rows, as even as possible: 7 rows at MAX_ROWS 6 are 4 + 3, and
  // an odd batch never leaves a one-row pass behind a full tile.
  ptrdiff_t tiles = (batch + MAX_ROWS - 1) / MAX_ROWS;
  ptrdiff_t base = batch / tiles, extra = batch % tiles;
  // One tile reuses nothing from L1: one pass over all inputs, no partial sums. Tiles of 4 or
  // more rows need so few weight bytes per FMA (AVX-512, 6 rows: 256 B per 24 FMAs) that the
  // panel streams from L2 for each tile at no cost, so they take one pass too and skip the
  // partial sums: B 12, H 768 645 → 515 µs per step; B 48, H 384 608 → 524 (Zen 4).
  ptrdiff_t per_pass = (tiles == 1 || base >= 4) ? k : ISA(PER_PASS) * 4 / G;
  const ptrdiff_t panels = (units + W - 1) / W;
  const int reversed = tlstm_serpentine();
  for (ptrdiff_t j0 = 0; j0 < k; j0 += per_pass) {
    ptrdiff_t count = k - j0 < per_pass ? k - j0 : per_pass;
    int last = j0 + count == k;
    for (ptrdiff_t p = 0; p < panels; p++) {
      const ptrdiff_t u0 = (reversed ? panels - 1 - p : p) * W;
      const WT *panel = packed + u0 / W * k * G * W + j0 * G * W;
      int full = units - u0 >= W;
      mask_t mask = vmask_below(full ? W : units - u0);
      ptrdiff_t b = 0;
      for (ptrdiff_t tile = 0; tile < tiles; tile++) {
        int rows = (int)(base + (tile < extra ? 1 : 0));
        WISA(step_tile)(cell, rows, panel, count, h_prev + b * h_prev_stride + j0, h_prev_stride,
                       h_old + b * h_prev_stride + u0, gates + b * gate_stride + u0,
                       gate_stride, gate_block, last, cell_state + b * cell_stride + u0,
                       cell_stride, h + b * h_stride + u0, h_stride, full, mask);
        b += rows;
      }
    }
  }
}

TARGET void WISA(tlstm_recurrent_step)(int cell, const WT *packed, ptrdiff_t units,
                                      ptrdiff_t k, const real *h_prev, ptrdiff_t h_prev_stride,
                                      const real *h_old, real *gates, ptrdiff_t gate_stride,
                                      ptrdiff_t gate_block, real *cell_state,
                                      ptrdiff_t cell_stride, real *h, ptrdiff_t h_stride,
                                      ptrdiff_t batch) {
  // h_old is read by the GRU only; the others get a valid pointer that is never read.
  if (!h_old) h_old = h_prev;
  switch (cell) {
  case TLSTM_CELL_LSTM:
    WISA(step_cell)(TLSTM_CELL_LSTM, packed, units, k, h_prev, h_prev_stride, h_old, gates,
                   gate_stride, gate_block, cell_state, cell_stride, h, h_stride, batch);
    break;
  case TLSTM_CELL_GRU:
    WISA(step_cell)(TLSTM_CELL_GRU, packed, units, k, h_prev, h_prev_stride, h_old, gates,
                   gate_stride, gate_block, cell_state, cell_stride, h, h_stride, batch);
    break;
  case TLSTM_CELL_RNN_TANH:
    WISA(step_cell)(TLSTM_CELL_RNN_TANH, packed, units, k, h_prev, h_prev_stride, h_old, gates,
                   gate_stride, gate_block, cell_state, cell_stride, h, h_stride, batch);
    break;
  case TLSTM_CELL_LSTM_TRACE:
    WISA(step_cell)(TLSTM_CELL_LSTM_TRACE, packed, units, k, h_prev, h_prev_stride, h_old, gates,
                   gate_stride, gate_block, cell_state, cell_stride, h, h_stride, batch);
    break;
  case TLSTM_CELL_GRU_TRACE:
    WISA(step_cell)(TLSTM_CELL_GRU_TRACE, packed, units, k, h_prev, h_prev_stride, h_old, gates,
                   gate_stride, gate_block, cell_state, cell_stride, h, h_stride, batch);
    break;
  default:
    WISA(step_cell)(TLSTM_CELL_RNN_RELU, packed, units, k, h_prev, h_prev_stride, h_old, gates,
                   gate_stride, gate_block, cell_state, cell_stride, h, h_stride, batch);
    break;
  }
}

