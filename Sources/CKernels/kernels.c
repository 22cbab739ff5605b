#include "CKernels.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

// Full tiles of 16 vectors of 16 floats (256 columns: 16 of the 32 registers accumulate), then tiles of 8 vectors,
// then single vectors, the last one masked. Each output element sees the same terms in the same order whatever tile
// holds it. The tile of the row two terms ahead is prefetched: the rows are scattered, so the hardware prefetcher
// cannot guess them (in process, MNIST N = 100: 147-153 -> 117-135 us median, BENCHMARKS.md).
#define MCD_ADD_ROWS_TILE_512(VECTORS)                                                                     \
    for (; column + 16 * (VECTORS) <= width; column += 16 * (VECTORS)) {                                  \
        __m512 acc[VECTORS];                                                                              \
        for (int v = 0; v < (VECTORS); v++) {                                                             \
            acc[v] = base ? _mm512_loadu_ps(base + column + 16 * v) : _mm512_setzero_ps();                \
        }                                                                                                 \
        for (ptrdiff_t j = 0; j < count; j++) {                                                           \
            const float *row = rows + (ptrdiff_t)indices[j] * stride + column;                            \
            if (j + 2 < count) {                                                                          \
                const float *ahead = rows + (ptrdiff_t)indices[j + 2] * stride + column;                  \
                for (int v = 0; v < (VECTORS); v++) _mm_prefetch((const char *)(ahead + 16 * v), _MM_HINT_T0); \
            }                                                                                             \
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

// Several outputs over one list of rows: output o gets base + Σ_j alphas[o·alpha_stride + j] · row j, in j order with
// one fused multiply-add per term, so each output has exactly the bytes of `mcd_add_rows` over the same terms; a
// zero alpha adds an exact zero (the rows are finite). Each weight row is read once for all outputs.
#define MCD_MULTI_ARGS                                                                                         \
    float *out, ptrdiff_t out_stride, const float *base, const float *rows, ptrdiff_t stride,                  \
        const int32_t *indices, const float *alphas, ptrdiff_t alpha_stride, ptrdiff_t count, ptrdiff_t width

#if defined(__x86_64__)
// Tiles of 4 vectors of 16 floats per output (at most 16 accumulators), then single vectors, the last one masked.
__attribute__((target("avx512f"), always_inline)) static inline void add_rows_multi_avx512(const int M,
                                                                                          MCD_MULTI_ARGS) {
    ptrdiff_t column = 0;
    for (; column + 64 <= width; column += 64) {
        __m512 acc[4][4];
        for (int o = 0; o < M; o++) {
            for (int v = 0; v < 4; v++) acc[o][v] = base ? _mm512_loadu_ps(base + column + 16 * v) : _mm512_setzero_ps();
        }
        for (ptrdiff_t j = 0; j < count; j++) {
            const float *row = rows + (ptrdiff_t)indices[j] * stride + column;
            if (j + 2 < count) {
                const float *ahead = rows + (ptrdiff_t)indices[j + 2] * stride + column;
                for (int v = 0; v < 4; v++) _mm_prefetch((const char *)(ahead + 16 * v), _MM_HINT_T0);
            }
            __m512 weights[4];
            for (int v = 0; v < 4; v++) weights[v] = _mm512_loadu_ps(row + 16 * v);
            for (int o = 0; o < M; o++) {
                __m512 alpha = _mm512_set1_ps(alphas[o * alpha_stride + j]);
                for (int v = 0; v < 4; v++) acc[o][v] = _mm512_fmadd_ps(alpha, weights[v], acc[o][v]);
            }
        }
        for (int o = 0; o < M; o++) {
            for (int v = 0; v < 4; v++) _mm512_storeu_ps(out + o * out_stride + column + 16 * v, acc[o][v]);
        }
    }
    for (; column < width; column += 16) {
        ptrdiff_t left = width - column;
        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512 acc[4];
        for (int o = 0; o < M; o++) acc[o] = base ? _mm512_maskz_loadu_ps(mask, base + column) : _mm512_setzero_ps();
        for (ptrdiff_t j = 0; j < count; j++) {
            __m512 weights = _mm512_maskz_loadu_ps(mask, rows + (ptrdiff_t)indices[j] * stride + column);
            for (int o = 0; o < M; o++) {
                acc[o] = _mm512_fmadd_ps(_mm512_set1_ps(alphas[o * alpha_stride + j]), weights, acc[o]);
            }
        }
        for (int o = 0; o < M; o++) _mm512_mask_storeu_ps(out + o * out_stride + column, mask, acc[o]);
    }
}

// Tiles of 2 vectors of 8 floats per output (at most 8 accumulators); the columns past the last whole vector with
// scalar FMAs.
__attribute__((target("avx2,fma"), always_inline)) static inline void add_rows_multi_avx2(const int M,
                                                                                        MCD_MULTI_ARGS) {
    ptrdiff_t column = 0;
    for (; column + 16 <= width; column += 16) {
        __m256 acc[4][2];
        for (int o = 0; o < M; o++) {
            for (int v = 0; v < 2; v++) acc[o][v] = base ? _mm256_loadu_ps(base + column + 8 * v) : _mm256_setzero_ps();
        }
        for (ptrdiff_t j = 0; j < count; j++) {
            const float *row = rows + (ptrdiff_t)indices[j] * stride + column;
            __m256 weights[2] = {_mm256_loadu_ps(row), _mm256_loadu_ps(row + 8)};
            for (int o = 0; o < M; o++) {
                __m256 alpha = _mm256_set1_ps(alphas[o * alpha_stride + j]);
                for (int v = 0; v < 2; v++) acc[o][v] = _mm256_fmadd_ps(alpha, weights[v], acc[o][v]);
            }
        }
        for (int o = 0; o < M; o++) {
            for (int v = 0; v < 2; v++) _mm256_storeu_ps(out + o * out_stride + column + 8 * v, acc[o][v]);
        }
    }
    for (; column + 8 <= width; column += 8) {
        __m256 acc[4];
        for (int o = 0; o < M; o++) acc[o] = base ? _mm256_loadu_ps(base + column) : _mm256_setzero_ps();
        for (ptrdiff_t j = 0; j < count; j++) {
            __m256 weights = _mm256_loadu_ps(rows + (ptrdiff_t)indices[j] * stride + column);
            for (int o = 0; o < M; o++) {
                acc[o] = _mm256_fmadd_ps(_mm256_set1_ps(alphas[o * alpha_stride + j]), weights, acc[o]);
            }
        }
        for (int o = 0; o < M; o++) _mm256_storeu_ps(out + o * out_stride + column, acc[o]);
    }
    for (; column < width; column++) {
        for (int o = 0; o < M; o++) {
            float acc = base ? base[column] : 0;
            for (ptrdiff_t j = 0; j < count; j++) {
                acc = fmaf(alphas[o * alpha_stride + j], rows[(ptrdiff_t)indices[j] * stride + column], acc);
            }
            out[o * out_stride + column] = acc;
        }
    }
}

// One function per output count, so that the loops over outputs unroll and the accumulators stay in registers.
#define MCD_MULTI_INSTANCE(VARIANT, TARGET, M)                                                                 \
    __attribute__((target(TARGET))) static void add_rows_multi_##VARIANT##_##M(MCD_MULTI_ARGS) {               \
        add_rows_multi_##VARIANT(M, out, out_stride, base, rows, stride, indices, alphas, alpha_stride, count, \
                                 width);                                                                       \
    }
