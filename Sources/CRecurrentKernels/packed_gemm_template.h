// The packed GEMM of one instruction set and lane type, included by packed_gemm.c after a
// vector_isa header (ISA, TARGET, real, W and the vector operations: Float, or Double with the
// _f64 headers), with MR (rows of a register tile) and NV (vectors across a tile: NR = NV · W
// columns) defined.

#define NR (NV * W)

// One MR × NR tile over kc inner steps: a from an A micro-panel (kc × MR, step-major), b from a
// B micro-panel (kc × NR). Stores rows < mr and columns < nr of
//   c ← acc + (load ? c : 0) + (bias ? bias : 0).
static TARGET void ISA(tlstm_gemm_tile)(ptrdiff_t kc, const real *restrict a,
                                        const real *restrict b, real *c, ptrdiff_t ldc,
                                        ptrdiff_t mr, ptrdiff_t nr, int load,
                                        const real *bias) {
  vec acc[MR][NV];
#pragma clang loop unroll(full)
  for (int i = 0; i < MR; i++) {
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) acc[i][v] = vzero();
  }
  // The tile's rows of c, read (or written, which reads the line first) after the kc loop:
  // fetched while it runs. Where c is not in any cache the store otherwise waits for memory
  // (C harness, Zen 5, one thread, c of 13–52 MB cold: 156–177 → 183–202 GFLOP/s); the
  // engine's chunked projection, whose c is warm in L3, measured no change.
  for (int i = 0; i < MR; i++) {
    if (i >= mr) break;
    const char *row = (const char *)(c + i * ldc);
    _mm_prefetch(row, _MM_HINT_T0);
    _mm_prefetch(row + sizeof(real) * NR - 1, _MM_HINT_T0);
  }
  for (ptrdiff_t p = 0; p < kc; p++) {
    vec bv[NV];
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) bv[v] = vloadu(b + p * NR + v * W);
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
      vec av = vset1(a[p * MR + i]);
#pragma clang loop unroll(full)
      for (int v = 0; v < NV; v++) acc[i][v] = vfmadd(av, bv[v], acc[i][v]);
    }
  }
  if (mr == MR && nr == NR) {
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
#pragma clang loop unroll(full)
      for (int v = 0; v < NV; v++) {
        vec x = acc[i][v];
        if (load) x = vadd(x, vloadu(c + i * ldc + v * W));
        if (bias) x = vadd(x, vloadu(bias + v * W));
        vstoreu(c + i * ldc + v * W, x);
      }
    }
    return;
  }
#pragma clang loop unroll(full)
  for (int v = 0; v < NV; v++) {
    ptrdiff_t left = nr - v * W;
    if (left <= 0) break;
    mask_t m = vmask_below(left < W ? left : W);
#pragma clang loop unroll(full)
    for (int i = 0; i < MR; i++) {
      if (i >= mr) break;
      vec x = acc[i][v];
      if (load) x = vadd(x, vload_masked(c + i * ldc + v * W, m));
      if (bias) x = vadd(x, vload_masked(bias + v * W, m));
      vstore_masked(c + i * ldc + v * W, m, x);
    }
  }
}

// One row of a (k steps, stride a_column_stride) times the packed B, for products of a few rows
// where a tile's broadcasts would mostly multiply zeros: even and odd steps in two chains per
// vector. Stores c ← acc + (load ? c : 0) + (bias ? bias : 0) over n columns.
static TARGET void ISA(tlstm_gemm_row)(const real *a, ptrdiff_t a_column_stride,
                                       const real *packed_b, real *c, ptrdiff_t n,
                                       ptrdiff_t k, const real *bias, int load) {
  for (ptrdiff_t n0 = 0; n0 < n; n0 += NR) {
    const real *panel = packed_b + n0 * k;
    vec even[NV], odd[NV];
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) even[v] = odd[v] = vzero();
    ptrdiff_t p = 0;
    for (; p + 1 < k; p += 2) {
      vec a0 = vset1(a[p * a_column_stride]), a1 = vset1(a[(p + 1) * a_column_stride]);
#pragma clang loop unroll(full)
      for (int v = 0; v < NV; v++) {
        even[v] = vfmadd(a0, vloadu(panel + p * NR + v * W), even[v]);
        odd[v] = vfmadd(a1, vloadu(panel + (p + 1) * NR + v * W), odd[v]);
      }
    }
    if (p < k) {
      vec a0 = vset1(a[p * a_column_stride]);
#pragma clang loop unroll(full)
      for (int v = 0; v < NV; v++) even[v] = vfmadd(a0, vloadu(panel + p * NR + v * W), even[v]);
    }
#pragma clang loop unroll(full)
    for (int v = 0; v < NV; v++) {
      ptrdiff_t left = n - n0 - v * W;
      if (left <= 0) break;
      mask_t m = vmask_below(left < W ? left : W);
      vec x = vadd(even[v], odd[v]);
      if (load) x = vadd(x, vload_masked(c + n0 + v * W, m));
      if (bias) x = vadd(x, vload_masked(bias + n0 + v * W, m));
      vstore_masked(c + n0 + v * W, m, x);
    }
  }
}

ptrdiff_t ISA(tlstm_gemm_packed_count)(ptrdiff_t k, ptrdiff_t n) { return (n + NR - 1) / NR * NR * k; }

