// Vector kernels for the recurrent step (LSTM, GRU, RNN; Float, and Double where named _f64).
// TensorLSTM reaches them through one Swift file, Kernels/FusedStep.swift; nothing here is
// public API.
//
// Each kernel exists once per instruction set (suffix _avx2: AVX2+FMA, 8 lanes; _avx512:
// AVX-512F, 16 lanes), compiled with a per-function target attribute, so the package needs no
// compiler flags; callers must check tlstm_cpu_isa() first and pack W_hh with the chosen set's
// width.
#ifndef TENSORLSTM_RECURRENT_KERNELS_H
#define TENSORLSTM_RECURRENT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

enum {
  TLSTM_ISA_AVX2 = 1,
  TLSTM_ISA_AVX512 = 2,
  TLSTM_ISA_AVX512BW = 4,
  TLSTM_ISA_AVX512_VNNI = 8,
};

/// The instruction sets this CPU runs: TLSTM_ISA_AVX2 (AVX2 and FMA) | TLSTM_ISA_AVX512
/// (AVX-512F, only together with AVX2) | TLSTM_ISA_AVX512BW (only with AVX-512F) |
/// TLSTM_ISA_AVX512_VNNI (only with AVX-512BW), 0 for none.
int tlstm_cpu_isa(void);

/// The cells the kernels compute; see tlstm_recurrent_step_*.
enum {
  TLSTM_CELL_LSTM = 0,
  TLSTM_CELL_GRU = 1,
  TLSTM_CELL_RNN_TANH = 2,
  TLSTM_CELL_RNN_RELU = 3,
  /// The LSTM step that also stores σ(i), σ(f), tanh(g), σ(o) into the four gate slots (for
  /// the backward's trace).
  TLSTM_CELL_LSTM_TRACE = 4,
  /// The reset-after GRU step that also stores r, z, n and W_hn·h + b_hn into the four gate
  /// slots (for the backward's trace; slot 3's x_n is read first).
  TLSTM_CELL_GRU_TRACE = 5,
};

/// Floats that tlstm_pack_recurrent writes for `gates` recurrent gates, `units` hidden units,
/// `k` inputs and panels of `width` units: ceil(units / width) · k · gates · width.
ptrdiff_t tlstm_packed_count(ptrdiff_t gates, ptrdiff_t units, ptrdiff_t k, ptrdiff_t width);

/// Packs W_hh for the step kernels of one width (8 for _avx2, 16 for _avx512). The weight of
/// (gate g, unit u, input j) is w[(g · gate_rows + u) · k + j], PyTorch's [G·H, K] layout when
/// gate_rows = H. The packed layout is a panel per `width` units; within it, for each j, the
/// `width` units of each gate in order (gates · width floats, zero past `units`).
void tlstm_pack_recurrent(const float *w, ptrdiff_t gates, ptrdiff_t gate_rows, ptrdiff_t units,
                          ptrdiff_t k, ptrdiff_t width, float *packed);

/// One recurrent step of `cell` for `batch` rows, fused. Row b's gate slots are at
/// gates[b · gate_stride + s · gate_block + u]; the recurrent gates' slots (LSTM i, f, g, o;
/// GRU r, z, n; RNN one) hold the input projection plus biases and get h_prev[b] · W_hhᵀ added,
/// then the cell update runs on the sums:
///   LSTM: c = σ(f)·c + σ(i)·tanh(g) into cell_state, h = σ(o)·tanh(c)
///   GRU:  r = σ(a_r), z = σ(a_z), n = tanh(x_n + r·a_n), h = n + z·(h_old − n), where slot 2
///         holds b_hn before the product and slot 3 holds x_n = W_in·x + b_in
///   RNN:  h = tanh(a) or relu(a)
/// h_old (stride h_prev_stride) is the previous h at these units, read by the GRU (NULL: h_prev).
/// gates is scratch afterwards. h must not overlap h_prev or h_old. Rows go through the panels
/// in register tiles of up to 2 (AVX2) or 6 (AVX-512) rows, sized evenly.
void tlstm_recurrent_step_avx2(int cell, const float *packed, ptrdiff_t units, ptrdiff_t k,
                               const float *h_prev, ptrdiff_t h_prev_stride, const float *h_old,
                               float *gates, ptrdiff_t gate_stride, ptrdiff_t gate_block,
                               float *cell_state, ptrdiff_t cell_stride, float *h,
                               ptrdiff_t h_stride, ptrdiff_t batch);
