// Times one LSTM step's recurrent work two ways on one thread: the fused AVX2 kernel
// (tlstm_lstm_step) against OpenBLAS's sgemm (sgemv at B = 1) plus the AVX2 gate pass, best of
// 7 rounds each, alternating. It sets FusedLSTM.maximumBatch. Run with tools/kernel_bench.sh.
//
//     tools/kernel_bench.sh 32 64 64 2000    # batch, K (= Hout), H, steps per round
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "recurrent_kernels.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc != 5 || !tlstm_has_avx2_fma()) {
    fprintf(stderr, "usage: kernel_bench batch k hidden reps (needs AVX2+FMA)\n");
    return 2;
  }
  int batch = atoi(argv[1]), k = atoi(argv[2]), hidden = atoi(argv[3]), reps = atoi(argv[4]);
  int n = 4 * hidden;
  float *h = malloc(sizeof(float) * batch * k), *w = malloc(sizeof(float) * n * k);
  float *gates = malloc(sizeof(float) * batch * n), *c = calloc(batch * hidden, sizeof(float));
  float *out = malloc(sizeof(float) * batch * hidden);
  float *packed = malloc(sizeof(float) * tlstm_packed_count(hidden, k));
  for (long i = 0; i < (long)batch * k; i++) h[i] = (i % 7) * 0.01f;
  for (long i = 0; i < (long)n * k; i++) w[i] = (i % 5) * 0.01f;
  for (long i = 0; i < (long)batch * n; i++) gates[i] = 0.1f;
  tlstm_pack_recurrent(w, hidden, hidden, k, packed);
  double best[2] = {1e9, 1e9};
  for (int round = 0; round < 7; round++) {
    double t0 = now();
    for (int r = 0; r < reps; r++) {
      tlstm_lstm_step(packed, hidden, k, h, k, gates, n, hidden, c, hidden, out, hidden, batch);
    }
    double t1 = now();
    for (int r = 0; r < reps; r++) {
      if (batch == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, 1, w, k, h, 1, 1, gates, 1);
      } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, n, k, 1, h, k, w, k, 1,
                    gates, n);
      }
      for (int b = 0; b < batch; b++) tlstm_gates(gates + b * n, c + b * hidden, out + b * hidden, hidden);
    }
    double t2 = now();
    if (t1 - t0 < best[0]) best[0] = t1 - t0;
    if (t2 - t1 < best[1]) best[1] = t2 - t1;
  }
  double flops = 2.0 * batch * n * k * reps;
  printf("B %d, K %d, H %d: fused %.1f GFLOP/s (%.2f us/step), BLAS + gate pass %.1f GFLOP/s "
         "(%.2f us/step)\n",
         batch, k, hidden, flops / best[0] / 1e9, best[0] / reps * 1e6, flops / best[1] / 1e9,
         best[1] / reps * 1e6);
  return 0;
}