MCD_MULTI_INSTANCE(avx512, "avx512f", 1)
MCD_MULTI_INSTANCE(avx512, "avx512f", 2)
MCD_MULTI_INSTANCE(avx512, "avx512f", 3)
MCD_MULTI_INSTANCE(avx512, "avx512f", 4)
MCD_MULTI_INSTANCE(avx2, "avx2,fma", 1)
MCD_MULTI_INSTANCE(avx2, "avx2,fma", 2)
MCD_MULTI_INSTANCE(avx2, "avx2,fma", 3)
MCD_MULTI_INSTANCE(avx2, "avx2,fma", 4)
#undef MCD_MULTI_INSTANCE
#endif

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

void mcd_add_rows_multi_variant(int vector_width, int outputs, MCD_MULTI_ARGS) {
    if (outputs < 1) return;
    int available = mcd_vector_width();
#if defined(__x86_64__)
    typedef void (*multi_kernel)(MCD_MULTI_ARGS);
    static const multi_kernel avx512[4] = {add_rows_multi_avx512_1, add_rows_multi_avx512_2,
                                           add_rows_multi_avx512_3, add_rows_multi_avx512_4};
    static const multi_kernel avx2[4] = {add_rows_multi_avx2_1, add_rows_multi_avx2_2, add_rows_multi_avx2_3,
                                         add_rows_multi_avx2_4};
    const multi_kernel *kernels = vector_width >= 512 && available >= 512   ? avx512
                                  : vector_width >= 256 && available >= 256 ? avx2
                                                                            : NULL;
    if (kernels) {
        // Groups of at most 4 outputs; each output's bytes do not depend on the group it is in.
        for (int first = 0; first < outputs; first += 4) {
            int group = outputs - first < 4 ? outputs - first : 4;
            kernels[group - 1](out + first * out_stride, out_stride, base, rows, stride, indices,
                               alphas + first * alpha_stride, alpha_stride, count, width);
        }
        return;
    }
#endif
    (void)available;
    for (int o = 0; o < outputs; o++) {
        add_rows_scalar(out + o * out_stride, base, rows, stride, indices, alphas + o * alpha_stride, count, width);
    }
}

