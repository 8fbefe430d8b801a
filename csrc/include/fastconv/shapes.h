// Shapes of one convolution call, already validated by fastconv/_args.py.
#pragma once
#include <cstdint>

namespace fastconv {

// x: (N, C, H, W) or (N, H, W, C); w: (K, C/G, R, S) or (R, S, C/G, K); y: (N, K, P, Q) or (N, P, Q, K).
// Padding is top/left; bottom/right padding is implied by P and Q.
struct ConvShape {
  int64_t N, C, H, W;
  int64_t K, R, S;
  int64_t P, Q;
  int64_t G;
  int64_t stride_h, stride_w;
  int64_t pad_top, pad_left;
  int64_t dil_h, dil_w;
  bool nhwc;

  int64_t Cg() const { return C / G; }
  int64_t Kg() const { return K / G; }
  int64_t taps() const { return Cg() * R * S; }  // reduction length of one output value
  int64_t pixels() const { return P * Q; }        // output pixels of one image
  int64_t flops() const { return 2 * N * K * pixels() * taps(); }  // of one pass (forward or either backward)
};

// Direct: depthwise or groups == 1; Winograd: forward of 3x3, stride 1, no dilation, groups == 1.
// SpaceToDepth is internal: auto's choice for some strided layers, never requested from Python.
enum class Algorithm : int { Auto = 0, Gemm = 1, Direct = 2, Winograd = 3, SpaceToDepth = 4 };

}  // namespace fastconv
