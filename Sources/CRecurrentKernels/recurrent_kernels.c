// Vector recurrent kernels; see include/recurrent_kernels.h. The step and the gate pass are
// written once (recurrent_step_template.h) and instantiated here per instruction set, each with a
// per-function target attribute, so the package needs no compiler flags; the caller picks one
// at run time from tlstm_cpu_isa().
#include "recurrent_kernels.h"

#include <stdlib.h>

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

// The panel layout of tlstm_pack_recurrent, written once: each weight (zero past `units`) of
// `w` (or of `w64` when that is not NULL) goes to `f32`, rounded to `bf16`, or to `f64`,
// whichever is not NULL.
static void tlstm_pack_panels(const float *w, const double *w64, ptrdiff_t gates,
                              ptrdiff_t gate_rows, ptrdiff_t units, ptrdiff_t k, ptrdiff_t width,
                              float *f32, uint16_t *bf16, double *f64) {
  for (ptrdiff_t u0 = 0; u0 < units; u0 += width) {
    ptrdiff_t panel = u0 / width * k * gates * width;
    for (ptrdiff_t j = 0; j < k; j++) {
      for (ptrdiff_t g = 0; g < gates; g++) {
        for (ptrdiff_t lane = 0; lane < width; lane++) {
          ptrdiff_t u = u0 + lane, at = panel + (j * gates + g) * width + lane;
          ptrdiff_t from = (g * gate_rows + u) * k + j;
          if (f64) {
            f64[at] = u < units ? w64[from] : 0.0;
          } else if (bf16) {
            bf16[at] = tlstm_bfloat16(u < units ? w[from] : 0.0f);
          } else {
            f32[at] = u < units ? w[from] : 0.0f;
          }
        }
      }
    }
  }
}

void tlstm_pack_recurrent(const float *w, ptrdiff_t gates, ptrdiff_t gate_rows, ptrdiff_t units,
                          ptrdiff_t k, ptrdiff_t width, float *packed) {
  tlstm_pack_panels(w, NULL, gates, gate_rows, units, k, width, packed, NULL, NULL);
}

void tlstm_pack_recurrent_f64(const double *w, ptrdiff_t gates, ptrdiff_t gate_rows,
                              ptrdiff_t units, ptrdiff_t k, ptrdiff_t width, double *packed) {
  tlstm_pack_panels(NULL, w, gates, gate_rows, units, k, width, NULL, NULL, packed);
}

void tlstm_pack_recurrent_bf16(const float *w, ptrdiff_t gates, ptrdiff_t gate_rows,
                               ptrdiff_t units, ptrdiff_t k, ptrdiff_t width, uint16_t *packed) {
  tlstm_pack_panels(w, NULL, gates, gate_rows, units, k, width, NULL, packed, NULL);
}

ptrdiff_t tlstm_packed_int8_bytes(ptrdiff_t gates, ptrdiff_t units, ptrdiff_t k,
                                  ptrdiff_t width) {
  ptrdiff_t kp = (k + 3) / 4 * 4;
  return (units + width - 1) / width * (8 + kp) * gates * width;
}

void tlstm_pack_recurrent_int8(const signed char *q, const float *scales, ptrdiff_t gates,
                               ptrdiff_t gate_rows, ptrdiff_t units, ptrdiff_t k, ptrdiff_t width,
                               ptrdiff_t group, void *packed) {
  ptrdiff_t kp = (k + 3) / 4 * 4;
  unsigned char *out = packed;
  for (ptrdiff_t u0 = 0; u0 < units; u0 += width) {
    unsigned char *panel = out + u0 / width * (8 + kp) * gates * width;
    float *scale = (float *)panel;
    int *sum = (int *)(panel + 4 * gates * width);
    signed char *body = (signed char *)(panel + 8 * gates * width);
    for (ptrdiff_t g = 0; g < gates; g++) {
      for (ptrdiff_t lane = 0; lane < width; lane++) {
        ptrdiff_t u = u0 + lane, row = g * gate_rows + u;
        int total = 0;
        for (ptrdiff_t j = 0; u < units && j < k; j++) total += q[row * k + j];
        scale[g * width + lane] = u < units ? scales[row] : 0.0f;
        sum[g * width + lane] = 128 * total;
      }
    }
    for (ptrdiff_t j = 0; j < kp; j += group) {
      for (ptrdiff_t g = 0; g < gates; g++) {
        for (ptrdiff_t lane = 0; lane < width; lane++) {
          for (ptrdiff_t t = 0; t < group; t++) {
            ptrdiff_t u = u0 + lane, jj = j + t;
            body[(j * gates + g * group) * width + lane * group + t] =
                u < units && jj < k ? q[(g * gate_rows + u) * k + jj] : 0;
          }
        }
      }
    }
  }
}