void tlstm_recurrent_step_avx512(int cell, const float *packed, ptrdiff_t units, ptrdiff_t k,
                                 const float *h_prev, ptrdiff_t h_prev_stride,
                                 const float *h_old, float *gates, ptrdiff_t gate_stride,
                                 ptrdiff_t gate_block, float *cell_state, ptrdiff_t cell_stride,
                                 float *h, ptrdiff_t h_stride, ptrdiff_t batch);

/// tlstm_pack_recurrent with every weight rounded to bfloat16 (to nearest, ties to even; NaN
/// stays NaN): the same layout in uint16_t, half the bytes.
void tlstm_pack_recurrent_bf16(const float *w, ptrdiff_t gates, ptrdiff_t gate_rows,
                               ptrdiff_t units, ptrdiff_t k, ptrdiff_t width, uint16_t *packed);

/// tlstm_recurrent_step_* over W_hh packed by tlstm_pack_recurrent_bf16: each weight widened
/// exactly to Float in registers, so the result is the Float step's on the rounded weights.
void tlstm_recurrent_step_bf16_avx2(int cell, const uint16_t *packed, ptrdiff_t units,
                                    ptrdiff_t k, const float *h_prev, ptrdiff_t h_prev_stride,
                                    const float *h_old, float *gates, ptrdiff_t gate_stride,
                                    ptrdiff_t gate_block, float *cell_state,
                                    ptrdiff_t cell_stride, float *h, ptrdiff_t h_stride,
                                    ptrdiff_t batch);
void tlstm_recurrent_step_bf16_avx512(int cell, const uint16_t *packed, ptrdiff_t units,
                                      ptrdiff_t k, const float *h_prev, ptrdiff_t h_prev_stride,
                                      const float *h_old, float *gates, ptrdiff_t gate_stride,
                                      ptrdiff_t gate_block, float *cell_state,
                                      ptrdiff_t cell_stride, float *h, ptrdiff_t h_stride,
                                      ptrdiff_t batch);

/// Bytes tlstm_pack_recurrent_int8 writes for `gates` gates, `units` units, `k` inputs and
/// panels of `width` units: ceil(units / width) · (8 + kp) · gates · width, kp = k rounded up
/// to 4.
ptrdiff_t tlstm_packed_int8_bytes(ptrdiff_t gates, ptrdiff_t units, ptrdiff_t k,
                                  ptrdiff_t width);

/// Packs int8 W_hh for the int8 steps of one width (16: _vnni, _avx512bw; 8: _avx2) and input
/// group (4: _vnni; 2: the others). q[(g · gate_rows + u) · k + j] is the quantized weight,
/// scales[g · gate_rows + u] its row's scale. A panel of `width` units holds gates · width
/// Float scales, gates · width int32 sums 128 · Σ_j q (the _vnni step's correction), then for
/// each group of inputs j…j+group−1 (k padded to a multiple of 4 with zeros) and each gate,
/// `width` lanes of `group` consecutive weights.
void tlstm_pack_recurrent_int8(const signed char *q, const float *scales, ptrdiff_t gates,
                               ptrdiff_t gate_rows, ptrdiff_t units, ptrdiff_t k, ptrdiff_t width,
                               ptrdiff_t group, void *packed);

