// Which algorithm runs each pass of a convolution: the one place that decides (see choose_algorithm in conv2d.h).
#include "operators/conv2d.h"

namespace fastconv {
namespace {

// The dense direct kernels win where a GEMM's tile and packing would be mostly overhead. Measured with
// `fastconv bench --shapes small` and shape sweeps on avx512 (benchmarks/RESULTS.md), 2 threads, direct vs GEMM:
// - forward-style passes (the input gradient runs as a forward convolution with input and output channels
//   swapped) at unit stride: up to 32 output channels at any reduction length (NCHW rows share each x vector
//   across 6 channels; NHWC rows broadcast x into a vector of channels): 1.3-7x the GEMM; one output channel
//   makes every FMA load its own x vector, so only short reductions; NCHW rows up to 64 channels while the
//   reduction is short (a 1x1 256 -> 64 layer stays with the GEMM: 2x faster there);
// - the input gradient of few-channel gy (a reduction of <= 72 taps: 8 channels x 3x3): the GEMM's column-to-image
//   scatter costs more than the whole direct pass (64 <- 8 channels 3x3 NCHW: 0.30 vs 1.98 ms);
// - except input gradients whose padding is small against the kernel, where the GEMM's col2im gathers
//   (col2im_gathers): the forward of gy that the direct kernels run pads gy by (R - 1) * dil - pad, and its taps
//   multiply those zeros; the GEMM does P x Q of their H x W multiplies. At H x W >= 1.5 P x Q: LeNet's 6 -> 16 5x5
//   (196 vs 100 pixels) 0.118 vs 0.154 ms, 4 -> 8 5x5 on 12x12 0.050 vs 0.068; 'same' padding keeps the direct
//   pass (LeNet's 1 -> 6 5x5: 0.105 vs 0.132 ms; 8 -> 8 3x3 on 16x16: 0.075 vs 0.096);
// - the weight gradient, and strided layers (whose rows gather x lane by lane): few channels and short reductions
//   only (160 taps; NHWC rows 32 channels, unit-stride NCHW rows 16, which share each x vector across 3 channels:
//   lenet 1 -> 6 5x5 1.3x, a 6 -> 16 5x5 on 28x28 2x the GEMM; strided NCHW rows 8), and unit-stride NCHW rows of
//   up to 32 channels where the reduction is short (72 taps: 1 -> 32 3x3 0.11 vs 0.16 ms, 2 -> 20 2.4x; 16 -> 32
//   3x3, 144 taps, is even);
// - 1x1 layers, whose GEMM reads x in place (no patch to gather): the same bounds as the weight gradient, NCHW
//   rows 8 channels (a dense layer, 1014 -> 10 as a 1x1 convolution of one-pixel rows: the GEMM 15 us, direct 106);
//   NHWC 1x1 layers of <= 2 vectors of outputs run the GEMM's skinny products: 2-10x direct in every pass (32
//   rows 120 -> 32: 4.8 vs 22.8 us forward; 784 rows 64 -> 16: 12 vs 105 us).
bool direct_is_faster(const ConvShape& s, Pass pass) {
  if (skinny_applies(s, false)) return false;
  if (pass == Pass::InputGrad && col2im_gathers(s) && 2 * s.H * s.W >= 3 * s.pixels()) return false;
  const ConvShape f = pass == Pass::InputGrad ? input_grad_as_forward(s) : s;
  const bool nhwc_rows = direct_rows_nhwc(f, pass == Pass::WeightGrad);
  const bool strided = s.stride_h != 1 || s.stride_w != 1, pointwise = s.R == 1 && s.S == 1;
  const bool short_nchw_wgrad = pass == Pass::WeightGrad && !nhwc_rows && !strided && f.K <= 32 && f.taps() <= 72;
  if (pass == Pass::WeightGrad || strided || pointwise)
    return short_nchw_wgrad || (f.K <= (nhwc_rows ? 32 : strided || pointwise ? 8 : 16) && f.taps() <= 160);
  if (f.K == 1) return f.taps() <= 160;
  const bool few_gy_channels = pass == Pass::InputGrad && f.R * f.S > 1 && f.taps() <= 72;
  return f.K <= 32 || few_gy_channels || (!nhwc_rows && f.K <= 64 && f.taps() <= 160);
}

// Winograd F(4x4, 3x3) (or F(6x6, 3x3), conv2d_winograd.cpp) does a quarter of the multiplies (or less), for about 1e-5
// relative float32 error (documented in benchmarks/RESULTS.md). Its fixed cost per call is a transform of 36 C x K
// matrices (the weights, or the weight gradient's sums) against GEMMs over its tiles: it pays from 16 tiles, whatever
// the channels, once each pass has 16 or more of them (a sweep of 64-512 channels on 7x7 to 32x32 images, 2 threads,
// against the GEMM: 8 x 512 x 7x7, 32 tiles, 1.35-1.76x in every pass; 16 tiles 0.97-1.5x; 4-8 tiles 0.53-1.0x at 512
// channels; weight gradients of fewer than 16 channels on either side: the direct kernels up to 3x faster).
bool winograd_is_faster(const ConvShape& s) {
  const int64_t tiles = s.N * ((s.P + 3) / 4) * ((s.Q + 3) / 4);
  return winograd_applies(s) && s.C >= 16 && s.K >= 16 && tiles >= 16;
}

}  // namespace

ConvShape input_grad_as_forward(const ConvShape& s) {
  ConvShape t = s;
  t.C = s.K, t.H = s.P, t.W = s.Q, t.K = s.C, t.P = s.H, t.Q = s.W;
  t.pad_top = (s.R - 1) * s.dil_h - s.pad_top;  // negative where the padding exceeded the kernel's reach
  t.pad_left = (s.S - 1) * s.dil_w - s.pad_left;
  return t;
}

Algorithm choose_algorithm(const ConvShape& s, Algorithm requested, Pass pass) {
  if (requested == Algorithm::Winograd) return Algorithm::Winograd;  // Python checked that it applies
  if (requested == Algorithm::Auto) {
    if (pass != Pass::InputGrad && space_to_depth_pays(s)) return Algorithm::SpaceToDepth;
    if (pass != Pass::InputGrad && winograd_is_faster(s)) return Algorithm::Winograd;
    if (pass == Pass::InputGrad && s.G == 1 && s.stride_h == 1 && s.stride_w == 1 &&
        winograd_is_faster(input_grad_as_forward(s)))
      return Algorithm::Winograd;
  }
  if (is_depthwise(s)) return requested == Algorithm::Gemm ? Algorithm::Gemm : Algorithm::Direct;
  const bool applies = s.G == 1 && (pass != Pass::InputGrad || (s.stride_h == 1 && s.stride_w == 1));
  if (!applies) return Algorithm::Gemm;  // Python refused an explicit "direct" that applies to no pass
  if (requested != Algorithm::Auto) return requested;
  return direct_is_faster(s, pass) ? Algorithm::Direct : Algorithm::Gemm;
}

}  // namespace fastconv