// The steps visit W_hh's panels first to last and last to first on alternate calls in a thread
// (a thread runs one layer-direction's steps, or one worker's share, in a row): where W_hh is
// a little larger than L2, the panels read last stay in L2 for the next step, which reads them
// first; in one order each step would evict every panel before its next use. A panel's units
// depend on no other panel, so the order never changes a result. Returns 1 when this call
// goes backwards.
static _Thread_local unsigned tlstm_serpentine_parity;
static inline int tlstm_serpentine(void) { return (int)(tlstm_serpentine_parity ^= 1u); }
// The int8 step's quantized h(t−1) lives in this thread's per-call scratch, the buffer the
// packed GEMM's callers pack B into (grown to the largest request, freed with the thread).
static unsigned char *tlstm_int8_scratch(ptrdiff_t bytes) {
  float *scratch = tlstm_gemm_b_scratch((bytes + 3) / 4);
  if (!scratch) abort();
  return (unsigned char *)scratch;
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
                                      float *dg, float *full_hidden, ptrdiff_t units,           \
                                      ptrdiff_t slot) {                                         \
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
#define STUB64(isa)                                                                              \
  void tlstm_recurrent_step_##isa##_f64(                                                         \
      int cell, const double *packed, ptrdiff_t units, ptrdiff_t k, const double *h_prev,      \
      ptrdiff_t h_prev_stride, const double *h_old, double *gates, ptrdiff_t gate_stride,       \
      ptrdiff_t gate_block, double *cell_state, ptrdiff_t cell_stride, double *h,                \
      ptrdiff_t h_stride, ptrdiff_t batch) {                                                     \
    __builtin_trap();                                                                            \
  }                                                                                              \
  void tlstm_gates_##isa##_f64(int cell, const double *gates, double *cell_state,              \
                               const double *h_old, double *h, ptrdiff_t units) {               \
    __builtin_trap();                                                                            \
  }                                                                                              \
  void tlstm_lstm_gate_gradient_##isa##_f64(const double *gates, const double *cell,            \
                                            const double *cell_prev, const double *dh,          \
                                            double *carry_c, double *dg, double *full_hidden,   \
                                            ptrdiff_t units, ptrdiff_t slot) {                   \
    __builtin_trap();                                                                            \
  }
STUB64(avx2)
STUB64(avx512)
#define STUB8(variant)                                                                           \
  void tlstm_recurrent_step_int8_##variant(                                                      \
      int cell, const void *packed, ptrdiff_t units, ptrdiff_t k, const float *h_prev,         \
      ptrdiff_t h_prev_stride, const float *h_old, float *gates, ptrdiff_t gate_stride,         \
      ptrdiff_t gate_block, float *cell_state, ptrdiff_t cell_stride, float *h,                  \
      ptrdiff_t h_stride, ptrdiff_t batch) {                                                     \
    __builtin_trap();                                                                            \
  }                                                                                              \
  void tlstm_project_int8_##variant(const void *packed, ptrdiff_t gates, ptrdiff_t units,      \
                                    ptrdiff_t k, const float *x, ptrdiff_t x_stride,            \
                                    ptrdiff_t rows, const float *bias, ptrdiff_t bias_block,    \
                                    float *out, ptrdiff_t out_stride, ptrdiff_t out_block) {    \
    __builtin_trap();                                                                            \
  }
STUB8(avx2)
STUB8(avx512bw)
STUB8(vnni)

#else

#include <immintrin.h>