/// tlstm_recurrent_step_* over int8 W_hh packed by tlstm_pack_recurrent_int8: h(t−1) is
/// quantized per row (scale max|h| / 127, round to nearest even; into this thread's scratch,
/// allocated on its first step and grown), the products are exact int32 sums, and the gates get
/// float(sum) · scale_w · scale_h added before the same cell update. The sums are the same on
/// every variant, so is the result: _vnni (AVX-512 VNNI, vpdpbusd on h + 128),
/// _avx512bw (vpmaddwd on int16 pairs), _avx2 (the same on 8 lanes).
void tlstm_recurrent_step_int8_vnni(int cell, const void *packed, ptrdiff_t units, ptrdiff_t k,
                                    const float *h_prev, ptrdiff_t h_prev_stride,
                                    const float *h_old, float *gates, ptrdiff_t gate_stride,
                                    ptrdiff_t gate_block, float *cell_state,
                                    ptrdiff_t cell_stride, float *h, ptrdiff_t h_stride,
                                    ptrdiff_t batch);
void tlstm_recurrent_step_int8_avx512bw(int cell, const void *packed, ptrdiff_t units,
                                        ptrdiff_t k, const float *h_prev,
                                        ptrdiff_t h_prev_stride, const float *h_old,
                                        float *gates, ptrdiff_t gate_stride,
                                        ptrdiff_t gate_block, float *cell_state,
                                        ptrdiff_t cell_stride, float *h, ptrdiff_t h_stride,
                                        ptrdiff_t batch);
void tlstm_recurrent_step_int8_avx2(int cell, const void *packed, ptrdiff_t units, ptrdiff_t k,
                                    const float *h_prev, ptrdiff_t h_prev_stride,
                                    const float *h_old, float *gates, ptrdiff_t gate_stride,
                                    ptrdiff_t gate_block, float *cell_state,
                                    ptrdiff_t cell_stride, float *h, ptrdiff_t h_stride,
                                    ptrdiff_t batch);

/// The int8 input projection over `gates` (1–4) gates' rows packed by tlstm_pack_recurrent_int8
/// (`packed` at the panel of this call's first unit, a multiple of the width): for each of
/// `rows` input rows x (k floats, `x_stride` apart), quantized per row as the step quantizes
/// h(t−1), out[r · out_stride + s · out_block + u] = bias[s · bias_block + u] (0 when bias is
/// NULL) + float(Σ_j q_w · q_x) · scale_w · scale_x for units u < `units`. Exact int32 sums, so
/// the same result on every variant; the quantized rows live in this thread's scratch.
void tlstm_project_int8_vnni(const void *packed, ptrdiff_t gates, ptrdiff_t units, ptrdiff_t k,
                             const float *x, ptrdiff_t x_stride, ptrdiff_t rows,
                             const float *bias, ptrdiff_t bias_block, float *out,
                             ptrdiff_t out_stride, ptrdiff_t out_block);
void tlstm_project_int8_avx512bw(const void *packed, ptrdiff_t gates, ptrdiff_t units,
                                 ptrdiff_t k, const float *x, ptrdiff_t x_stride, ptrdiff_t rows,
                                 const float *bias, ptrdiff_t bias_block, float *out,
                                 ptrdiff_t out_stride, ptrdiff_t out_block);
void tlstm_project_int8_avx2(const void *packed, ptrdiff_t gates, ptrdiff_t units, ptrdiff_t k,
                             const float *x, ptrdiff_t x_stride, ptrdiff_t rows,
                             const float *bias, ptrdiff_t bias_block, float *out,
                             ptrdiff_t out_stride, ptrdiff_t out_block);

/// The Double kernels (suffix _avx2_f64: 4 lanes; _avx512_f64: 8 lanes): tlstm_pack_recurrent
/// for Double weights (the same layout at width 4 or 8), and the step, gate pass and LSTM gate
/// gradient of the Float kernels below on Doubles, with the precise Double activations of
/// Activations+Double.swift (a few ulps from libm) instead of the Float rational tanh.
void tlstm_pack_recurrent_f64(const double *w, ptrdiff_t gates, ptrdiff_t gate_rows,
                              ptrdiff_t units, ptrdiff_t k, ptrdiff_t width, double *packed);
