// Vector recurrent kernels; see include/recurrent_kernels.h. The step and the gate pass are
// written once (recurrent_step_template.h) and instantiated here per instruction set, each with a
// per-function target attribute, so the package needs no compiler flags; the caller picks one
// at run time from tlstm_cpu_isa().
#include "recurrent_kernels.h"

ptrdiff_t tlstm_packed_count(ptrdiff_t gates, ptrdiff_t units, ptrdiff_t k, ptrdiff_t width) {
  return (units + width - 1) / width * k * gates * width;
}

uint16_t tlstm_bfloat16(float value) {
  uint32_t bits;
  __builtin_memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40u);  // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return (uint16_t)(bits >> 16);
}

// The panel layout of tlstm_pack_recurrent, written once: each weight (zero past `units`) goes
// to `f32`, or rounded to `bf16` when that is not NULL.
static void tlstm_pack_panels(const float *w, ptrdiff_t gates, ptrdiff_t gate_rows,
                              ptrdiff_t units, ptrdiff_t k, ptrdiff_t width, float *f32,
                              uint16_t *bf16) {
  for (ptrdiff_t u0 = 0; u0 < units; u0 += width) {
    ptrdiff_t panel = u0 / width * k * gates * width;
    for (ptrdiff_t j = 0; j < k; j++) {
      for (ptrdiff_t g = 0; g < gates; g++) {
        for (ptrdiff_t lane = 0; lane < width; lane++) {
          ptrdiff_t u = u0 + lane, at = panel + (j * gates + g) * width + lane;
          float value = u < units ? w[(g * gate_rows + u) * k + j] : 0.0f;
          if (bf16) {
            bf16[at] = tlstm_bfloat16(value);
          } else {
            f32[at] = value;
          }
        }
      }
    }
  }
}

void tlstm_pack_recurrent(const float *w, ptrdiff_t gates, ptrdiff_t gate_rows, ptrdiff_t units,
                          ptrdiff_t k, ptrdiff_t width, float *packed) {
  tlstm_pack_panels(w, gates, gate_rows, units, k, width, packed, NULL);
}

void tlstm_pack_recurrent_bf16(const float *w, ptrdiff_t gates, ptrdiff_t gate_rows,
                               ptrdiff_t units, ptrdiff_t k, ptrdiff_t width, uint16_t *packed) {
  tlstm_pack_panels(w, gates, gate_rows, units, k, width, NULL, packed);
}

#if !defined(__x86_64__)

// Elsewhere the Swift path runs; these are never called.
int tlstm_cpu_isa(void) { return 0; }
#define STUB(isa)                                                                                \
  void tlstm_recurrent_step_##isa(int cell, const float *packed, ptrdiff_t units, ptrdiff_t k, \
                                  const float *h_prev, ptrdiff_t h_prev_stride,                \
                                  const float *h_old, float *gates, ptrdiff_t gate_stride,     \
                                  ptrdiff_t gate_block, float *cell_state,                     \
                                  ptrdiff_t cell_stride, float *h, ptrdiff_t h_stride,         \
                                  ptrdiff_t batch) {                                           \
    __builtin_trap();                                                                            \
  }                                                                                              \
  void tlstm_gates_##isa(int cell, const float *gates, float *cell_state, const float *h_old,  \
                         float *h, ptrdiff_t units) {                                           \
    __builtin_trap();                                                                            \
  }                                                                                              \
  void tlstm_lstm_gate_gradient_##isa(const float *gates, const float *cell,                    \
                                      const float *cell_prev, const float *dh, float *carry_c,  \
                                      float *dg, float *full_hidden, ptrdiff_t units) {         \
    __builtin_trap();                                                                            \
  }                                                                                              \
  void tlstm_recurrent_step_bf16_##isa(                                                          \
      int cell, const uint16_t *packed, ptrdiff_t units, ptrdiff_t k, const float *h_prev,     \
      ptrdiff_t h_prev_stride, const float *h_old, float *gates, ptrdiff_t gate_stride,         \
      ptrdiff_t gate_block, float *cell_state, ptrdiff_t cell_stride, float *h,                  \
      ptrdiff_t h_stride, ptrdiff_t batch) {                                                     \
    __builtin_trap();                                                                            \
  }                                                                                              \
  void tlstm_skinny_gemm_##isa(const float *a, ptrdiff_t lda, const float *bt, ptrdiff_t ldb,   \
                               float *c, ptrdiff_t ldc, ptrdiff_t rows, ptrdiff_t cols,          \
                               ptrdiff_t k) {                                                    \
    __builtin_trap();                                                                            \
  }
STUB(avx2)
STUB(avx512)

#else

#include <immintrin.h>

int tlstm_cpu_isa(void) {
  __builtin_cpu_init();
  int isa = 0;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa |= TLSTM_ISA_AVX2;
  if (isa && __builtin_cpu_supports("avx512f")) isa |= TLSTM_ISA_AVX512;
  return isa;
}

// AVX2 + FMA: 8 lanes, 16 registers. Two rows × four gates are 8 accumulator chains, the FMA
// latency × throughput (4 × 2) of Zen 3; with the four weight vectors and a broadcast that is
// 13 registers. (Three rows need 17 and ran slower on Zen 3: article 0.55 ms against 0.43.)
#include "vector_isa_avx2.h"
#define MAX_ROWS 2
static inline __attribute__((target("avx2,fma"))) float tlstm_sum_avx2(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
  return _mm_cvtss_f32(x);
}
#define vreduce tlstm_sum_avx2
#include "recurrent_step_template.h"
#undef vreduce
#undef MAX_ROWS
#include "vector_isa_end.h"

// AVX-512F: 16 lanes, 32 registers. Up to six rows × four gates are 24 accumulators, plus the
// four weight vectors and a broadcast: 29 registers, no spills; masked tails in one instruction.
#include "vector_isa_avx512.h"
#define MAX_ROWS 6
#define vreduce _mm512_reduce_add_ps
#include "recurrent_step_template.h"

#endif
