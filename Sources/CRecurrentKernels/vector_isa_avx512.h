// The AVX-512F vocabulary of the kernel templates (16 Float lanes, masked tails in one
// instruction), defined before a template is included and removed by vector_isa_end.h.
#define real float
#define ISA(name) name##_avx512
#define TARGET __attribute__((target("avx512f,fma")))
#define W 16
#define vec __m512
#define mask_t __mmask16
#define vset1 _mm512_set1_ps
#define vzero _mm512_setzero_ps
#define vloadu _mm512_loadu_ps
#define vstoreu _mm512_storeu_ps
#define vfmadd _mm512_fmadd_ps
#define vmul _mm512_mul_ps
#define vadd _mm512_add_ps
#define vsub _mm512_sub_ps
#define vmin _mm512_min_ps
#define vmax _mm512_max_ps
#define vdiv _mm512_div_ps
#define vmask_below(n) ((__mmask16)((1u << (n)) - 1u))
#define vload_masked(p, m) _mm512_maskz_loadu_ps(m, p)
#define vstore_masked(p, m, v) _mm512_mask_storeu_ps(p, m, v)
// W bfloat16 values (the upper halves of Floats) widened exactly to Floats (AVX-512F only).
#define vload_bf16(p)                                                                            \
  _mm512_castsi512_ps(                                                                           \
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))