void tlstm_recurrent_step_avx2_f64(int cell, const double *packed, ptrdiff_t units, ptrdiff_t k,
                                   const double *h_prev, ptrdiff_t h_prev_stride,
                                   const double *h_old, double *gates, ptrdiff_t gate_stride,
                                   ptrdiff_t gate_block, double *cell_state,
                                   ptrdiff_t cell_stride, double *h, ptrdiff_t h_stride,
                                   ptrdiff_t batch);
void tlstm_recurrent_step_avx512_f64(int cell, const double *packed, ptrdiff_t units,
                                     ptrdiff_t k, const double *h_prev, ptrdiff_t h_prev_stride,
                                     const double *h_old, double *gates, ptrdiff_t gate_stride,
                                     ptrdiff_t gate_block, double *cell_state,
                                     ptrdiff_t cell_stride, double *h, ptrdiff_t h_stride,
                                     ptrdiff_t batch);
void tlstm_gates_avx2_f64(int cell, const double *gates, double *cell_state,
                          const double *h_old, double *h, ptrdiff_t units);
void tlstm_gates_avx512_f64(int cell, const double *gates, double *cell_state,
                            const double *h_old, double *h, ptrdiff_t units);
void tlstm_lstm_gate_gradient_avx2_f64(const double *gates, const double *cell,
                                       const double *cell_prev, const double *dh,
                                       double *carry_c, double *dg, double *full_hidden,
                                       ptrdiff_t units, ptrdiff_t slot);
void tlstm_lstm_gate_gradient_avx512_f64(const double *gates, const double *cell,
                                         const double *cell_prev, const double *dh,
                                         double *carry_c, double *dg, double *full_hidden,
                                         ptrdiff_t units, ptrdiff_t slot);
/// `value` rounded to bfloat16 (to nearest, ties to even; NaN stays NaN), as its bits.
uint16_t tlstm_bfloat16(float value);

/// The cell update alone for one row whose gate slots are `units` apart (the recurrent product
/// already added); cell_state is read by the LSTM, h_old by the GRU.
void tlstm_gates_avx2(int cell, const float *gates, float *cell_state, const float *h_old,
                      float *h, ptrdiff_t units);
void tlstm_gates_avx512(int cell, const float *gates, float *cell_state, const float *h_old,
                        float *h, ptrdiff_t units);

/// The LSTM cell's backward for one row of `units` whose gate slots are `slot` apart (`units`
/// for a whole row; H for a worker's share of units): from the activated gates [i | f | g | o],
/// c_t (`cell`), c_{t−1}, dh (of the unprojected h) and the carried dc, writes the
/// pre-activation gradients to dg [di | df | dg | do], the new carried dc (dc·f) to carry_c, and
/// h_full = o·tanh(c) to full_hidden when it is not NULL.
void tlstm_lstm_gate_gradient_avx2(const float *gates, const float *cell, const float *cell_prev,
                                   const float *dh, float *carry_c, float *dg,
                                   float *full_hidden, ptrdiff_t units, ptrdiff_t slot);
void tlstm_lstm_gate_gradient_avx512(const float *gates, const float *cell,
                                     const float *cell_prev, const float *dh, float *carry_c,
                                     float *dg, float *full_hidden, ptrdiff_t units,
                                     ptrdiff_t slot);

/// c[m · ldc + n] += Σ_j a[m · lda + j] · bt[n · ldb + j] for m < rows, n < cols: a GEMM with
/// few columns (bt holds them as rows), each row of a read once per four columns.
void tlstm_skinny_gemm_avx2(const float *a, ptrdiff_t lda, const float *bt, ptrdiff_t ldb,
                            float *c, ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t k);
void tlstm_skinny_gemm_avx512(const float *a, ptrdiff_t lda, const float *bt, ptrdiff_t ldb,
                              float *c, ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t cols,
                              ptrdiff_t k);

