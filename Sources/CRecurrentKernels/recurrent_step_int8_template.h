// The fused step over int8 W_hh, included by recurrent_kernels.c once per int8 kernel, inside
// the float vocabulary of its vector width (vector_isa_*.h, after recurrent_step_template.h,
// whose ISA(update), ISA(load) and ISA(store) it reuses) and after defining:
//   I8(name)      the kernel's name (name##_int8_vnni, _int8_avx512bw, _int8_avx2)
//   TARGET8       its target attribute
//   GROUP         inputs per 32-bit lane of one product: 4 (vpdpbusd) or 2 (vpmaddwd)
//   UNSIGNED_H    1 when h is stored as q + 128 in bytes (vpdpbusd takes u8 × s8), 0 for int16
//   ivec, izero(), iload_w(p) (one gate's GROUP · W weights, widened as the product needs),
//   ibroadcast(p) (GROUP quantized inputs to every lane), idot(acc, a, w), icvt(v) (to vec),
//   isub(a, b), iload(p)
//   MAX_ROWS8     rows per register tile
//   vabs, vreduce_max, vreduce_sum, vcvt_epi32 (to int32, nearest even)
//   quantize_store(p, v)  W int32 lanes of v saturated to the stored input type at p
//
// Why the products are exact: a weight and an input are both in [−127, 127] and a 32-bit lane
// sums GROUP of their products, so vpdpbusd (u8 · s8 with h + 128) and vpmaddwd (s16 · s16) give
// the same int32 sums (the 128 · Σ q_w the former adds is subtracted once per row), and every
// variant runs the same float epilogue: the step's result is the same on each of them.

#define INLINE8 static inline __attribute__((always_inline)) TARGET8
// The cases of a switch over a register tile's row count, 1…MAX_ROWS8, each expanding the
// TILE(R) its user defines: R is a constant in every case, so each tile's loops unroll.
#if MAX_ROWS8 == 6
#define I8_TILE_CASES TILE(1) TILE(2) TILE(3) TILE(4) TILE(5) TILE(6)
#elif MAX_ROWS8 == 2
#define I8_TILE_CASES TILE(1) TILE(2)
#else
#error "recurrent_step_int8_template.h: MAX_ROWS8 must be 2 or 6"
#endif

// Quantizes `rows` rows of h(t−1) (k floats each, `stride` apart) per row: scale = max|h| / 127,
// q = round(h / scale) to nearest even, in [−127, 127]; the row's `kp − k` padding inputs get
// q = 0. The row's scale goes to scale[r]: 0 for a zero row, NaN when a value is not finite
// (so the step's output is NaN, as the Float step's would be NaN or ±inf).
INLINE8 void I8(quantize)(const float *h, ptrdiff_t stride, ptrdiff_t rows, ptrdiff_t k,
                          ptrdiff_t kp, unsigned char *out, ptrdiff_t out_stride, float *scale) {
  const int bytes = UNSIGNED_H ? 1 : 2;
  for (ptrdiff_t r = 0; r < rows; r++) {
    const float *row = h + r * stride;
    unsigned char *q = out + r * out_stride;
    vec m = vzero();
    vec bad = vzero();  // x · 0 summed: NaN once a value is NaN or infinite
    ptrdiff_t j = 0;
    for (; j + W <= k; j += W) {
      vec x = vloadu(row + j);
      m = vmax(m, vabs(x));
      bad = vadd(bad, vmul(x, vzero()));
    }
    float top = vreduce_max(m);
    int nan = !(vreduce_sum(bad) == 0.0f);
    for (; j < k; j++) {
      float x = __builtin_fabsf(row[j]);
      if (x != x) nan = 1;
      if (x > top) top = x;
    }
    float s = top / 127.0f, inv = top > 0.0f ? 127.0f / top : 0.0f;
    if (nan || !(top <= 3.402823466e38f)) s = __builtin_nanf(""), inv = 0.0f;
    scale[r] = s;
    const vec vinv = vset1(inv);
    for (j = 0; j + W <= k; j += W) {
      quantize_store(q + j * bytes, vcvt_epi32(vmul(vloadu(row + j), vinv)));
    }
    for (; j < k; j++) {
      int v = _mm_cvtss_si32(_mm_set_ss(row[j] * inv));  // nearest even, as vcvt_epi32
      if (UNSIGNED_H) {
        q[j] = (unsigned char)(v + 128);
      } else {
        ((short *)q)[j] = (short)v;
      }
    }
    for (; j < kp; j++) {
      if (UNSIGNED_H) {
        q[j] = 128;
      } else {
        ((short *)q)[j] = 0;
      }
    }
  }
}

