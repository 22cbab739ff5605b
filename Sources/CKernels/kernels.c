#include "CKernels.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

// Full tiles of 16 vectors of 16 floats (256 columns: 16 of the 32 registers accumulate), then tiles of 8 vectors,
// then single vectors, the last one masked. Each output element sees the same terms in the same order whatever tile
// holds it.
#define MCD_ADD_ROWS_TILE_512(VECTORS)                                                                     \
    for (; column + 16 * (VECTORS) <= width; column += 16 * (VECTORS)) {                                  \
        __m512 acc[VECTORS];                                                                              \
        for (int v = 0; v < (VECTORS); v++) {                                                             \
            acc[v] = base ? _mm512_loadu_ps(base + column + 16 * v) : _mm512_setzero_ps();                \
        }                                                                                                 \
        for (ptrdiff_t j = 0; j < count; j++) {                                                           \
            const float *row = rows + (ptrdiff_t)indices[j] * stride + column;                            \
            __m512 alpha = _mm512_set1_ps(alphas[j]);                                                     \
            for (int v = 0; v < (VECTORS); v++) {                                                         \
                acc[v] = _mm512_fmadd_ps(alpha, _mm512_loadu_ps(row + 16 * v), acc[v]);                   \
            }                                                                                             \
        }                                                                                                 \
        for (int v = 0; v < (VECTORS); v++) _mm512_storeu_ps(out + column + 16 * v, acc[v]);               \
    }

__attribute__((target("avx512f"))) static void add_rows_avx512(float *out, const float *base, const float *rows,
                                                                ptrdiff_t stride, const int32_t *indices,
                                                                const float *alphas, ptrdiff_t count,
                                                                ptrdiff_t width) {
    ptrdiff_t column = 0;
    MCD_ADD_ROWS_TILE_512(16)
    MCD_ADD_ROWS_TILE_512(8)
    for (; column < width; column += 16) {
        ptrdiff_t left = width - column;
        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512 acc = base ? _mm512_maskz_loadu_ps(mask, base + column) : _mm512_setzero_ps();
        for (ptrdiff_t j = 0; j < count; j++) {
            acc = _mm512_fmadd_ps(_mm512_set1_ps(alphas[j]),
                                  _mm512_maskz_loadu_ps(mask, rows + (ptrdiff_t)indices[j] * stride + column), acc);
        }
        _mm512_mask_storeu_ps(out + column, mask, acc);
    }
}
#undef MCD_ADD_ROWS_TILE_512

// 8 vectors of 8 floats per tile; columns past the last whole vector are done one by one with scalar FMAs.
__attribute__((target("avx2,fma"))) static void add_rows_avx2(float *out, const float *base, const float *rows,
                                                              ptrdiff_t stride, const int32_t *indices,
                                                              const float *alphas, ptrdiff_t count,
                                                              ptrdiff_t width) {
    ptrdiff_t column = 0;
    for (; column + 64 <= width; column += 64) {
        __m256 acc[8];
        for (int v = 0; v < 8; v++) acc[v] = base ? _mm256_loadu_ps(base + column + 8 * v) : _mm256_setzero_ps();
        for (ptrdiff_t j = 0; j < count; j++) {
            const float *row = rows + (ptrdiff_t)indices[j] * stride + column;
            __m256 alpha = _mm256_set1_ps(alphas[j]);
            for (int v = 0; v < 8; v++) acc[v] = _mm256_fmadd_ps(alpha, _mm256_loadu_ps(row + 8 * v), acc[v]);
        }
        for (int v = 0; v < 8; v++) _mm256_storeu_ps(out + column + 8 * v, acc[v]);
    }
    for (; column + 8 <= width; column += 8) {
        __m256 acc = base ? _mm256_loadu_ps(base + column) : _mm256_setzero_ps();
        for (ptrdiff_t j = 0; j < count; j++) {
            acc = _mm256_fmadd_ps(_mm256_set1_ps(alphas[j]),
                                  _mm256_loadu_ps(rows + (ptrdiff_t)indices[j] * stride + column), acc);
        }
        _mm256_storeu_ps(out + column, acc);
    }
    for (; column < width; column++) {
        float acc = base ? base[column] : 0;
        for (ptrdiff_t j = 0; j < count; j++) acc = fmaf(alphas[j], rows[(ptrdiff_t)indices[j] * stride + column], acc);
        out[column] = acc;
    }
}
#endif

// Any CPU: the same sums with fmaf (a library call where the CPU has no FMA instruction, so slow but equal).
static void add_rows_scalar(float *out, const float *base, const float *rows, ptrdiff_t stride,
                            const int32_t *indices, const float *alphas, ptrdiff_t count, ptrdiff_t width) {
    for (ptrdiff_t column = 0; column < width; column++) {
        float acc = base ? base[column] : 0;
        for (ptrdiff_t j = 0; j < count; j++) acc = fmaf(alphas[j], rows[(ptrdiff_t)indices[j] * stride + column], acc);
        out[column] = acc;
    }
}

int mcd_vector_width(void) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) return 512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 256;
#endif
    return 0;
}

void mcd_add_rows_variant(int vector_width, float *out, const float *base, const float *rows, ptrdiff_t stride,
                          const int32_t *indices, const float *alphas, ptrdiff_t count, ptrdiff_t width) {
    int available = mcd_vector_width();
#if defined(__x86_64__)
    if (vector_width >= 512 && available >= 512) {
        add_rows_avx512(out, base, rows, stride, indices, alphas, count, width);
        return;
    }
    if (vector_width >= 256 && available >= 256) {
        add_rows_avx2(out, base, rows, stride, indices, alphas, count, width);
        return;
    }
#endif
    (void)available;
    (void)vector_width;
    add_rows_scalar(out, base, rows, stride, indices, alphas, count, width);
}

void mcd_add_rows(float *out, const float *base, const float *rows, ptrdiff_t stride, const int32_t *indices,
                  const float *alphas, ptrdiff_t count, ptrdiff_t width) {
    mcd_add_rows_variant(512, out, base, rows, stride, indices, alphas, count, width);
}