void mcd_add_rows_multi(int outputs, MCD_MULTI_ARGS) {
    mcd_add_rows_multi_variant(512, outputs, out, out_stride, base, rows, stride, indices, alphas, alpha_stride,
                               count, width);
}

// The union compaction: the same selection in every variant (it only copies elements, so the outputs are equal).
static ptrdiff_t nonzero_terms_scalar(const float *input, int inputs, ptrdiff_t input_stride, ptrdiff_t count,
                                      int rectify, int32_t *units, float *values, ptrdiff_t value_stride) {
    ptrdiff_t found = 0;
    for (ptrdiff_t index = 0; index < count; index++) {
        int non_zero = 0;
        for (int row = 0; row < inputs; row++) {
            float value = input[row * input_stride + index];
            if (rectify) value = value > 0 ? value : 0;
            values[row * value_stride + found] = value;
            non_zero |= value != 0;
        }
        units[found] = (int32_t)index;
        found += non_zero;
    }
    return found;
}

#if defined(__x86_64__)
// 16 elements at a time: the rows' non-zero masks are or-ed, and each row's selected elements (and their indices)
// are compressed in a register and written with a masked store (a compressing store to memory is slow on Zen 4).
__attribute__((target("avx512f,popcnt"))) static ptrdiff_t nonzero_terms_avx512(const float *input, int inputs,
                                                                                 ptrdiff_t input_stride,
                                                                                 ptrdiff_t count, int rectify,
                                                                                 int32_t *units, float *values,
                                                                                 ptrdiff_t value_stride) {
    const __m512 zero = _mm512_setzero_ps();
    const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    ptrdiff_t found = 0;
    for (ptrdiff_t index = 0; index < count; index += 16) {
        ptrdiff_t left = count - index;
        __mmask16 load = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __mmask16 selected = 0;
        for (int row = 0; row < inputs; row++) {
            __m512 value = _mm512_maskz_loadu_ps(load, input + row * input_stride + index);
            // max(value, +0) returns its second operand for a NaN and for either zero: `value > 0 ? value : 0`.
            if (rectify) value = _mm512_max_ps(value, zero);
            selected |= _mm512_cmp_ps_mask(value, zero, _CMP_NEQ_UQ);
        }
        selected &= load;
        if (!selected) continue;
        unsigned taken = (unsigned)__builtin_popcount(selected);
        __mmask16 store = taken >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << taken) - 1);
        __m512i indices = _mm512_add_epi32(_mm512_set1_epi32((int32_t)index), lanes);
        _mm512_mask_storeu_epi32(units + found, store, _mm512_maskz_compress_epi32(selected, indices));
        for (int row = 0; row < inputs; row++) {
            __m512 value = _mm512_maskz_loadu_ps(load, input + row * input_stride + index);
            if (rectify) value = _mm512_max_ps(value, zero);
            _mm512_mask_storeu_ps(values + row * value_stride + found, store,
                                  _mm512_maskz_compress_ps(selected, value));
        }
        found += taken;
    }
    return found;
}
#endif

