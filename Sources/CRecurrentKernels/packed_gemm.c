// The packed GEMM; see include/recurrent_kernels.h. The driver and its register tile are
// written once (packed_gemm_template.h) and instantiated per instruction set with a per-function
// target attribute, as the step kernels are.
#include "recurrent_kernels.h"

#include <pthread.h>
#include <stdlib.h>

// A's block: TLSTM_GEMM_MC rows × TLSTM_GEMM_KC inner steps, packed per call (147 KB of Float,
// 295 KB of Double: in L2), while one B micro-panel (KC × NR: 32 KB at NR 32 Floats or 16
// Doubles) stays in L1 across the block's tiles.
#define TLSTM_GEMM_KC 256
#define TLSTM_GEMM_MC 144
// Products of up to this many rows run row by row (tlstm_gemm_row): no A packing, no zero rows.
#define TLSTM_GEMM_FEW_ROWS 4

// Per-thread buffers, allocated on a thread's first GEMM and kept until the thread ends (a
// pthread key's destructor frees them): A's packed block, and B packed by the callers of
// tlstm_gemm_b_scratch (grown to the largest operand seen).
typedef struct {
  void *a;
  float *b;
  ptrdiff_t b_capacity;
} tlstm_gemm_buffers;

static pthread_key_t buffers_key;
static pthread_once_t buffers_once = PTHREAD_ONCE_INIT;

static void tlstm_gemm_free_buffers(void *p) {
  tlstm_gemm_buffers *buffers = p;
  free(buffers->a);
  free(buffers->b);
  free(buffers);
}

static void tlstm_gemm_make_key(void) { pthread_key_create(&buffers_key, tlstm_gemm_free_buffers); }

static tlstm_gemm_buffers *tlstm_gemm_buffers_here(void) {
  pthread_once(&buffers_once, tlstm_gemm_make_key);
  tlstm_gemm_buffers *buffers = pthread_getspecific(buffers_key);
  if (!buffers) {
    buffers = calloc(1, sizeof *buffers);
    if (!buffers || pthread_setspecific(buffers_key, buffers) != 0) abort();
  }
  return buffers;
}

// Room for a block of Doubles, so that both lane types share it.
static void *tlstm_gemm_a_scratch(void) {
  tlstm_gemm_buffers *buffers = tlstm_gemm_buffers_here();
  if (!buffers->a) {
    buffers->a = aligned_alloc(64, sizeof(double) * TLSTM_GEMM_MC * TLSTM_GEMM_KC);
    if (!buffers->a) abort();
  }
  return buffers->a;
}

float *tlstm_gemm_b_scratch(ptrdiff_t count) {
  tlstm_gemm_buffers *buffers = tlstm_gemm_buffers_here();
  if (count > buffers->b_capacity) {
    free(buffers->b);
    ptrdiff_t bytes = (ptrdiff_t)sizeof(float) * count;
    buffers->b = aligned_alloc(64, (size_t)((bytes + 63) / 64 * 64));
    buffers->b_capacity = buffers->b ? count : 0;
  }
  return buffers->b;
}

#if !defined(__x86_64__)

#define STUB(isa)                                                                                \
  ptrdiff_t tlstm_gemm_packed_count_##isa(ptrdiff_t k, ptrdiff_t n) { __builtin_trap(); }      \
  void tlstm_gemm_pack_b_##isa(const float *b, ptrdiff_t row_stride, ptrdiff_t column_stride,  \
                               ptrdiff_t k, ptrdiff_t n, float *packed) {                       \
    __builtin_trap();                                                                            \
  }                                                                                              \
  void tlstm_gemm_packed_##isa(const float *a, ptrdiff_t a_row_stride,                         \
                               ptrdiff_t a_column_stride, const float *packed_b, float *c,     \
                               ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,            \
                               const float *bias, int accumulate) {                             \
    __builtin_trap();                                                                            \
  }
STUB(avx2)
STUB(avx512)
#define STUB64(isa)                                                                              \
  ptrdiff_t tlstm_gemm_packed_count_##isa##_f64(ptrdiff_t k, ptrdiff_t n) { __builtin_trap(); } \
  void tlstm_gemm_pack_b_##isa##_f64(const double *b, ptrdiff_t row_stride,                    \
                                     ptrdiff_t column_stride, ptrdiff_t k, ptrdiff_t n,         \
                                     double *packed) {                                          \
    __builtin_trap();                                                                            \
  }                                                                                              \
  void tlstm_gemm_packed_##isa##_f64(const double *a, ptrdiff_t a_row_stride,                  \
                                     ptrdiff_t a_column_stride, const double *packed_b,         \
                                     double *c, ptrdiff_t ldc, ptrdiff_t m, ptrdiff_t n,        \
                                     ptrdiff_t k, const double *bias, int accumulate) {         \
    __builtin_trap();                                                                            \
  }
STUB64(avx2)
STUB64(avx512)

#else

#include <immintrin.h>

#define SCRATCH tlstm_gemm_a_scratch()

// AVX2 + FMA: a 6 × 16 tile is 12 accumulators, two B vectors and a broadcast (15 of 16
// registers).
#include "vector_isa_avx2.h"
#define MR 6
#define NV 2
#include "packed_gemm_template.h"
#undef MR
#undef NV
#include "vector_isa_end.h"

// AVX-512F: a 12 × 32 tile is 24 accumulators, two B vectors and a broadcast (27 of 32).
#include "vector_isa_avx512.h"
#define MR 12
#define NV 2
#include "packed_gemm_template.h"
#undef MR
#include "vector_isa_end.h"

// Double: the same tiles on half the lanes (6 × 8 on AVX2, 12 × 16 on AVX-512).
#include "vector_isa_avx2_f64.h"
#define MR 6
#include "packed_gemm_template.h"
#undef MR
#include "vector_isa_end.h"
#include "vector_isa_avx512_f64.h"
#define MR 12
#include "packed_gemm_template.h"
#undef MR
#undef NV
#include "vector_isa_end.h"

#endif
