// AVX2+FMA kernels for the Float LSTM step. TensorLSTM reaches them through one Swift file,
// Layers/FusedLSTM.swift; nothing here is public API.
//
// Every kernel is compiled for AVX2+FMA with a per-function target attribute, so the package
// needs no compiler flags; callers must check tlstm_has_avx2_fma() first.
#ifndef TENSORLSTM_RECURRENT_KERNELS_H
#define TENSORLSTM_RECURRENT_KERNELS_H

#include <stddef.h>

/// 1 when this CPU runs AVX2 and FMA, else 0.
int tlstm_has_avx2_fma(void);

/// Floats that tlstm_pack_recurrent writes for `units` hidden units and `k` inputs:
/// ceil(units / 8) · k · 32.
ptrdiff_t tlstm_packed_count(ptrdiff_t units, ptrdiff_t k);

/// Packs W_hh for tlstm_lstm_step. The weight of (gate g, unit u, input j) is
/// w[(g · gate_rows + u) · k + j], PyTorch's [4H, K] layout when gate_rows = H. The packed
/// layout is a panel per 8 units; within it, for each j, the 8 units of gate i, f, g, o
/// (32 floats, zero past `units`).
void tlstm_pack_recurrent(const float *w, ptrdiff_t gate_rows, ptrdiff_t units, ptrdiff_t k,
                          float *packed);

/// One LSTM step for `batch` rows, fused: for row b, the pre-activations are
/// gates[b] + h_prev[b] · W_hhᵀ (gate s of unit u at gates[b · gate_stride + s · gate_block + u]),
/// then c = σ(f)·c + σ(i)·tanh(g) and h = σ(o)·tanh(c) are written to cell and h. gates is
/// scratch: it may hold partial sums afterwards. h must not overlap h_prev.
void tlstm_lstm_step(const float *packed, ptrdiff_t units, ptrdiff_t k, const float *h_prev,
                     ptrdiff_t h_prev_stride, float *gates, ptrdiff_t gate_stride,
                     ptrdiff_t gate_block, float *cell, ptrdiff_t cell_stride, float *h,
                     ptrdiff_t h_stride, ptrdiff_t batch);

/// The gate pass alone for one row: gates [i | f | g | o], each `units` long.
void tlstm_gates(const float *gates, float *cell, float *h, ptrdiff_t units);

#endif