ptrdiff_t mcd_nonzero_terms_variant(int vector_width, const float *input, int inputs, ptrdiff_t input_stride,
                                    ptrdiff_t count, int rectify, int32_t *units, float *values,
                                    ptrdiff_t value_stride) {
#if defined(__x86_64__)
    if (vector_width >= 512 && mcd_vector_width() >= 512) {
        return nonzero_terms_avx512(input, inputs, input_stride, count, rectify, units, values, value_stride);
    }
#endif
    (void)vector_width;
    return nonzero_terms_scalar(input, inputs, input_stride, count, rectify, units, values, value_stride);
}

ptrdiff_t mcd_nonzero_terms(const float *input, int inputs, ptrdiff_t input_stride, ptrdiff_t count, int rectify,
                            int32_t *units, float *values, ptrdiff_t value_stride) {
    return mcd_nonzero_terms_variant(512, input, inputs, input_stride, count, rectify, units, values, value_stride);
}

// The rotation probe's bilinear resampling: separate products and sums, in tap order, in every variant.
static void resample4_scalar(float *out, const float *input, const int32_t *taps, const float *weights,
                             ptrdiff_t pixels) {
#pragma clang fp contract(off)
    for (ptrdiff_t p = 0; p < pixels; p++) {
        float value = 0;
        for (int slot = 0; slot < 4; slot++) {
            float product = weights[slot * pixels + p] * input[taps[slot * pixels + p]];
            value = value + product;
        }
        out[p] = value;
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void resample4_avx512(float *out, const float *input,
                                                                 const int32_t *taps, const float *weights,
                                                                 ptrdiff_t pixels) {
#pragma clang fp contract(off)
    for (ptrdiff_t p = 0; p < pixels; p += 16) {
        ptrdiff_t left = pixels - p;
        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512 value = _mm512_setzero_ps();
        for (int slot = 0; slot < 4; slot++) {
            __m512i index = _mm512_maskz_loadu_epi32(mask, taps + slot * pixels + p);
            __m512 source = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, index, input, 4);
            __m512 product = _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, weights + slot * pixels + p), source);
            value = _mm512_add_ps(value, product);
        }
        _mm512_mask_storeu_ps(out + p, mask, value);
    }
}
#endif

void mcd_resample4_variant(int vector_width, float *out, const float *input, const int32_t *taps,
                           const float *weights, ptrdiff_t pixels) {
#if defined(__x86_64__)
    if (vector_width >= 512 && mcd_vector_width() >= 512) {
        resample4_avx512(out, input, taps, weights, pixels);
        return;
    }
#endif
    (void)vector_width;
    resample4_scalar(out, input, taps, weights, pixels);
}

void mcd_resample4(float *out, const float *input, const int32_t *taps, const float *weights, ptrdiff_t pixels) {
    mcd_resample4_variant(512, out, input, taps, weights, pixels);
}

// The dropout masks' SplitMix64 stream (MaskStream): integer arithmetic, so every variant gives the same bits.
#define MCD_GAMMA 0x9E3779B97F4A7C15ull
#define MCD_MIX1 0xBF58476D1CE4E5B9ull
#define MCD_MIX2 0x94D049BB133111EBull

