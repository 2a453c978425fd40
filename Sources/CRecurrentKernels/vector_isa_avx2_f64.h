// The AVX2 + FMA vocabulary of the step template on Double lanes (4 per vector, the same 16
// registers as the Float set), plus what the precise Double activations need; removed by
// vector_isa_end.h.
#define LANES_F64 1
#define real double
#define ISA(name) name##_avx2_f64
#define TARGET __attribute__((target("avx2,fma")))
#define W 4
#define vec __m256d
#define mask_t __m256i
#define vset1 _mm256_set1_pd
#define vzero _mm256_setzero_pd
#define vloadu _mm256_loadu_pd
#define vstoreu _mm256_storeu_pd
#define vfmadd _mm256_fmadd_pd
#define vmul _mm256_mul_pd
#define vadd _mm256_add_pd
#define vsub _mm256_sub_pd
#define vmin _mm256_min_pd
#define vmax _mm256_max_pd
#define vdiv _mm256_div_pd
#define vmask_below(n)                                                                           \
  _mm256_cmpgt_epi64(_mm256_set1_epi64x((long long)(n)), _mm256_setr_epi64x(0, 1, 2, 3))
#define vload_masked(p, m) _mm256_maskload_pd(p, m)
#define vstore_masked(p, m, v) _mm256_maskstore_pd(p, m, v)
#define vabs(x) _mm256_andnot_pd(_mm256_set1_pd(-0.0), x)
// `magnitude` (non-negative) with the sign of `x`.
#define vcopysign(magnitude, x) _mm256_or_pd(magnitude, _mm256_and_pd(_mm256_set1_pd(-0.0), x))
#define vfloor _mm256_floor_pd
// x < y ? a : b, x == y ? a : b, x is NaN ? a : b, lane by lane.
#define vselect_lt(x, y, a, b) _mm256_blendv_pd(b, a, _mm256_cmp_pd(x, y, _CMP_LT_OQ))
#define vselect_eq(x, y, a, b) _mm256_blendv_pd(b, a, _mm256_cmp_pd(x, y, _CMP_EQ_OQ))
#define vselect_nan(x, a, b) _mm256_blendv_pd(b, a, _mm256_cmp_pd(x, x, _CMP_UNORD_Q))
// 2ⁿ for integral n in [−1022, 1023]: n + 1023 lands in the low bits of 1.5·2⁵² + n + 1023,
// and from there in the exponent field.
#define vexp2i(n)                                                                                \
  _mm256_castsi256_pd(_mm256_slli_epi64(                                                         \
      _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(n, _mm256_set1_pd(0x1.8p52 + 1023.0))), \
                       _mm256_castpd_si256(_mm256_set1_pd(0x1.8p52))),                           \
      52))
