// The AVX2 + FMA vocabulary of the kernel templates (8 Float lanes), defined before a template is
// included and removed by vector_isa_end.h; recurrent_kernels.c and packed_gemm.c share it.
#define real float
#define ISA(name) name##_avx2
#define TARGET __attribute__((target("avx2,fma")))
#define W 8
#define vec __m256
#define mask_t __m256i
#define vset1 _mm256_set1_ps
#define vzero _mm256_setzero_ps
#define vloadu _mm256_loadu_ps
#define vstoreu _mm256_storeu_ps
#define vfmadd _mm256_fmadd_ps
#define vmul _mm256_mul_ps
#define vadd _mm256_add_ps
#define vsub _mm256_sub_ps
#define vmin _mm256_min_ps
#define vmax _mm256_max_ps
#define vdiv _mm256_div_ps
#define vmask_below(n)                                                                           \
  _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define vload_masked(p, m) _mm256_maskload_ps(p, m)
#define vstore_masked(p, m, v) _mm256_maskstore_ps(p, m, v)
// W bfloat16 values (the upper halves of Floats) widened exactly to Floats.
#define vload_bf16(p)                                                                            \
  _mm256_castsi256_ps(                                                                           \
      _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