static inline int tlstm_load32(const void *p) {
  int v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

int tlstm_cpu_isa(void) {
  __builtin_cpu_init();
  int isa = 0;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa |= TLSTM_ISA_AVX2;
  if (isa && __builtin_cpu_supports("avx512f")) isa |= TLSTM_ISA_AVX512;
  if ((isa & TLSTM_ISA_AVX512) && __builtin_cpu_supports("avx512bw")) {
    isa |= TLSTM_ISA_AVX512BW;
    if (__builtin_cpu_supports("avx512vnni")) isa |= TLSTM_ISA_AVX512_VNNI;
  }
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

// The int8 step on AVX2: int8 weights widened to int16 pairs, vpmaddwd against h(t−1) quantized
// to int16 pairs; two rows × four gates are 8 int32 accumulators, as the Float step's.
static inline __attribute__((target("avx2,fma"))) float tlstm_max_avx2(__m256 v) {
  __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_max_ps(x, _mm_movehl_ps(x, x));
  x = _mm_max_ss(x, _mm_shuffle_ps(x, x, 1));
  return _mm_cvtss_f32(x);
}
#define vabs(x) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x)
#define vreduce_max tlstm_max_avx2
#define vreduce_sum tlstm_sum_avx2
#define vcvt_epi32 _mm256_cvtps_epi32
#define ivec __m256i
#define izero _mm256_setzero_si256
#define iload(p) _mm256_loadu_si256((const __m256i *)(p))
#define iload_w(p) _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p)))
#define ibroadcast(p) _mm256_set1_epi32(tlstm_load32(p))
#define idot(acc, a, w) _mm256_add_epi32(acc, _mm256_madd_epi16(a, w))
#define iadd _mm256_add_epi32
#define isub _mm256_sub_epi32
#define icvt _mm256_cvtepi32_ps
#define quantize_store(p, v)                                                                     \
  _mm_storeu_si128((__m128i *)(p), _mm_packs_epi32(_mm256_castsi256_si128(v),                   \
                                                   _mm256_extracti128_si256(v, 1)))
#define I8(name) name##_int8_avx2
#define TARGET8 __attribute__((target("avx2,fma")))
#define GROUP 2
#define UNSIGNED_H 0
#define MAX_ROWS8 2
#include "recurrent_step_int8_template.h"
#undef vabs
#undef vreduce_max
#undef vreduce_sum
#undef vcvt_epi32
#undef ivec
#undef izero
#undef iload
#undef iload_w
#undef ibroadcast
#undef idot
#undef iadd
#undef isub
#undef icvt
#undef quantize_store
#undef I8
#undef TARGET8
#undef GROUP
#undef UNSIGNED_H
#undef MAX_ROWS8
#include "vector_isa_end.h"

// Double: the same step, gate pass and gate gradient on 4 (AVX2) or 8 (AVX-512) Double lanes,
// with the precise activations; the register tiles are the Float sets' (the same registers).
#include "vector_isa_avx2_f64.h"
#define MAX_ROWS 2
#include "recurrent_step_template.h"
#undef MAX_ROWS
#include "vector_isa_end.h"
#include "vector_isa_avx512_f64.h"
#define MAX_ROWS 6
#include "recurrent_step_template.h"
#undef MAX_ROWS
#include "vector_isa_end.h"

// AVX-512F: 16 lanes, 32 registers. Up to six rows × four gates are 24 accumulators, plus the
// four weight vectors and a broadcast: 29 registers, no spills; masked tails in one instruction.
#include "vector_isa_avx512.h"
#define MAX_ROWS 6
#define vreduce _mm512_reduce_add_ps
#include "recurrent_step_template.h"

// The int8 steps on AVX-512: six rows × four gates are 24 int32 accumulators. With VNNI one
// vpdpbusd multiplies 64 weights by h(t−1) quantized to q + 128 (u8 · s8, four per lane); with
// AVX-512BW the weights widen to int16 pairs for vpmaddwd (32 per instruction, and an add).
#define vabs _mm512_abs_ps
#define vreduce_max _mm512_reduce_max_ps
#define vreduce_sum _mm512_reduce_add_ps
#define vcvt_epi32 _mm512_cvtps_epi32
#define ivec __m512i
#define izero _mm512_setzero_si512
#define iload(p) _mm512_loadu_si512((const void *)(p))
#define ibroadcast(p) _mm512_set1_epi32(tlstm_load32(p))
#define iadd _mm512_add_epi32
#define isub _mm512_sub_epi32
#define icvt _mm512_cvtepi32_ps
#define MAX_ROWS8 6

#define iload_w(p) _mm512_loadu_si512((const void *)(p))
#define idot(acc, a, w) _mm512_dpbusd_epi32(acc, a, w)
#define quantize_store(p, v)                                                                     \
  _mm512_mask_cvtusepi32_storeu_epi8(p, (__mmask16)0xffff, _mm512_add_epi32(v, _mm512_set1_epi32(128)))
#define I8(name) name##_int8_vnni
#define TARGET8 __attribute__((target("avx512f,avx512bw,avx512vnni,fma")))
#define GROUP 4
#define UNSIGNED_H 1
#include "recurrent_step_int8_template.h"
#undef iload_w
#undef idot
#undef quantize_store
#undef I8
#undef TARGET8
#undef GROUP
#undef UNSIGNED_H

#define iload_w(p) _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(p)))
#define idot(acc, a, w) _mm512_add_epi32(acc, _mm512_madd_epi16(a, w))
#define quantize_store(p, v) _mm512_mask_cvtsepi32_storeu_epi16(p, (__mmask16)0xffff, v)
#define I8(name) name##_int8_avx512bw
#define TARGET8 __attribute__((target("avx512f,avx512bw,fma")))
#define GROUP 2
#define UNSIGNED_H 0
#include "recurrent_step_int8_template.h"

#endif
