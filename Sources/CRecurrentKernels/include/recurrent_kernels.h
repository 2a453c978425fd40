// Vector kernels for the Float LSTM step. TensorLSTM reaches them through one Swift file,
// Kernels/FusedStep.swift; nothing here is public API.
//
// Each kernel exists once per instruction set (suffix _avx2: AVX2+FMA, 8 lanes; _avx512:
// AVX-512F, 16 lanes), compiled with a per-function target attribute, so the package needs no
// compiler flags; callers must check tlstm_cpu_isa() first and pack W_hh with the chosen set's
// width.
#ifndef TENSORLSTM_RECURRENT_KERNELS_H
#define TENSORLSTM_RECURRENT_KERNELS_H

#include <stddef.h>

enum { TLSTM_ISA_AVX2 = 1, TLSTM_ISA_AVX512 = 2 };

/// The instruction sets this CPU runs: TLSTM_ISA_AVX2 (AVX2 and FMA) | TLSTM_ISA_AVX512
/// (AVX-512F, only together with AVX2), 0 for neither.
int tlstm_cpu_isa(void);

/// Floats that tlstm_pack_recurrent writes for `units` hidden units, `k` inputs and panels of
/// `width` units: ceil(units / width) · k · 4 · width.
ptrdiff_t tlstm_packed_count(ptrdiff_t units, ptrdiff_t k, ptrdiff_t width);

/// Packs W_hh for the step kernels of one width (8 for _avx2, 16 for _avx512). The weight of
/// (gate g, unit u, input j) is w[(g · gate_rows + u) · k + j], PyTorch's [4H, K] layout when
/// gate_rows = H. The packed layout is a panel per `width` units; within it, for each j, the
/// `width` units of gate i, f, g, o (4 · width floats, zero past `units`).
void tlstm_pack_recurrent(const float *w, ptrdiff_t gate_rows, ptrdiff_t units, ptrdiff_t k,
                          ptrdiff_t width, float *packed);

/// One LSTM step for `batch` rows, fused: for row b, the pre-activations are
/// gates[b] + h_prev[b] · W_hhᵀ (gate s of unit u at gates[b · gate_stride + s · gate_block + u]),
/// then c = σ(f)·c + σ(i)·tanh(g) and h = σ(o)·tanh(c) are written to cell and h. gates is
/// scratch: it may hold partial sums afterwards. h must not overlap h_prev. Rows go through the
/// panels in register tiles of up to 2 (AVX2) or 6 (AVX-512) rows, sized evenly.
void tlstm_lstm_step_avx2(const float *packed, ptrdiff_t units, ptrdiff_t k, const float *h_prev,
                          ptrdiff_t h_prev_stride, float *gates, ptrdiff_t gate_stride,
                          ptrdiff_t gate_block, float *cell, ptrdiff_t cell_stride, float *h,
                          ptrdiff_t h_stride, ptrdiff_t batch);
void tlstm_lstm_step_avx512(const float *packed, ptrdiff_t units, ptrdiff_t k,
                            const float *h_prev, ptrdiff_t h_prev_stride, float *gates,
                            ptrdiff_t gate_stride, ptrdiff_t gate_block, float *cell,
                            ptrdiff_t cell_stride, float *h, ptrdiff_t h_stride,
                            ptrdiff_t batch);

/// The gate pass alone for one row: gates [i | f | g | o], each `units` long.
void tlstm_gates_avx2(const float *gates, float *cell, float *h, ptrdiff_t units);
void tlstm_gates_avx512(const float *gates, float *cell, float *h, ptrdiff_t units);

#endif