// The int32 sums of `rows` quantized rows against one panel body of G gates over all kp
// inputs: acc[r][s] = Σ_j q_w(s, lane, j) · q_h(r, j) (+ 128 · Σ_j q_w with UNSIGNED_H).
INLINE8 void I8(dot_rows)(const int G, const int rows, const unsigned char *body, ptrdiff_t kp,
                          const unsigned char *hq, ptrdiff_t hq_stride,
                          ivec acc[MAX_ROWS8][4]) {
  const int bytes = UNSIGNED_H ? 1 : 2;
  for (int r = 0; r < rows; r++)
    for (int s = 0; s < G; s++) acc[r][s] = izero();
  ptrdiff_t j = 0;
  if (rows == 1) {
    // One row alone has G chains; a second set over odd groups doubles them.
    ivec odd[4] = {izero(), izero(), izero(), izero()};
    for (; j + 2 * GROUP <= kp; j += 2 * GROUP) {
      const unsigned char *w = body + j * G * W;
      ivec a0 = ibroadcast(hq + j * bytes), a1 = ibroadcast(hq + (j + GROUP) * bytes);
      for (int s = 0; s < G; s++) {
        acc[0][s] = idot(acc[0][s], a0, iload_w(w + s * GROUP * W));
        odd[s] = idot(odd[s], a1, iload_w(w + (G + s) * GROUP * W));
      }
    }
    for (int s = 0; s < G; s++) acc[0][s] = iadd(acc[0][s], odd[s]);
  }
  for (; j < kp; j += GROUP) {
    const unsigned char *w = body + j * G * W;
    ivec weights[4];
    for (int s = 0; s < G; s++) weights[s] = iload_w(w + s * GROUP * W);
    for (int r = 0; r < rows; r++) {
      ivec a = ibroadcast(hq + r * hq_stride + j * bytes);
      for (int s = 0; s < G; s++) acc[r][s] = idot(acc[r][s], a, weights[s]);
    }
  }
}

// `rows` rows of one panel over all kp inputs: int32 sums per gate, then the epilogue
// gates += float(sum) · (scale_w · scale_h) and the cell update.
INLINE8 void I8(step_rows)(const int cell, const int rows, const unsigned char *panel, ptrdiff_t kp,
                           const unsigned char *hq, ptrdiff_t hq_stride, const float *hscale,
                           const float *h_old, ptrdiff_t h_old_stride, float *gates,
                           ptrdiff_t gate_stride, ptrdiff_t gate_block, float *cell_state,
                           ptrdiff_t cell_stride, float *h, ptrdiff_t h_stride, int full,
                           mask_t mask) {
  const int G = CELL_GATES(cell);
  const float *wscale = (const float *)panel;
  const int *wsum = (const int *)(panel + 4 * G * W);
  ivec acc[MAX_ROWS8][4];
  I8(dot_rows)(G, rows, panel + 8 * G * W, kp, hq, hq_stride, acc);
  for (int r = 0; r < rows; r++) {
    vec a[4];
    const vec hs = vset1(hscale[r]);
    float *row = gates + r * gate_stride;
    for (int s = 0; s < G; s++) {
      ivec sum = acc[r][s];
      if (UNSIGNED_H) sum = isub(sum, iload(wsum + s * W));
      a[s] = vfmadd(icvt(sum), vmul(vloadu(wscale + s * W), hs),
                    ISA(load)(row + s * gate_block, full, mask));
    }
    ISA(update)(cell, a, cell_state + r * cell_stride, h_old + r * h_old_stride, row, gate_block,
                h + r * h_stride, full, mask);
  }
}

INLINE8 void I8(step_tile)(const int cell, int rows, const unsigned char *panel, ptrdiff_t kp,
                           const unsigned char *hq, ptrdiff_t hq_stride, const float *hscale,
                           const float *h_old, ptrdiff_t h_old_stride, float *gates,
                           ptrdiff_t gate_stride, ptrdiff_t gate_block, float *cell_state,
                           ptrdiff_t cell_stride, float *h, ptrdiff_t h_stride, int full,
                           mask_t mask) {
#define TILE(R)                                                                                 \
  case R:                                                                                       \
    I8(step_rows)(cell, R, panel, kp, hq, hq_stride, hscale, h_old, h_old_stride, gates,        \
                  gate_stride, gate_block, cell_state, cell_stride, h, h_stride, full, mask);   \
    break;
  switch (rows) { I8_TILE_CASES }
#undef TILE
}

