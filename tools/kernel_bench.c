// Times one LSTM step's recurrent work on one thread, for every instruction set this CPU runs:
// the fused LSTM step (tlstm_recurrent_step_*) against OpenBLAS's sgemm (sgemv at B = 1) plus the same
// set's gate pass, best of 7 rounds each, alternating. Its numbers set FusedStep.maximumBatch.
// Run with tools/kernel_bench.sh.
//
//     tools/kernel_bench.sh 32 64 64 2000    # batch, K (= Hout), H, steps per round
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <immintrin.h>

#include "recurrent_kernels.h"

// The read-bandwidth limit for streaming `count` floats once: 8 independent AVX2 sums, so
// that only the loads limit it. The fused step at B = 1 reads W_hh exactly so.
__attribute__((target("avx2"), noinline)) static float read_loop(const float *p, long count) {
  __m256 acc[8];
  for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
  for (long i = 0; i + 64 <= count; i += 64) {
    for (int a = 0; a < 8; a++) acc[a] = _mm256_add_ps(acc[a], _mm256_loadu_ps(p + i + 8 * a));
  }
  for (int i = 1; i < 8; i++) acc[0] = _mm256_add_ps(acc[0], acc[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, acc[0]);
  return lanes[0] + lanes[7];
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef void (*step_fn)(int, const float *, ptrdiff_t, ptrdiff_t, const float *, ptrdiff_t,
                        const float *, float *, ptrdiff_t, ptrdiff_t, float *, ptrdiff_t, float *,
                        ptrdiff_t, ptrdiff_t);
typedef void (*gates_fn)(int, const float *, float *, const float *, float *, ptrdiff_t);

// The FMA limit: 16 independent AVX-512 FMA chains (8 AVX2 ones without AVX-512), no memory.
__attribute__((target("avx512f"), noinline)) static float fma_loop_avx512(long rounds) {
  __m512 acc[16];
  for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps((float)i);
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  }
  for (int i = 1; i < 16; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
  return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx2,fma"), noinline)) static float fma_loop_avx2(long rounds) {
  __m256 acc[12];
  for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps((float)i);
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  }
  float lanes[8];
  for (int i = 1; i < 12; i++) acc[0] = _mm256_add_ps(acc[0], acc[i]);
  _mm256_storeu_ps(lanes, acc[0]);
  return lanes[0];
}

int main(int argc, char **argv) {
  int isa = tlstm_cpu_isa();
  if (argc != 5 || !isa) {
    fprintf(stderr, "usage: kernel_bench batch k hidden reps (needs AVX2+FMA)\n");
    return 2;
  }
  int batch = atoi(argv[1]), k = atoi(argv[2]), hidden = atoi(argv[3]), reps = atoi(argv[4]);
  int n = 4 * hidden;
  float *h = malloc(sizeof(float) * batch * k), *w = malloc(sizeof(float) * n * k);
  float *gates = malloc(sizeof(float) * batch * n), *c = calloc(batch * hidden, sizeof(float));
  float *out = malloc(sizeof(float) * batch * hidden);
  for (long i = 0; i < (long)batch * k; i++) h[i] = (i % 7) * 0.01f;
  for (long i = 0; i < (long)n * k; i++) w[i] = (i % 5) * 0.01f;
  for (long i = 0; i < (long)batch * n; i++) gates[i] = 0.1f;
  struct {
    const char *name;
    int flag, width;
    step_fn step;
    gates_fn gates;
  } sets[] = {{"AVX2", TLSTM_ISA_AVX2, 8, tlstm_recurrent_step_avx2, tlstm_gates_avx2},
              {"AVX-512", TLSTM_ISA_AVX512, 16, tlstm_recurrent_step_avx512, tlstm_gates_avx512}};
  double flops = 2.0 * batch * n * k * reps;
  {
    // Peak FMA throughput of one core, the compute limit of every kernel here.
    volatile float sink = 0;
    long rounds = 20000000;
    double best = 1e9, flop;
    for (int round = 0; round < 5; round++) {
      double t0 = now();
      sink += (isa & TLSTM_ISA_AVX512) ? fma_loop_avx512(rounds) : fma_loop_avx2(rounds);
      double t = now() - t0;
      if (t < best) best = t;
    }
    flop = (isa & TLSTM_ISA_AVX512) ? 2.0 * 16 * 16 * rounds : 2.0 * 12 * 8 * rounds;
    printf("FMA loop (%s): %.1f GFLOP/s peak on one core\n",
           (isa & TLSTM_ISA_AVX512) ? "AVX-512, 16 chains" : "AVX2, 12 chains", flop / best / 1e9);
  }
  {
    // W_hh's size, read `reps` times: the bandwidth limit of the B = 1 step.
    double best = 1e9;
    volatile float sink = 0;
    for (int round = 0; round < 7; round++) {
      double t0 = now();
      for (int r = 0; r < reps; r++) {
        __asm__ volatile("" ::: "memory");  // each round really reads: no hoisting
        sink += read_loop(w, (long)n * k);
      }
      double t = now() - t0;
      if (t < best) best = t;
    }
    printf("read loop over W_hh (%.2f MiB): %.1f GB/s\n", 4.0 * n * k / (1 << 20),
           4.0 * n * k * reps / best / 1e9);
  }
  for (int s = 0; s < 2; s++) {
    if (!(isa & sets[s].flag)) continue;
    float *packed = malloc(sizeof(float) * tlstm_packed_count(4, hidden, k, sets[s].width));
    tlstm_pack_recurrent(w, 4, hidden, hidden, k, sets[s].width, packed);
    double best[2] = {1e9, 1e9};
    for (int round = 0; round < 7; round++) {
      double t0 = now();
      for (int r = 0; r < reps; r++) {
        sets[s].step(TLSTM_CELL_LSTM, packed, hidden, k, h, k, NULL, gates, n, hidden, c, hidden, out,
                     hidden, batch);
      }
      double t1 = now();
      for (int r = 0; r < reps; r++) {
        if (batch == 1) {
          cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1, w, k, h, 1, 1, gates, 1);
        } else {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, n, k, 1, h, k, w, k, 1,
                      gates, n);
        }
        for (int b = 0; b < batch; b++) {
          sets[s].gates(TLSTM_CELL_LSTM, gates + b * n, c + b * hidden, NULL, out + b * hidden, hidden);
        }
      }
      double t2 = now();
      if (t1 - t0 < best[0]) best[0] = t1 - t0;
      if (t2 - t1 < best[1]) best[1] = t2 - t1;
    }
    printf("%-7s B %d, K %d, H %d: fused %.1f GFLOP/s (%.2f us/step, W_hh at %.1f GB/s), "
           "BLAS + gate pass %.1f GFLOP/s (%.2f us/step)\n",
           sets[s].name, batch, k, hidden, flops / best[0] / 1e9, best[0] / reps * 1e6,
           4.0 * n * k * reps / best[0] / 1e9, flops / best[1] / 1e9, best[1] / reps * 1e6);
    free(packed);
  }
  // The packed GEMM (packed_gemm.c) against OpenBLAS's sgemm on the input projection of this
  // shape over 32 steps: x [32·B, K] · W_ihᵀ [K, 4H], W_ihᵀ packed once.
  {
    int m = 32 * batch;
    float *x = malloc(sizeof(float) * m * k), *y = malloc(sizeof(float) * m * n);
    for (long i = 0; i < (long)m * k; i++) x[i] = (i % 11) * 0.01f;
    double gemm_flops = 2.0 * m * n * k;
    for (int s = 0; s < 2; s++) {
      if (!(isa & sets[s].flag)) continue;
      int wide = sets[s].flag == TLSTM_ISA_AVX512;
      float *packed = malloc(sizeof(float) * (wide ? tlstm_gemm_packed_count_avx512(k, n)
                                                   : tlstm_gemm_packed_count_avx2(k, n)));
      (wide ? tlstm_gemm_pack_b_avx512 : tlstm_gemm_pack_b_avx2)(w, 1, k, k, n, packed);
      double best[2] = {1e9, 1e9};
      for (int round = 0; round < 5; round++) {
        double t0 = now();
        (wide ? tlstm_gemm_packed_avx512 : tlstm_gemm_packed_avx2)(x, k, 1, packed, y, n, m, n, k,
                                                                   NULL, 0);
        double t1 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, x, k, w, k, 0, y, n);
        double t2 = now();
        if (t1 - t0 < best[0]) best[0] = t1 - t0;
        if (t2 - t1 < best[1]) best[1] = t2 - t1;
      }
      printf("%-7s GEMM %d x %d x %d: packed %.1f GFLOP/s, OpenBLAS sgemm %.1f GFLOP/s\n",
             sets[s].name, m, k, n, gemm_flops / best[0] / 1e9, gemm_flops / best[1] / 1e9);
      free(packed);
    }
    free(x);
    free(y);
  }
  return 0;
}