static inline uint64_t splitmix_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * MCD_MIX1;
    z = (z ^ (z >> 27)) * MCD_MIX2;
    return z ^ (z >> 31);
}

static void mask_words_scalar(uint64_t *words, ptrdiff_t count, uint64_t start) {
    for (ptrdiff_t i = 0; i < count; i++) words[i] = splitmix_mix(start + (uint64_t)(i + 1) * MCD_GAMMA);
}

static ptrdiff_t partition_active_scalar(const float *values, const int32_t *units, ptrdiff_t count, uint64_t start,
                                         uint32_t threshold, int32_t *dropped_units, float *dropped_values,
                                         int32_t *kept_units, float *kept_values) {
    ptrdiff_t dropped = 0, kept = 0;
    for (ptrdiff_t i = 0; i < count; i++) {
        uint32_t unit = (uint32_t)units[i];
        uint64_t word = splitmix_mix(start + (uint64_t)((unit >> 2) + 1) * MCD_GAMMA);
        uint32_t uniform = (uint32_t)(word >> (16 * (unit & 3))) & 0xFFFFu;
        // Without a branch (one is mispredicted for a third of a random mask's units): each unit goes to the next
        // free slot of both lists and only its own list's length advances.
        ptrdiff_t is_dropped = uniform < threshold;
        dropped_units[dropped] = (int32_t)unit;
        dropped_values[dropped] = -values[i];
        kept_units[kept] = (int32_t)unit;
        kept_values[kept] = values[i];
        dropped += is_dropped;
        kept += 1 - is_dropped;
    }
    return dropped;
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512dq"), always_inline)) static inline __m512i splitmix_mix512(__m512i z) {
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)), _mm512_set1_epi64((long long)MCD_MIX1));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), _mm512_set1_epi64((long long)MCD_MIX2));
    return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

// The states of 8 counters: start + counter·γ.
__attribute__((target("avx512f,avx512dq"), always_inline)) static inline __m512i splitmix_states(uint64_t start,
                                                                                                 __m512i counters) {
    return _mm512_add_epi64(_mm512_set1_epi64((long long)start),
                            _mm512_mullo_epi64(counters, _mm512_set1_epi64((long long)MCD_GAMMA)));
}

__attribute__((target("avx512f,avx512dq"))) static void mask_words_avx512(uint64_t *words, ptrdiff_t count,
                                                                           uint64_t start) {
    const __m512i steps = _mm512_set_epi64(8, 7, 6, 5, 4, 3, 2, 1);
    for (ptrdiff_t i = 0; i < count; i += 8) {
        ptrdiff_t left = count - i;
        __mmask8 mask = left >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << left) - 1);
        __m512i counters = _mm512_add_epi64(_mm512_set1_epi64((long long)i), steps);
        _mm512_mask_storeu_epi64(words + i, mask, splitmix_mix512(splitmix_states(start, counters)));
    }
}

// 8 units' (64-bit lanes) dropout decisions: a bit per dropped unit.
__attribute__((target("avx512f,avx512dq"), always_inline)) static inline __mmask8 dropped_lanes(__m512i units,
                                                                                                uint64_t start,
                                                                                                __m512i threshold) {
    __m512i counters = _mm512_add_epi64(_mm512_srli_epi64(units, 2), _mm512_set1_epi64(1));
    __m512i words = splitmix_mix512(splitmix_states(start, counters));
    __m512i shifts = _mm512_slli_epi64(_mm512_and_si512(units, _mm512_set1_epi64(3)), 4);
    __m512i uniforms = _mm512_and_si512(_mm512_srlv_epi64(words, shifts), _mm512_set1_epi64(0xFFFF));
    return _mm512_cmplt_epu64_mask(uniforms, threshold);
}

