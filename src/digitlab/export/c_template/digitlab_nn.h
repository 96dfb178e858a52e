/* digitlab integer kernels: dependency-free C99, integer arithmetic only (the shape an HLS tool takes).
 *
 * Activations are stored as int16 (the input layer's values need more than 8 bits; hidden layers hold
 * 0..act_max), weights as int8, accumulators as int32 (bounds checked when the model was exported).
 * Every layer is a plain loop nest with no dynamic memory; tensors are channel-major (C, H, W), as in PyTorch.
 */
#ifndef DIGITLAB_NN_H
#define DIGITLAB_NN_H

#include <stdint.h>

typedef int16_t dl_act_t;

/* ReLU, then the fixed-point rescale acc * mult / 2^shift rounded half up, clamped to act_max. */
static dl_act_t dl_requant_relu(int32_t acc, int32_t mult, int shift, int32_t act_max) {
    int64_t y;
    if (acc <= 0) return 0;
    y = ((int64_t)acc * mult + ((int64_t)1 << (shift - 1))) >> shift;
    return (dl_act_t)(y > act_max ? act_max : y);
}

/* Square k x k convolution, stride 1, zero padding pad, fused with ReLU and requantisation. */
static void dl_conv2d_relu(const dl_act_t *in, int ci, int h, int w, const int8_t *weight, const int32_t *bias,
                           const int32_t *mult, const int8_t *shift, int co, int k, int pad, int32_t act_max,
                           dl_act_t *out) {
    const int ho = h + 2 * pad - k + 1, wo = w + 2 * pad - k + 1;
    int o, y, x, i, ky, kx;
    for (o = 0; o < co; ++o) {
        for (y = 0; y < ho; ++y) {
            for (x = 0; x < wo; ++x) {
                int32_t acc = bias[o];
                for (i = 0; i < ci; ++i) {
                    for (ky = 0; ky < k; ++ky) {
                        const int iy = y + ky - pad;
                        if (iy < 0 || iy >= h) continue;
                        for (kx = 0; kx < k; ++kx) {
                            const int ix = x + kx - pad;
                            if (ix < 0 || ix >= w) continue;
                            acc += (int32_t)in[(i * h + iy) * w + ix] * weight[((o * ci + i) * k + ky) * k + kx];
                        }
                    }
                }
                out[(o * ho + y) * wo + x] = dl_requant_relu(acc, mult[o], shift[o], act_max);
            }
        }
    }
}

/* 2 x 2 max pooling, stride 2 (odd edges dropped, as PyTorch's MaxPool2d(2) does). */
static void dl_maxpool2(const dl_act_t *in, int c, int h, int w, dl_act_t *out) {
    const int ho = h / 2, wo = w / 2;
    int ch, y, x;
    for (ch = 0; ch < c; ++ch) {
        for (y = 0; y < ho; ++y) {
            for (x = 0; x < wo; ++x) {
                const dl_act_t *p = in + (ch * h + 2 * y) * w + 2 * x;
                dl_act_t m = p[0];
                if (p[1] > m) m = p[1];
                if (p[w] > m) m = p[w];
                if (p[w + 1] > m) m = p[w + 1];
                out[(ch * ho + y) * wo + x] = m;
            }
        }
    }
}

/* Fully connected layer fused with ReLU and requantisation. */
static void dl_dense_relu(const dl_act_t *in, int n_in, const int8_t *weight, const int32_t *bias,
                          const int32_t *mult, const int8_t *shift, int n_out, int32_t act_max, dl_act_t *out) {
    int o, i;
    for (o = 0; o < n_out; ++o) {
        int32_t acc = bias[o];
        for (i = 0; i < n_in; ++i) acc += (int32_t)in[i] * weight[o * n_in + i];
        out[o] = dl_requant_relu(acc, mult[o], shift[o], act_max);
    }
}

/* The last fully connected layer: raw int32 accumulators are the logits (one common scale). */
static void dl_dense_out(const dl_act_t *in, int n_in, const int8_t *weight, const int32_t *bias, int n_out,
                         int32_t *out) {
    int o, i;
    for (o = 0; o < n_out; ++o) {
        int32_t acc = bias[o];
        for (i = 0; i < n_in; ++i) acc += (int32_t)in[i] * weight[o * n_in + i];
        out[o] = acc;
    }
}

#endif /* DIGITLAB_NN_H */
