// PLEIADES causal temporal convolution for hls4ml (io_stream), one top-function call per frame.
//
// Per pixel p and output channel o:
//   acc = bias[o] + sum_{c in group(o), k} w[o][c][k] * x_k[p][c],  k = 0 (oldest) .. K-1 (current frame)
//   out[p][o] = (res_T) acc   (res_T rounds half to even and saturates: AP_RND_CONV, AP_SAT)
// The K-1 previous frames live in a static circular buffer that persists across calls; a frame whose
// reset flag is set zeroes it first (hardware reset / new clip).
#ifndef PLEIADES_TEMPORAL_CONV_H_
#define PLEIADES_TEMPORAL_CONV_H_

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

struct pleiades_temporal_config {
    static const unsigned n_pixels = 1;  // height * width of one frame
    static const unsigned n_chan = 1;
    static const unsigned n_filt = 1;
    static const unsigned groups = 1;
    static const unsigned kernel = 2;  // K taps; the buffer holds K-1 frames
    typedef float accum_t;
    typedef float weight_t;
    typedef float bias_t;
};

template <class data_T, class reset_T, class res_T, typename CONFIG_T>
void pleiades_temporal_conv(hls::stream<data_T> &data, hls::stream<reset_T> &reset, hls::stream<res_T> &res,
                            const typename CONFIG_T::weight_t weights[CONFIG_T::n_filt * (CONFIG_T::n_chan / CONFIG_T::groups) *
                                                                      CONFIG_T::kernel],
                            const typename CONFIG_T::bias_t biases[CONFIG_T::n_filt]) {
    const unsigned depth = CONFIG_T::kernel - 1;
    const unsigned cin_g = CONFIG_T::n_chan / CONFIG_T::groups;
    const unsigned cout_g = CONFIG_T::n_filt / CONFIG_T::groups;
    static typename data_T::value_type history[CONFIG_T::n_pixels][CONFIG_T::kernel - 1][CONFIG_T::n_chan];
    static unsigned oldest = 0;  // slot of the oldest frame; the current frame overwrites it

    reset_T flag = reset.read();
    if (flag[0] != 0) {
    ResetPixels:
        for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
            for (unsigned k = 0; k < depth; k++) {
                for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
                    history[p][k][c] = 0;
                }
            }
        }
        oldest = 0;
    }

Pixels:
    for (unsigned p = 0; p < CONFIG_T::n_pixels; p++) {
        #pragma HLS PIPELINE
        data_T in = data.read();
        res_T out;
        PRAGMA_DATA_PACK(out)
    Filters:
        for (unsigned o = 0; o < CONFIG_T::n_filt; o++) {
            const unsigned g = o / cout_g;
            typename CONFIG_T::accum_t acc = biases[o];
        Channels:
            for (unsigned ci = 0; ci < cin_g; ci++) {
                const unsigned c = g * cin_g + ci;
                const unsigned base = (o * cin_g + ci) * CONFIG_T::kernel;
            Taps:
                for (unsigned k = 0; k < depth; k++) {
                    unsigned slot = oldest + k;
                    if (slot >= depth) slot -= depth;
                    acc += weights[base + k] * history[p][slot][c];
                }
                acc += weights[base + depth] * in[c];
            }
            out[o] = (typename res_T::value_type)acc;
        }
    Store:
        for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
            history[p][oldest][c] = in[c];
        }
        res.write(out);
    }
    oldest = (oldest + 1 == depth) ? 0 : oldest + 1;
}

} // namespace nnet

#endif