__attribute__((target("avx512f,avx512dq,popcnt"))) static ptrdiff_t partition_active_avx512(
    const float *values, const int32_t *units, ptrdiff_t count, uint64_t start, uint32_t threshold,
    int32_t *dropped_units, float *dropped_values, int32_t *kept_units, float *kept_values) {
    const __m512i limit = _mm512_set1_epi64((long long)threshold);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    ptrdiff_t dropped = 0, kept = 0;
    for (ptrdiff_t i = 0; i < count; i += 16) {
        ptrdiff_t left = count - i;
        __mmask16 valid = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512i unit = _mm512_maskz_loadu_epi32(valid, units + i);
        __m512i value = _mm512_maskz_loadu_epi32(valid, values + i);
        __mmask8 low = dropped_lanes(_mm512_cvtepu32_epi64(_mm512_castsi512_si256(unit)), start, limit);
        __mmask8 high = dropped_lanes(_mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(unit, 1)), start, limit);
        __mmask16 drop = (__mmask16)((low | (unsigned)high << 8) & valid);
        __mmask16 keep = (__mmask16)(~drop & valid);
        unsigned drops = (unsigned)__builtin_popcount(drop);
        unsigned keeps = (unsigned)__builtin_popcount(keep);
        __mmask16 drop_store = (__mmask16)(drops >= 16 ? 0xFFFFu : (1u << drops) - 1);
        __mmask16 keep_store = (__mmask16)(keeps >= 16 ? 0xFFFFu : (1u << keeps) - 1);
        // Compressed in registers, written with masked stores (a compressing store to memory is slow on Zen 4).
        _mm512_mask_storeu_epi32(dropped_units + dropped, drop_store, _mm512_maskz_compress_epi32(drop, unit));
        _mm512_mask_storeu_epi32(dropped_values + dropped, drop_store,
                                 _mm512_maskz_compress_epi32(drop, _mm512_xor_si512(value, sign)));
        _mm512_mask_storeu_epi32(kept_units + kept, keep_store, _mm512_maskz_compress_epi32(keep, unit));
        _mm512_mask_storeu_epi32(kept_values + kept, keep_store, _mm512_maskz_compress_epi32(keep, value));
        dropped += drops;
        kept += keeps;
    }
    return dropped;
}
#endif

static int has_avx512dq(void) {
#if defined(__x86_64__)
    return mcd_vector_width() >= 512 && __builtin_cpu_supports("avx512dq");
#else
    return 0;
#endif
}

void mcd_mask_words_variant(int vector_width, uint64_t *words, ptrdiff_t count, uint64_t start) {
#if defined(__x86_64__)
    if (vector_width >= 512 && has_avx512dq()) {
        mask_words_avx512(words, count, start);
        return;
    }
#endif
    (void)vector_width;
    mask_words_scalar(words, count, start);
}

void mcd_mask_words(uint64_t *words, ptrdiff_t count, uint64_t start) {
    mcd_mask_words_variant(512, words, count, start);
}

ptrdiff_t mcd_partition_active_variant(int vector_width, const float *values, const int32_t *units, ptrdiff_t count,
                                       uint64_t start, uint32_t threshold, int32_t *dropped_units,
                                       float *dropped_values, int32_t *kept_units, float *kept_values) {
#if defined(__x86_64__)
    if (vector_width >= 512 && has_avx512dq()) {
        return partition_active_avx512(values, units, count, start, threshold, dropped_units, dropped_values,
                                       kept_units, kept_values);
    }
#endif
    (void)vector_width;
    return partition_active_scalar(values, units, count, start, threshold, dropped_units, dropped_values, kept_units,
                                   kept_values);
}

ptrdiff_t mcd_partition_active(const float *values, const int32_t *units, ptrdiff_t count, uint64_t start,
                               uint32_t threshold, int32_t *dropped_units, float *dropped_values, int32_t *kept_units,
                               float *kept_values) {
    return mcd_partition_active_variant(512, values, units, count, start, threshold, dropped_units, dropped_values,
                                        kept_units, kept_values);
}

