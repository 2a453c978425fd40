// AVX2+FMA LSTM kernels; see include/recurrent_kernels.h.
//
// The step kernel is a small GEMM with the gate math fused into its last stage. A panel of
// packed W_hh holds, for 8 hidden units, every input j's weights of all four gates (32 floats),
// so one pass over the panel accumulates i, f, g and o for those units in registers; the cell
// update runs on the accumulators, and the pre-activations never go back to memory (but for
// partial sums when the inputs take more than one pass, see INPUTS_PER_PASS). Rows are taken
// two at a time.
#include "recurrent_kernels.h"

ptrdiff_t tlstm_packed_count(ptrdiff_t units, ptrdiff_t k) { return (units + 7) / 8 * k * 32; }

void tlstm_pack_recurrent(const float *w, ptrdiff_t gate_rows, ptrdiff_t units, ptrdiff_t k,
                          float *packed) {
  for (ptrdiff_t u0 = 0; u0 < units; u0 += 8) {
    float *panel = packed + u0 / 8 * k * 32;
    for (ptrdiff_t j = 0; j < k; j++) {
      for (int g = 0; g < 4; g++) {
        for (int lane = 0; lane < 8; lane++) {
          ptrdiff_t u = u0 + lane;
          panel[j * 32 + g * 8 + lane] = u < units ? w[(g * gate_rows + u) * k + j] : 0.0f;
        }
      }
    }
  }
}

#if !defined(__x86_64__)

// Elsewhere the Swift path runs; these are never called.
int tlstm_has_avx2_fma(void) { return 0; }
void tlstm_lstm_step(const float *packed, ptrdiff_t units, ptrdiff_t k, const float *h_prev,
                     ptrdiff_t h_prev_stride, float *gates, ptrdiff_t gate_stride,
                     ptrdiff_t gate_block, float *cell, ptrdiff_t cell_stride, float *h,
                     ptrdiff_t h_stride, ptrdiff_t batch) {
  __builtin_trap();
}
void tlstm_gates(const float *gates, float *cell, float *h, ptrdiff_t units) { __builtin_trap(); }

#else

#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline)) TARGET

int tlstm_has_avx2_fma(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// tanh as the odd rational p(x)/q(x) of Eigen and MLAS, x clamped to ±7.905 (the constants and
// the clamp of Activations.swift). min/max keep NaN: with a NaN second operand they return it.
INLINE __m256 tanh8(__m256 x) {
  const __m256 limit = _mm256_set1_ps(7.90531110763549805f);
  __m256 v = _mm256_max_ps(_mm256_set1_ps(-7.90531110763549805f), _mm256_min_ps(limit, x));
  __m256 v2 = _mm256_mul_ps(v, v);
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(-2.76076847742355e-16f), v2,
                             _mm256_set1_ps(2.00018790482477e-13f));
  p = _mm256_fmadd_ps(p, v2, _mm256_set1_ps(-8.60467152213735e-11f));
  p = _mm256_fmadd_ps(p, v2, _mm256_set1_ps(5.12229709037114e-08f));
  p = _mm256_fmadd_ps(p, v2, _mm256_set1_ps(1.48572235717979e-05f));
  p = _mm256_fmadd_ps(p, v2, _mm256_set1_ps(6.37261928875436e-04f));
  p = _mm256_fmadd_ps(p, v2, _mm256_set1_ps(4.89352455891786e-03f));
  __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(1.19825839466702e-06f), v2,
                             _mm256_set1_ps(1.18534705686654e-04f));
  q = _mm256_fmadd_ps(q, v2, _mm256_set1_ps(2.26843463243900e-03f));
  q = _mm256_fmadd_ps(q, v2, _mm256_set1_ps(4.89352518554385e-03f));
  return _mm256_div_ps(_mm256_mul_ps(p, v), q);
}

// σ(x) = ½ + ½·tanh(x/2).
INLINE __m256 sigmoid8(__m256 x) {
  const __m256 half = _mm256_set1_ps(0.5f);
  return _mm256_fmadd_ps(half, tanh8(_mm256_mul_ps(half, x)), half);
}

// Lanes below `count` (1...8) set.
INLINE __m256i lanes_below(ptrdiff_t count) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

INLINE __m256 load8(const float *p, int full, __m256i mask) {
  return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}

INLINE void store8(float *p, __m256 v, int full, __m256i mask) {
  if (full) {
    _mm256_storeu_ps(p, v);
  } else {
    _mm256_maskstore_ps(p, mask, v);
  }
}

// c = σ(f)·c + σ(i)·tanh(g), h = σ(o)·tanh(c) for 8 units (or the masked tail).
INLINE void update_cell(__m256 i, __m256 f, __m256 g, __m256 o, float *cell, float *h, int full,
                        __m256i mask) {
  __m256 c = load8(cell, full, mask);
  c = _mm256_fmadd_ps(sigmoid8(f), c, _mm256_mul_ps(sigmoid8(i), tanh8(g)));
  store8(cell, c, full, mask);
  store8(h, _mm256_mul_ps(sigmoid8(o), tanh8(c)), full, mask);
}

