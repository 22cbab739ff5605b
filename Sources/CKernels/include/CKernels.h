// mcdropout's own vector kernels, in C so that one build for baseline x86-64 can still run AVX-512 or AVX2 + FMA code
// where the CPU has it (chosen per call with __builtin_cpu_supports). Every variant computes the same bytes: each
// output element is accumulated in the same order with fused multiply-adds (fmaf where there is no vector unit).
#pragma once
#include <stddef.h>
#include <stdint.h>

/// out[c] = base[c] + Σ_j alphas[j] · rows[indices[j] · stride + c] for c < width, accumulated in j order with one
/// fused multiply-add per term (the same rounding as `saxpy` calls in that order). `base` may be NULL (zeros) or equal
/// `out`; `out` must not overlap `rows`. Rows are read directly from `rows`, so no gather or packing is needed.
void mcd_add_rows(float *out, const float *base, const float *rows, ptrdiff_t stride, const int32_t *indices,
                  const float *alphas, ptrdiff_t count, ptrdiff_t width);

/// `mcd_add_rows` with a chosen variant: 512, 256 or 0 as in `mcd_vector_width` (a variant the CPU lacks falls back to
/// the next narrower one it has). For tests that check the variants give the same bytes.
void mcd_add_rows_variant(int vector_width, float *out, const float *base, const float *rows, ptrdiff_t stride,
                          const int32_t *indices, const float *alphas, ptrdiff_t count, ptrdiff_t width);

/// The vector unit `mcd_add_rows` uses on this CPU: 512 (AVX-512F), 256 (AVX2 + FMA) or 0 (scalar fmaf).
int mcd_vector_width(void);

/// `mcd_add_rows` for `outputs` outputs over one list of rows, each row read once for all of them: for o < outputs,
/// out[o·out_stride + c] = base[c] + Σ_j alphas[o·alpha_stride + j] · rows[indices[j] · stride + c], with exactly the
/// bytes `mcd_add_rows` gives output o over the same terms (a zero alpha adds an exact zero). `base` (shared by the
/// outputs) may be NULL but must not overlap `out`.
void mcd_add_rows_multi(int outputs, float *out, ptrdiff_t out_stride, const float *base, const float *rows,
                        ptrdiff_t stride, const int32_t *indices, const float *alphas, ptrdiff_t alpha_stride,
                        ptrdiff_t count, ptrdiff_t width);

/// `mcd_add_rows_multi` with a chosen variant (as in `mcd_add_rows_variant`), for tests.
void mcd_add_rows_multi_variant(int vector_width, int outputs, float *out, ptrdiff_t out_stride, const float *base,
                                const float *rows, ptrdiff_t stride, const int32_t *indices, const float *alphas,
                                ptrdiff_t alpha_stride, ptrdiff_t count, ptrdiff_t width);

/// The union of the non-zero elements of `inputs` rows (`input + r·input_stride`, `count` elements each): writes every
/// index at which some row is non-zero, in index order, to `units`, and each row's element there to
/// `values + r·value_stride` (0 where that row is zero), and returns how many indices there are. With `rectify`, each
/// element is first replaced by `max(element, 0)` (a NaN becomes 0); without it, a NaN counts as non-zero and −0 as
/// zero. `units` and each row of `values` need room for `count` elements. Every variant gives the same output.
ptrdiff_t mcd_nonzero_terms(const float *input, int inputs, ptrdiff_t input_stride, ptrdiff_t count, int rectify,
                            int32_t *units, float *values, ptrdiff_t value_stride);

/// `mcd_nonzero_terms` with a chosen variant (as in `mcd_add_rows_variant`), for tests.
ptrdiff_t mcd_nonzero_terms_variant(int vector_width, const float *input, int inputs, ptrdiff_t input_stride,
                                    ptrdiff_t count, int rectify, int32_t *units, float *values,
                                    ptrdiff_t value_stride);

/// A linear resampling of an image: for p < pixels, out[p] = ((((0 + weights[p]·input[taps[p]]) +
/// weights[P + p]·input[taps[P + p]]) + weights[2P + p]·input[taps[2P + p]]) + weights[3P + p]·input[taps[3P + p]])
/// with P = pixels (four taps per output pixel, stored tap by tap), each product and sum rounded on its own (no fused
/// multiply-add), in that order. Every variant gives the same bytes.
void mcd_resample4(float *out, const float *input, const int32_t *taps, const float *weights, ptrdiff_t pixels);

/// `mcd_resample4` with a chosen variant (as in `mcd_add_rows_variant`), for tests.
void mcd_resample4_variant(int vector_width, float *out, const float *input, const int32_t *taps,
                           const float *weights, ptrdiff_t pixels);

/// Dropout mask words from the SplitMix64 stream: words[i] = mix(start + (i + 1)·γ) for i < count, with γ =
/// 0x9E3779B97F4A7C15 and mix the SplitMix64 finalizer (MaskStream's definition). Every variant gives the same words.
void mcd_mask_words(uint64_t *words, ptrdiff_t count, uint64_t start);

/// `mcd_mask_words` with a chosen variant (as in `mcd_add_rows_variant`), for tests.
void mcd_mask_words_variant(int vector_width, uint64_t *words, ptrdiff_t count, uint64_t start);

/// Splits a layer's active units by their dropout decision, computing only their own uniforms: unit u's uniform is
/// bits 16·(u mod 4) ..< 16·(u mod 4) + 16 of mix(start + (⌊u/4⌋ + 1)·γ) (as in `mcd_mask_words`), and it is dropped
/// when the uniform is below `threshold`. The dropped units go to `dropped_units` with their values negated (the sign
/// bit flipped) to `dropped_values`, the kept ones to `kept_units` / `kept_values`, each list in input order; returns
/// how many were dropped (`count` minus it were kept). Each list needs room for `count` elements. Every variant gives
/// the same lists.
ptrdiff_t mcd_partition_active(const float *values, const int32_t *units, ptrdiff_t count, uint64_t start,
                               uint32_t threshold, int32_t *dropped_units, float *dropped_values, int32_t *kept_units,
                               float *kept_values);

/// `mcd_partition_active` with a chosen variant (as in `mcd_add_rows_variant`), for tests.
ptrdiff_t mcd_partition_active_variant(int vector_width, const float *values, const int32_t *units, ptrdiff_t count,
                                       uint64_t start, uint32_t threshold, int32_t *dropped_units,
                                       float *dropped_values, int32_t *kept_units, float *kept_values);

/// Bias, ReLU and the next layer's dropout in one sweep, in place: values[j] = (r·scale)·keep_j with r = v if v > 0
/// else 0 (a NaN gives 0), v = values[j] + bias[j], and keep_j = 1 when unit j's 16-bit uniform (element j of `mask`
/// read as 16-bit integers) is at least `threshold`, else 0 — each operation rounded on its own. Every variant gives
/// the same bytes.
void mcd_bias_relu_select(float *values, const float *bias, ptrdiff_t count, const uint64_t *mask, uint32_t threshold,
                          float scale);

/// `mcd_bias_relu_select` with a chosen variant (as in `mcd_add_rows_variant`), for tests.
void mcd_bias_relu_select_variant(int vector_width, float *values, const float *bias, ptrdiff_t count,
                                  const uint64_t *mask, uint32_t threshold, float scale);