// The fused bias, ReLU and dropout of a hidden layer: no fused multiply-adds, the products in the same order. The
// mask words are read as 16-bit uniforms (a type that may alias them).
typedef uint16_t __attribute__((may_alias)) mcd_uniform;

static void bias_relu_select_scalar(float *values, const float *bias, ptrdiff_t count, const mcd_uniform *uniforms,
                                    uint32_t threshold, float scale) {
#pragma clang fp contract(off)
    for (ptrdiff_t j = 0; j < count; j++) {
        float v = values[j] + bias[j];
        float kept = uniforms[j] >= threshold ? 1.0f : 0.0f;
        values[j] = ((v > 0 ? v : 0) * scale) * kept;
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void bias_relu_select_avx512(float *values, const float *bias,
                                                                                 ptrdiff_t count,
                                                                                 const mcd_uniform *uniforms,
                                                                                 uint32_t threshold, float scale) {
#pragma clang fp contract(off)
    const __m512 zero = _mm512_setzero_ps();
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 factor = _mm512_set1_ps(scale);
    const __m512i limit = _mm512_set1_epi32((int)threshold);
    for (ptrdiff_t j = 0; j < count; j += 16) {
        ptrdiff_t left = count - j;
        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, values + j), _mm512_maskz_loadu_ps(mask, bias + j));
        // max(v, +0) returns its second operand for a NaN and for either zero: `v > 0 ? v : 0`.
        __m512 rectified = _mm512_max_ps(v, zero);
        __m512i uniform = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, uniforms + j));
        __m512 kept = _mm512_maskz_mov_ps(_mm512_cmpge_epu32_mask(uniform, limit), one);
        _mm512_mask_storeu_ps(values + j, mask, _mm512_mul_ps(_mm512_mul_ps(rectified, factor), kept));
    }
}

__attribute__((target("avx2"))) static void bias_relu_select_avx2(float *values, const float *bias, ptrdiff_t count,
                                                                  const mcd_uniform *uniforms, uint32_t threshold,
                                                                  float scale) {
#pragma clang fp contract(off)
    const __m256 zero = _mm256_setzero_ps();
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 factor = _mm256_set1_ps(scale);
    // Uniforms and the threshold are below 2^17, so the signed compare is the unsigned one.
    const __m256i below = _mm256_set1_epi32((int)threshold - 1);
    ptrdiff_t j = 0;
    for (; j + 8 <= count; j += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(values + j), _mm256_loadu_ps(bias + j));
        __m256 rectified = _mm256_max_ps(v, zero);
        __m256i uniform = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(uniforms + j)));
        __m256 kept = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(uniform, below)), one);
        _mm256_storeu_ps(values + j, _mm256_mul_ps(_mm256_mul_ps(rectified, factor), kept));
    }
    bias_relu_select_scalar(values + j, bias + j, count - j, uniforms + j, threshold, scale);
}
#endif

void mcd_bias_relu_select_variant(int vector_width, float *values, const float *bias, ptrdiff_t count,
                                  const uint64_t *mask, uint32_t threshold, float scale) {
    const mcd_uniform *uniforms = (const uint16_t *)mask;
#if defined(__x86_64__)
    if (vector_width >= 512 && mcd_vector_width() >= 512 && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
        bias_relu_select_avx512(values, bias, count, uniforms, threshold, scale);
        return;
    }
    if (vector_width >= 256 && mcd_vector_width() >= 256) {
        bias_relu_select_avx2(values, bias, count, uniforms, threshold, scale);
        return;
    }
#endif
    (void)vector_width;
    bias_relu_select_scalar(values, bias, count, uniforms, threshold, scale);
}

void mcd_bias_relu_select(float *values, const float *bias, ptrdiff_t count, const uint64_t *mask, uint32_t threshold,
                          float scale) {
    mcd_bias_relu_select_variant(512, values, bias, count, mask, threshold, scale);
}