void ISA(tlstm_gemm_pack_b)(const real *b, ptrdiff_t row_stride, ptrdiff_t column_stride,
                            ptrdiff_t k, ptrdiff_t n, real *packed) {
  for (ptrdiff_t n0 = 0; n0 < n; n0 += NR) {
    real *panel = packed + n0 * k;
    ptrdiff_t width = n - n0 < NR ? n - n0 : NR;
    if (row_stride == 1) {
      // Columns are contiguous runs (B is the transpose of a row-major matrix, as W_ih is):
      // read each run once.
      for (ptrdiff_t l = 0; l < NR; l++) {
        const real *column = b + (n0 + l) * column_stride;
        for (ptrdiff_t p = 0; p < k; p++) panel[p * NR + l] = l < width ? column[p] : 0;
      }
    } else if (column_stride == 1 && width == NR) {
      // Rows are contiguous (B row-major, as X and W_ih are in the backward's products): a
      // panel row is one run of NR scalars.
      for (ptrdiff_t p = 0; p < k; p++)
        __builtin_memcpy(panel + p * NR, b + p * row_stride + n0, sizeof(real) * NR);
    } else {
      for (ptrdiff_t p = 0; p < k; p++) {
        for (ptrdiff_t l = 0; l < NR; l++)
          panel[p * NR + l] = l < width ? b[p * row_stride + (n0 + l) * column_stride] : 0;
      }
    }
  }
}

// Rows first..first+rows of A's inner steps p0..p0+kc as MR-row micro-panels (kc × MR each,
// rows past `rows` zero).
static void ISA(tlstm_gemm_pack_a)(const real *a, ptrdiff_t row_stride,
                                   ptrdiff_t column_stride, ptrdiff_t rows, ptrdiff_t kc,
                                   real *packed) {
  for (ptrdiff_t r0 = 0; r0 < rows; r0 += MR) {
    real *panel = packed + r0 * kc;
    ptrdiff_t height = rows - r0 < MR ? rows - r0 : MR;
    if (column_stride == 1) {
      for (ptrdiff_t i = 0; i < MR; i++) {
        if (i < height) {
          const real *row = a + (r0 + i) * row_stride;
          for (ptrdiff_t p = 0; p < kc; p++) panel[p * MR + i] = row[p];
        } else {
          for (ptrdiff_t p = 0; p < kc; p++) panel[p * MR + i] = 0.0f;
        }
      }
    } else if (row_stride == 1 && height == MR) {
      // A is transposed (dGᵀ in the backward's weight gradients): a step's MR rows are one
      // run.
      for (ptrdiff_t p = 0; p < kc; p++)
        __builtin_memcpy(panel + p * MR, a + r0 + p * column_stride, sizeof(real) * MR);
    } else {
      for (ptrdiff_t p = 0; p < kc; p++) {
        for (ptrdiff_t i = 0; i < MR; i++)
          panel[p * MR + i] = i < height ? a[(r0 + i) * row_stride + p * column_stride] : 0;
      }
    }
  }
}

void ISA(tlstm_gemm_packed)(const real *a, ptrdiff_t a_row_stride, ptrdiff_t a_column_stride,
                            const real *packed_b, real *c, ptrdiff_t ldc, ptrdiff_t m,
                            ptrdiff_t n, ptrdiff_t k, const real *bias, int accumulate) {
  if (m <= TLSTM_GEMM_FEW_ROWS) {
    for (ptrdiff_t i = 0; i < m; i++)
      ISA(tlstm_gemm_row)(a + i * a_row_stride, a_column_stride, packed_b, c + i * ldc, n, k,
                          bias, accumulate);
    return;
  }
  real *scratch = (real *)SCRATCH;
  for (ptrdiff_t p0 = 0; p0 < k || (p0 == 0 && k == 0); p0 += TLSTM_GEMM_KC) {
    ptrdiff_t kc = k - p0 < TLSTM_GEMM_KC ? k - p0 : TLSTM_GEMM_KC;
    int load = accumulate || p0 > 0;
    const real *block_bias = p0 == 0 ? bias : NULL;
    for (ptrdiff_t m0 = 0; m0 < m; m0 += TLSTM_GEMM_MC) {
      ptrdiff_t mc = m - m0 < TLSTM_GEMM_MC ? m - m0 : TLSTM_GEMM_MC;
      ISA(tlstm_gemm_pack_a)(a + m0 * a_row_stride + p0 * a_column_stride, a_row_stride,
                             a_column_stride, mc, kc, scratch);
      for (ptrdiff_t n0 = 0; n0 < n; n0 += NR) {
        const real *panel = packed_b + n0 * k + p0 * NR;
        ptrdiff_t nr = n - n0 < NR ? n - n0 : NR;
        for (ptrdiff_t r0 = 0; r0 < mc; r0 += MR) {
          ptrdiff_t mr = mc - r0 < MR ? mc - r0 : MR;
          ISA(tlstm_gemm_tile)(kc, scratch + r0 * kc, panel, c + (m0 + r0) * ldc + n0, ldc, mr,
                               nr, load, block_bias ? block_bias + n0 : NULL);
        }
      }
    }
    if (k == 0) break;
  }
}

#undef NR
