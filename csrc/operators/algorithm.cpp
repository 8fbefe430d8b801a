// Which algorithm runs each pass of a convolution: the one place that decides (see choose_algorithm in conv2d.h).
#include "operators/conv2d.h"

namespace fastconv {
namespace {

// The dense direct kernels win where a GEMM's tile and packing would be mostly overhead: few output channels and
// a short reduction. NCHW rows hold one channel each (short rows, one gather per channel), so their bound is
// tighter; NCHW layers whose rows the kernels compute as NHWC rows (direct_rows_nhwc) count as NHWC. Thresholds
// from `fastconv bench` on avx512 (benchmarks/RESULTS.md): the direct kernels are 2-12x faster on the MNIST/LeNet
// layers, and slower than the GEMM from about 16 channels x 150 taps (NCHW rows) or 32 channels x 300 taps (NHWC).
bool direct_is_faster(const ConvShape& s, Pass pass) {
  // The input gradient runs as a forward convolution with input and output channels swapped.
  const ConvShape f = pass == Pass::InputGrad ? input_grad_as_forward(s) : s;
  return f.K <= (direct_rows_nhwc(f) ? 32 : 8) && f.taps() <= 160;
}

// Winograd F(4x4, 3x3) does a quarter of the multiplies, for about 1e-5 relative float32 error (documented in
// benchmarks/RESULTS.md), but transforms the weights on every call (36 C x K matrices): it pays where the tiles
// outnumber the channels enough to amortize that, and the channels keep its 36 GEMMs busy. Measured with
// `fastconv bench --shapes large,small` (resnet 64/128/256 channels: 1.5-4x the GEMM; 512 channels at 7x7: slower).
bool winograd_is_faster(const ConvShape& s) {
  const int64_t tiles = s.N * ((s.P + 3) / 4) * ((s.Q + 3) / 4);
  return winograd_applies(s) && s.C >= 16 && s.K >= 16 && 2 * tiles >= s.C;
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
  if (requested == Algorithm::Winograd) {
    if (pass == Pass::Forward) return Algorithm::Winograd;  // Python checked that it applies
    requested = Algorithm::Auto;
  }
  if (requested == Algorithm::Auto) {
    if (pass != Pass::InputGrad && space_to_depth_pays(s)) return Algorithm::SpaceToDepth;
    if (pass == Pass::Forward && winograd_is_faster(s)) return Algorithm::Winograd;
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
