// The packed GEMM; see include/recurrent_kernels.h. The driver and its register tile are
// written once (packed_gemm_template.h) and instantiated per instruction set with a per-function
// target attribute, as the step kernels are.
#include "recurrent_kernels.h"

#include <stdlib.h>

// A's block: TLSTM_GEMM_MC rows × TLSTM_GEMM_KC inner steps, packed per call (147 KB, in L2),
// while one B micro-panel (KC × NR: 32 KB at NR 32) stays in L1 across the block's tiles.
#define TLSTM_GEMM_KC 256
#define TLSTM_GEMM_MC 144
// Products of up to this many rows run row by row (tlstm_gemm_row): no A packing, no zero rows.
#define TLSTM_GEMM_FEW_ROWS 4

// Per-thread buffers, allocated on a thread's first GEMM and kept: A's packed block, and B
// packed by tlstm_gemm_b_scratch's callers (grown to the largest operand seen).
static _Thread_local float *a_scratch;
static _Thread_local float *b_scratch;
static _Thread_local ptrdiff_t b_capacity;

static float *tlstm_gemm_a_scratch(void) {
  if (!a_scratch) a_scratch = aligned_alloc(64, sizeof(float) * TLSTM_GEMM_MC * TLSTM_GEMM_KC);
  return a_scratch;
}

float *tlstm_gemm_b_scratch(ptrdiff_t count) {
  if (count > b_capacity) {
    free(b_scratch);
    ptrdiff_t bytes = (ptrdiff_t)sizeof(float) * count;
    b_scratch = aligned_alloc(64, (size_t)((bytes + 63) / 64 * 64));
    b_capacity = b_scratch ? count : 0;
  }
  return b_scratch;
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

#endif