// Inputs per pass over the panels when rows share them: a panel's slice is then 128 · 32 floats,
// 16 KiB, which stays in L1 while every row pair goes through it.
enum { INPUTS_PER_PASS = 128 };

// `rows` (1 or 2) rows of one 8-unit panel over `k` inputs (panel and h_prev start at the
// pass's first input). The accumulators start from `gates`; on the last pass the cell update
// runs on them, on the others they go back to `gates` for the next pass. `rows` is a constant
// at each call site, so each call inlines into its own kernel with the loops unrolled: two rows
// × four gates are 8 accumulator chains, the FMA latency × throughput (4 × 2) of this CPU.
// (Three rows, 12 chains with the weights as memory operands, ran slower: article shape
// 0.55 ms per forward against 0.43 with two.)
INLINE void step_rows(int rows, const float *panel, ptrdiff_t k, const float *h_prev,
                      ptrdiff_t h_prev_stride, float *gates, ptrdiff_t gate_stride,
                      ptrdiff_t gate_block, int last, float *cell, ptrdiff_t cell_stride,
                      float *h, ptrdiff_t h_stride, int full, __m256i mask) {
  __m256 acc[2][4];
  for (int r = 0; r < rows; r++) {
    for (int s = 0; s < 4; s++) {
      acc[r][s] = load8(gates + r * gate_stride + s * gate_block, full, mask);
    }
  }
  ptrdiff_t j = 0;
  if (rows == 1) {
    // One row alone has four chains; a second set over odd j doubles them.
    __m256 odd[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    for (; j + 2 <= k; j += 2) {
      const float *w = panel + j * 32;
      __m256 a0 = _mm256_broadcast_ss(h_prev + j);
      __m256 a1 = _mm256_broadcast_ss(h_prev + j + 1);
      for (int s = 0; s < 4; s++) {
        acc[0][s] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(w + s * 8), acc[0][s]);
        odd[s] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(w + 32 + s * 8), odd[s]);
      }
    }
    for (int s = 0; s < 4; s++) acc[0][s] = _mm256_add_ps(acc[0][s], odd[s]);
  }
  for (; j < k; j++) {
    const float *w = panel + j * 32;
    for (int r = 0; r < rows; r++) {
      __m256 a = _mm256_broadcast_ss(h_prev + r * h_prev_stride + j);
      for (int s = 0; s < 4; s++) {
        acc[r][s] = _mm256_fmadd_ps(a, _mm256_loadu_ps(w + s * 8), acc[r][s]);
      }
    }
  }
  for (int r = 0; r < rows; r++) {
    if (last) {
      update_cell(acc[r][0], acc[r][1], acc[r][2], acc[r][3], cell + r * cell_stride,
                  h + r * h_stride, full, mask);
    } else {
      for (int s = 0; s < 4; s++) {
        store8(gates + r * gate_stride + s * gate_block, acc[r][s], full, mask);
      }
    }
  }
}

TARGET void tlstm_lstm_step(const float *packed, ptrdiff_t units, ptrdiff_t k,
                            const float *h_prev, ptrdiff_t h_prev_stride, float *gates,
                            ptrdiff_t gate_stride, ptrdiff_t gate_block, float *cell,
                            ptrdiff_t cell_stride, float *h, ptrdiff_t h_stride,
                            ptrdiff_t batch) {
  // One row reuses nothing: one pass over all inputs.
  ptrdiff_t per_pass = batch > 1 ? INPUTS_PER_PASS : k;
  for (ptrdiff_t j0 = 0; j0 < k; j0 += per_pass) {
    ptrdiff_t count = k - j0 < per_pass ? k - j0 : per_pass;
    int last = j0 + count == k;
    for (ptrdiff_t u0 = 0; u0 < units; u0 += 8) {
      const float *panel = packed + u0 / 8 * k * 32 + j0 * 32;
      int full = units - u0 >= 8;
      __m256i mask = lanes_below(full ? 8 : units - u0);
      ptrdiff_t b = 0;
      for (; b + 2 <= batch; b += 2) {
        step_rows(2, panel, count, h_prev + b * h_prev_stride + j0, h_prev_stride,
                  gates + b * gate_stride + u0, gate_stride, gate_block, last,
                  cell + b * cell_stride + u0, cell_stride, h + b * h_stride + u0, h_stride, full,
                  mask);
      }
      if (b < batch) {
        step_rows(1, panel, count, h_prev + b * h_prev_stride + j0, h_prev_stride,
                  gates + b * gate_stride + u0, gate_stride, gate_block, last,
                  cell + b * cell_stride + u0, cell_stride, h + b * h_stride + u0, h_stride, full,
                  mask);
      }
    }
  }
}

TARGET void tlstm_gates(const float *gates, float *cell, float *h, ptrdiff_t units) {
  for (ptrdiff_t u0 = 0; u0 < units; u0 += 8) {
    int full = units - u0 >= 8;
    __m256i mask = lanes_below(full ? 8 : units - u0);
    const float *row = gates + u0;
    update_cell(load8(row, full, mask), load8(row + units, full, mask),
                load8(row + 2 * units, full, mask), load8(row + 3 * units, full, mask), cell + u0,
                h + u0, full, mask);
  }
}

#endif
