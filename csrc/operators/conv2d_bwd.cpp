// conv2d_bwd: the backward passes one call asks for. Skinny layers (a dense layer as a 1x1 convolution) compute
// them in one parallel region; every other layer runs each pass's own operator in turn.
#include <type_traits>

#include "fastconv/parallel.h"
#include "operators/conv2d.h"

namespace fastconv {

template <typename T>
void conv2d_bwd(const ConvShape& s, Algorithm alg, int threads, const T* gy, const T* x, const T* w, T* gx, T* gw,
                T* gb) {
  const bool skinny = skinny_applies(s, std::is_same_v<T, double>) &&
                      (!gx || choose_algorithm(s, alg, Pass::InputGrad) == Algorithm::Gemm) &&
                      (!gw || choose_algorithm(s, alg, Pass::WeightGrad) == Algorithm::Gemm);
  if (skinny) return conv2d_skinny_bwd(s, threads_for(s.flops(), threads), gy, x, w, gx, gw, gb);
  if (gx) conv2d_bwd_data(s, alg, threads, gy, w, gx);
  if (gw) conv2d_bwd_weight(s, alg, threads, gy, x, gw, gb);  // the bias too, in one pass where it can
  else if (gb) conv2d_bwd_bias(s, threads, gy, gb);
}

template void conv2d_bwd<float>(const ConvShape&, Algorithm, int, const float*, const float*, const float*, float*,
                                float*, float*);
template void conv2d_bwd<double>(const ConvShape&, Algorithm, int, const double*, const double*, const double*,
                                 double*, double*, double*);

}  // namespace fastconv