INLINE8 void I8(step_cell)(const int cell, const unsigned char *packed, ptrdiff_t units,
                           ptrdiff_t k, const float *h_prev, ptrdiff_t h_prev_stride,
                           const float *h_old, float *gates, ptrdiff_t gate_stride,
                           ptrdiff_t gate_block, float *cell_state, ptrdiff_t cell_stride,
                           float *h, ptrdiff_t h_stride, ptrdiff_t batch) {
  const int G = CELL_GATES(cell);
  const ptrdiff_t kp = (k + 3) / 4 * 4;
  const int bytes = UNSIGNED_H ? 1 : 2;
  // The quantized rows (64-byte aligned) and their scales, in this thread's scratch.
  const ptrdiff_t hq_stride = (kp * bytes + 63) / 64 * 64;
  unsigned char *hq = tlstm_int8_scratch(batch * (hq_stride + 4));
  float *hscale = (float *)(hq + batch * hq_stride);
  I8(quantize)(h_prev, h_prev_stride, batch, k, kp, hq, hq_stride, hscale);
  ptrdiff_t tiles = (batch + MAX_ROWS8 - 1) / MAX_ROWS8;
  ptrdiff_t base = batch / tiles, extra = batch % tiles;
  const ptrdiff_t panel_bytes = 8 * G * W + kp * G * W;
  const ptrdiff_t panels = (units + W - 1) / W;
  const int reversed = tlstm_serpentine();
  for (ptrdiff_t p = 0; p < panels; p++) {
    const ptrdiff_t u0 = (reversed ? panels - 1 - p : p) * W;
    const unsigned char *panel = packed + u0 / W * panel_bytes;
    int full = units - u0 >= W;
    mask_t mask = vmask_below(full ? W : units - u0);
    ptrdiff_t b = 0;
    for (ptrdiff_t tile = 0; tile < tiles; tile++) {
      int rows = (int)(base + (tile < extra ? 1 : 0));
      I8(step_tile)(cell, rows, panel, kp, hq + b * hq_stride, hq_stride, hscale + b,
                    h_old + b * h_prev_stride + u0, h_prev_stride, gates + b * gate_stride + u0,
                    gate_stride, gate_block, cell_state + b * cell_stride + u0, cell_stride,
                    h + b * h_stride + u0, h_stride, full, mask);
      b += rows;
    }
  }
}

TARGET8 void I8(tlstm_recurrent_step)(int cell, const void *packed, ptrdiff_t units, ptrdiff_t k,
                                      const float *h_prev, ptrdiff_t h_prev_stride,
                                      const float *h_old, float *gates, ptrdiff_t gate_stride,
                                      ptrdiff_t gate_block, float *cell_state,
                                      ptrdiff_t cell_stride, float *h, ptrdiff_t h_stride,
                                      ptrdiff_t batch) {
  if (!h_old) h_old = h_prev;
  const unsigned char *p = packed;
#define CELL(C)                                                                                  \
  I8(step_cell)(C, p, units, k, h_prev, h_prev_stride, h_old, gates, gate_stride, gate_block,   \
                cell_state, cell_stride, h, h_stride, batch)
  switch (cell) {
  case TLSTM_CELL_LSTM: CELL(TLSTM_CELL_LSTM); break;
  case TLSTM_CELL_GRU: CELL(TLSTM_CELL_GRU); break;
  case TLSTM_CELL_RNN_TANH: CELL(TLSTM_CELL_RNN_TANH); break;
  default: CELL(TLSTM_CELL_RNN_RELU); break;
  }
#undef CELL
}

