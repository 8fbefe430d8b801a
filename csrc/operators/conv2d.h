// The convolution operators called by csrc/bindings.cpp. All tensors are C-contiguous in the layout s.nhwc names;
// every pointer is valid for the shapes in s (checked once in Python). `threads` bounds every parallel region.
#pragma once
#include "fastconv/shapes.h"

namespace fastconv {

// The passes of a convolution, and the algorithm each runs: "direct" (depthwise loops, or the dense row kernels),
// "gemm" or "winograd" (3x3 stride-1 layers: every pass, the input gradient computed as a forward of gy). An
// explicit request is followed where it applies to the pass; the input gradient of a strided dense convolution
// always runs the GEMM (direct computes it as a stride-1 forward).
enum class Pass { Forward, InputGrad, WeightGrad };
Algorithm choose_algorithm(const ConvShape& s, Algorithm requested, Pass pass);

// Stride 1, groups 1: the input gradient is the forward convolution of gy with the flipped kernel, input and
// output channels swapped, and the complementary padding (R - 1) * dil - pad. This is that forward's shape; the
// direct and Winograd algorithms compute the input gradient through it.
ConvShape input_grad_as_forward(const ConvShape& s);

// y = conv(x, w) + b, optionally relu(.); b may be null.
template <typename T>
void conv2d_fwd(const ConvShape& s, Algorithm alg, int threads, const T* x, const T* w, const T* b, bool relu, T* y);

// gx = d<y, gy>/dx: the transposed convolution of gy, scattered back over the input (col2im).
template <typename T>
void conv2d_bwd_data(const ConvShape& s, Algorithm alg, int threads, const T* gy, const T* w, T* gx);

// Whether the GEMM input gradient gathers each gx row from Col in registers (the kernels' col2im), Col spanning
// whole images: unit stride, with one image's Col and the packed weights small enough to keep per thread (NHWC:
// fewer than 64 channels a group, no more gy channels than taps).
bool col2im_gathers(const ConvShape& s);

// gw = d<y, gy>/dw: sum over images and pixels of gy (x) patches(x). With gb not null, also the bias gradient
// (as conv2d_bwd_bias; the direct algorithm sums it in the same pass over gy).
template <typename T>
void conv2d_bwd_weight(const ConvShape& s, Algorithm alg, int threads, const T* gy, const T* x, T* gw, T* gb);

// gb[k] = sum of gy over images and pixels.
template <typename T>
void conv2d_bwd_bias(const ConvShape& s, int threads, const T* gy, T* gb);

// The direct algorithm for depthwise shapes (C/G == 1, G > 1), which every pass dispatches to.
bool is_depthwise(const ConvShape& s);
template <typename T>
void conv2d_depthwise_fwd(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y);
template <typename T>
void conv2d_depthwise_bwd_data(const ConvShape& s, int threads, const T* gy, const T* w, T* gx);
template <typename T>
void conv2d_depthwise_bwd_weight(const ConvShape& s, int threads, const T* gy, const T* x, T* gw);

// The direct row kernels: dense convolutions (groups == 1; the input gradient for stride 1 only, as a forward),
// NCHW depthwise ones (each plane a one-channel image) and NHWC depthwise ones with one channel per group (lanes
// over channels): conv2d_direct.cpp. Other depthwise shapes run the loops of conv2d_depthwise.cpp.
bool direct_rows_apply(const ConvShape& s);
// Whether the row kernels compute this (forward) shape's rows as NHWC rows (lanes over a pixel's output channels)
// rather than NCHW rows (lanes along one channel's row), whatever the user's layout: see nhwc_rows in
// conv2d_direct.cpp; with the active ISA's float lanes.
bool direct_rows_nhwc(const ConvShape& s, bool weight_grad);
template <typename T>
void conv2d_direct_fwd(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y);
template <typename T>
void conv2d_direct_bwd_weight(const ConvShape& s, int threads, const T* gy, const T* x, T* gw, T* gb);

// Strided dense layers as stride-1 ones on a space-to-depth copy of x (conv2d_space_to_depth.cpp): auto's choice
// for the forward and weight gradient where it pays (AlexNet's 11x11 stride 4 becomes 3x3 over 48 channels).
bool space_to_depth_pays(const ConvShape& s);
template <typename T>
void conv2d_space_to_depth_fwd(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y);
template <typename T>
void conv2d_space_to_depth_bwd_weight(const ConvShape& s, int threads, const T* gy, const T* x, T* gw);

// Pointwise NHWC layers of few output channels (<= 2 vectors; a dense layer): the GEMM algorithm's passes as skinny
// products, no packing (conv2d_skinny.cpp). f64: for double operands (their vectors hold half the values).
bool skinny_applies(const ConvShape& s, bool f64);
template <typename T>
void conv2d_skinny_fwd(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y);
// Any of gx, gw, gb (null: not wanted), in one parallel region.
template <typename T>
void conv2d_skinny_bwd(const ConvShape& s, int threads, const T* gy, const T* x, const T* w, T* gx, T* gw, T* gb);

// Both backward passes of one call, gx, gw and gb each where not null: in one parallel region where the algorithm
// computes them together (skinny layers), else conv2d_bwd_data, then conv2d_bwd_weight (with the bias) or
// conv2d_bwd_bias.
template <typename T>
void conv2d_bwd(const ConvShape& s, Algorithm alg, int threads, const T* gy, const T* x, const T* w, T* gx, T* gw,
                T* gb);

// Winograd F(4x4, 3x3) or F(6x6, 3x3): conv2d_winograd.cpp. The input gradient is the forward
// input_grad_as_forward(s) of gy, its weights read from w flipped, or, where y has fewer tiles than gx, that
// forward's adjoint over y's tiles.
bool winograd_applies(const ConvShape& s);
template <typename T>
void conv2d_winograd_fwd(const ConvShape& s, int threads, const T* x, const T* w, const T* b, bool relu, T* y);
template <typename T>
void conv2d_winograd_bwd_data(const ConvShape& s, int threads, const T* gy, const T* w, T* gx);
template <typename T>
void conv2d_winograd_bwd_weight(const ConvShape& s, int threads, const T* gy, const T* x, T* gw);

}  // namespace fastconv
