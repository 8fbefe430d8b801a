// Which algorithm runs each pass of a convolution: the one place that decides (see choose_algorithm in conv2d.h).
#include "operators/conv2d.h"

namespace fastconv {
namespace {

// The dense direct kernels win where a GEMM's tile and packing would be mostly overhead: few output channels and
// a short reduction. NCHW rows hold one channel each (short rows, one gather per channel), so the NCHW bound is
// tighter. Thresholds from `fastconv bench` on avx512 (benchmarks/RESULTS.md): the direct kernels are 2-12x
// faster on the MNIST/LeNet first layers, and slower than the GEMM from about 16 channels x 150 taps (NCHW) or
// 32 channels x 300 taps (NHWC).
bool direct_is_faster(const ConvShape& s, Pass pass) {
  // The input gradient runs as a forward convolution with input and output channels swapped.
  const int64_t channels = pass == Pass::InputGrad ? s.C : s.K;
  const int64_t reduction = pass == Pass::InputGrad ? s.K * s.R * s.S : s.taps();
  return channels <= (s.nhwc ? 32 : 8) && reduction <= 160;
}

}  // namespace

Algorithm choose_algorithm(const ConvShape& s, Algorithm requested, Pass pass) {
  if (is_depthwise(s)) return requested == Algorithm::Gemm ? Algorithm::Gemm : Algorithm::Direct;
  const bool applies = s.G == 1 && (pass != Pass::InputGrad || (s.stride_h == 1 && s.stride_w == 1));
  if (!applies) return Algorithm::Gemm;  // Python refused an explicit "direct" that applies to no pass
  if (requested != Algorithm::Auto) return requested;
  return direct_is_faster(s, pass) ? Algorithm::Direct : Algorithm::Gemm;
}

}  // namespace fastconv
