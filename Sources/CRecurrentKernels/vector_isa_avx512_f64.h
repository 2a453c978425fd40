// The AVX-512F vocabulary of the step template on Double lanes (8 per vector, masked tails in
// one instruction), plus what the precise Double activations need; removed by
// vector_isa_end.h.
#define LANES_F64 1
#define real double
#define ISA(name) name##_avx512_f64
#define TARGET __attribute__((target("avx512f,fma")))
#define W 8
#define vec __m512d
#define mask_t __mmask8
#define vset1 _mm512_set1_pd
#define vzero _mm512_setzero_pd
#define vloadu _mm512_loadu_pd
#define vstoreu _mm512_storeu_pd
#define vfmadd _mm512_fmadd_pd
#define vmul _mm512_mul_pd
#define vadd _mm512_add_pd
#define vsub _mm512_sub_pd
#define vmin _mm512_min_pd
#define vmax _mm512_max_pd
#define vdiv _mm512_div_pd
#define vmask_below(n) ((__mmask8)((1u << (n)) - 1u))
#define vload_masked(p, m) _mm512_maskz_loadu_pd(m, p)
#define vstore_masked(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define vabs _mm512_abs_pd
// `magnitude` (non-negative) with the sign of `x`.
#define vcopysign(magnitude, x)                                                                  \
  _mm512_castsi512_pd(_mm512_or_epi64(                                                           \
      _mm512_castpd_si512(magnitude),                                                            \
      _mm512_and_epi64(_mm512_set1_epi64((long long)0x8000000000000000ull),                      \
                       _mm512_castpd_si512(x))))
#define vfloor(x) _mm512_roundscale_pd(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)
// x < y ? a : b, x == y ? a : b, x is NaN ? a : b, lane by lane.
#define vselect_lt(x, y, a, b) _mm512_mask_blend_pd(_mm512_cmp_pd_mask(x, y, _CMP_LT_OQ), b, a)
#define vselect_eq(x, y, a, b) _mm512_mask_blend_pd(_mm512_cmp_pd_mask(x, y, _CMP_EQ_OQ), b, a)
#define vselect_nan(x, a, b) _mm512_mask_blend_pd(_mm512_cmp_pd_mask(x, x, _CMP_UNORD_Q), b, a)
// 2ⁿ for integral n in [−1022, 1023]: n + 1023 lands in the low bits of 1.5·2⁵² + n + 1023,
// and from there in the exponent field.
#define vexp2i(n)                                                                                \
  _mm512_castsi512_pd(_mm512_slli_epi64(                                                         \
      _mm512_sub_epi64(_mm512_castpd_si512(_mm512_add_pd(n, _mm512_set1_pd(0x1.8p52 + 1023.0))), \
                       _mm512_castpd_si512(_mm512_set1_pd(0x1.8p52))),                           \
      52))