/// A GEMM with B packed once: c = [c +] [bias +] a · B for a (m × k, element (i, p) at
/// a[i·a_row_stride + p·a_column_stride]), B (k × n) packed by tlstm_gemm_pack_b_* of the same
/// instruction set, c row-major with leading dimension ldc; c is read only when `accumulate`,
/// bias (n floats, NULL for none) is added once. Register tiles of 6 × 16 (AVX2) or 12 × 32
/// (AVX-512) over 256-step blocks of k; A is packed per call into a per-thread buffer
/// (allocated on the thread's first call, freed when it ends). Up to 4 rows run one at a time
/// without packing. A caller splitting the columns among threads passes
/// each a range starting at a multiple of the panel width (16 or 32), with packed_b, c and bias
/// advanced to it (packed_b by start · k floats).
void tlstm_gemm_packed_avx2(const float *a, ptrdiff_t a_row_stride, ptrdiff_t a_column_stride,
                            const float *packed_b, float *c, ptrdiff_t ldc, ptrdiff_t m,
                            ptrdiff_t n, ptrdiff_t k, const float *bias, int accumulate);
void tlstm_gemm_packed_avx512(const float *a, ptrdiff_t a_row_stride,
                              ptrdiff_t a_column_stride, const float *packed_b, float *c,
                              ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                              const float *bias, int accumulate);

/// Floats tlstm_gemm_pack_b_* writes for a k × n operand: n rounded up to the panel width
/// (16 for _avx2, 32 for _avx512) times k.
ptrdiff_t tlstm_gemm_packed_count_avx2(ptrdiff_t k, ptrdiff_t n);
ptrdiff_t tlstm_gemm_packed_count_avx512(ptrdiff_t k, ptrdiff_t n);

/// Packs B (k × n, element (p, j) at b[p·row_stride + j·column_stride]) into panels of the
/// instruction set's width: panel q holds columns q·width… as k rows of `width` floats (zero
/// past n).
void tlstm_gemm_pack_b_avx2(const float *b, ptrdiff_t row_stride, ptrdiff_t column_stride,
                            ptrdiff_t k, ptrdiff_t n, float *packed);
void tlstm_gemm_pack_b_avx512(const float *b, ptrdiff_t row_stride, ptrdiff_t column_stride,
                              ptrdiff_t k, ptrdiff_t n, float *packed);

/// The packed GEMM on Doubles: the same layout and driver with tiles of 6 × 8 (_avx2_f64) or
/// 12 × 16 (_avx512_f64) and panels of 8 or 16 Doubles.
void tlstm_gemm_packed_avx2_f64(const double *a, ptrdiff_t a_row_stride,
                                ptrdiff_t a_column_stride, const double *packed_b, double *c,
                                ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                const double *bias, int accumulate);
void tlstm_gemm_packed_avx512_f64(const double *a, ptrdiff_t a_row_stride,
                                  ptrdiff_t a_column_stride, const double *packed_b, double *c,
                                  ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                  const double *bias, int accumulate);
ptrdiff_t tlstm_gemm_packed_count_avx2_f64(ptrdiff_t k, ptrdiff_t n);
ptrdiff_t tlstm_gemm_packed_count_avx512_f64(ptrdiff_t k, ptrdiff_t n);
void tlstm_gemm_pack_b_avx2_f64(const double *b, ptrdiff_t row_stride, ptrdiff_t column_stride,
                                ptrdiff_t k, ptrdiff_t n, double *packed);
void tlstm_gemm_pack_b_avx512_f64(const double *b, ptrdiff_t row_stride,
                                  ptrdiff_t column_stride, ptrdiff_t k, ptrdiff_t n,
                                  double *packed);

/// This thread's buffer of at least `count` floats for packing a B operand per call (grown
/// when too small, freed when the thread ends); NULL when it cannot be allocated.
float *tlstm_gemm_b_scratch(ptrdiff_t count);

#endif