// The int8 input projection's tile: `rows` quantized input rows against one panel of G gates,
// out(r, s · out_block + u) = bias(s · bias_block + u) (0 without a bias) +
// float(sum) · scale_w · scale_x.
INLINE8 void I8(project_rows)(const int G, const int rows, const unsigned char *panel,
                              ptrdiff_t kp, const unsigned char *xq, ptrdiff_t xq_stride,
                              const float *xscale, const float *bias, ptrdiff_t bias_block,
                              float *out, ptrdiff_t out_stride, ptrdiff_t out_block, int full,
                              mask_t mask) {
  const float *wscale = (const float *)panel;
  const int *wsum = (const int *)(panel + 4 * G * W);
  ivec acc[MAX_ROWS8][4];
  I8(dot_rows)(G, rows, panel + 8 * G * W, kp, xq, xq_stride, acc);
  for (int r = 0; r < rows; r++) {
    const vec xs = vset1(xscale[r]);
    for (int s = 0; s < G; s++) {
      ivec sum = acc[r][s];
      if (UNSIGNED_H) sum = isub(sum, iload(wsum + s * W));
      vec b = bias ? ISA(load)(bias + s * bias_block, full, mask) : vzero();
      ISA(store)(out + r * out_stride + s * out_block,
                 vfmadd(icvt(sum), vmul(vloadu(wscale + s * W), xs), b), full, mask);
    }
  }
}

INLINE8 void I8(project_gates)(const int G, const unsigned char *packed, ptrdiff_t units,
                               ptrdiff_t k, const float *x, ptrdiff_t x_stride, ptrdiff_t rows,
                               const float *bias, ptrdiff_t bias_block, float *out,
                               ptrdiff_t out_stride, ptrdiff_t out_block) {
  const ptrdiff_t kp = (k + 3) / 4 * 4;
  const int bytes = UNSIGNED_H ? 1 : 2;
  const ptrdiff_t xq_stride = (kp * bytes + 63) / 64 * 64;
  // Rows in blocks whose quantized inputs stay in L1 (about 16 KiB) while every panel passes
  // over them: each panel is read once per block, each block once.
  ptrdiff_t block = 16384 / xq_stride / MAX_ROWS8 * MAX_ROWS8;
  if (block < MAX_ROWS8) block = MAX_ROWS8;
  if (block > 240) block = 240;
  if (block > rows) block = rows;
  unsigned char *xq = tlstm_int8_scratch(block * (xq_stride + 4));
  float *xscale = (float *)(xq + block * xq_stride);
  const ptrdiff_t panel_bytes = 8 * G * W + kp * G * W;
  for (ptrdiff_t r0 = 0; r0 < rows; r0 += block) {
    const ptrdiff_t n = rows - r0 < block ? rows - r0 : block;
    I8(quantize)(x + r0 * x_stride, x_stride, n, k, kp, xq, xq_stride, xscale);
    ptrdiff_t tiles = (n + MAX_ROWS8 - 1) / MAX_ROWS8;
    ptrdiff_t base = n / tiles, extra = n % tiles;
    for (ptrdiff_t u0 = 0; u0 < units; u0 += W) {
      const unsigned char *panel = packed + u0 / W * panel_bytes;
      int full = units - u0 >= W;
      mask_t mask = vmask_below(full ? W : units - u0);
      const float *b = bias ? bias + u0 : 0;
      ptrdiff_t r = 0;
      for (ptrdiff_t tile = 0; tile < tiles; tile++) {
        int count = (int)(base + (tile < extra ? 1 : 0));
        float *o = out + (r0 + r) * out_stride + u0;
        const unsigned char *q = xq + r * xq_stride;
#define TILE(R)                                                                                 \
  case R:                                                                                       \
    I8(project_rows)(G, R, panel, kp, q, xq_stride, xscale + r, b, bias_block, o, out_stride,   \
                     out_block, full, mask);                                                    \
    break;
        switch (count) { I8_TILE_CASES }
#undef TILE
        r += count;
      }
    }
  }
}

TARGET8 void I8(tlstm_project)(const void *packed, ptrdiff_t gates, ptrdiff_t units, ptrdiff_t k,
                               const float *x, ptrdiff_t x_stride, ptrdiff_t rows,
                               const float *bias, ptrdiff_t bias_block, float *out,
                               ptrdiff_t out_stride, ptrdiff_t out_block) {
  const unsigned char *p = packed;
  switch (gates) {
  case 1: I8(project_gates)(1, p, units, k, x, x_stride, rows, bias, bias_block, out, out_stride, out_block); break;
  case 2: I8(project_gates)(2, p, units, k, x, x_stride, rows, bias, bias_block, out, out_stride, out_block); break;
  case 3: I8(project_gates)(3, p, units, k, x, x_stride, rows, bias, bias_block, out, out_stride, out_block); break;
  default: I8(project_gates)(4, p, units, k, x, x_stride, rows, bias, bias_block, out, out_stride, out_block); break;
  }
}

#undef I8_TILE_CASES
#undef INLINE8
