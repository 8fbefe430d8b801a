// fastconv._C: buffers in, buffers out. Arguments were validated in fastconv/_args.py; this layer only turns
// arrays into pointers and a ConvShape, releases the GIL and calls the operator.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdlib>

#include "fastconv/cpu.h"
#include "fastconv/parallel.h"
#include "operators/conv2d.h"
#include "operators/fma_peak.h"
#include "operators/transpose.h"

namespace py = pybind11;
using namespace fastconv;

namespace {

// (N, C, H, W, K, R, S, P, Q, G, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, nhwc), as _args.py packs it.
using ShapeTuple = std::array<int64_t, 17>;

ConvShape to_shape(const ShapeTuple& t) {
  return ConvShape{t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], t[11], t[12], t[13], t[14], t[15],
                   t[16] != 0};
}

template <typename T>
const T* ptr(const py::array& a) { return static_cast<const T*>(a.data()); }
template <typename T>
T* mut(const py::object& a) { return a.is_none() ? nullptr : static_cast<T*>(py::cast<py::array>(a).mutable_data()); }
template <typename T>
const T* opt(const py::object& a) { return a.is_none() ? nullptr : ptr<T>(py::cast<py::array>(a)); }

// Calls f(T{}) with T the element type of a (float32 or float64; _args.py allows nothing else).
template <class F>
void with_dtype(const py::array& a, F&& f) {
  if (a.dtype().is(py::dtype::of<float>())) f(float{});
  else f(double{});
}

void conv2d_fwd_binding(const py::array& x, const py::array& w, const py::object& b, const py::array& y,
                        const ShapeTuple& t, bool relu, int algorithm, int threads) {
  const ConvShape s = to_shape(t);
  with_dtype(x, [&](auto zero) {
    using T = decltype(zero);
    const T *xp = ptr<T>(x), *wp = ptr<T>(w), *bp = opt<T>(b);
    T* yp = mut<T>(y);
    py::gil_scoped_release release;  // no Python objects below this line
    conv2d_fwd<T>(s, static_cast<Algorithm>(algorithm), threads, xp, wp, bp, relu, yp);
  });
}

void conv2d_bwd_binding(const py::array& gy, const py::array& x, const py::array& w, const py::object& gx,
                        const py::object& gw, const py::object& gb, const ShapeTuple& t, int algorithm, int threads) {
  const ConvShape s = to_shape(t);
  with_dtype(x, [&](auto zero) {
    using T = decltype(zero);
    const T *gyp = ptr<T>(gy), *xp = ptr<T>(x), *wp = ptr<T>(w);
    T *gxp = mut<T>(gx), *gwp = mut<T>(gw), *gbp = mut<T>(gb);
    py::gil_scoped_release release;
    conv2d_bwd<T>(s, static_cast<Algorithm>(algorithm), threads, gyp, xp, wp, gxp, gwp, gbp);
  });
}

// Test only: dst (cols x rows) = src (rows x cols) transposed by the active kernel table; both 2-D, unit stride
// along their rows, any row stride (checked by the caller, tests/test_transpose.py).
void transpose_binding(const py::array& src, const py::array& dst) {
  with_dtype(src, [&](auto zero) {
    using T = decltype(zero);
    const int64_t rows = src.shape(0), cols = src.shape(1);
    const int64_t src_ld = src.strides(0) / int64_t(sizeof(T)), dst_ld = dst.strides(0) / int64_t(sizeof(T));
    const T* sp = ptr<T>(src);
    T* dp = mut<T>(dst);
    py::gil_scoped_release release;
    transpose(sp, rows, cols, src_ld, dp, dst_ld);
  });
}

int omp_max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void omp_set_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#else
  (void)n;
#endif
}

py::dict build_info() {
  py::dict d;
#ifdef _OPENMP
  d["openmp"] = py::int_(_OPENMP);
#else
  d["openmp"] = py::none();
#endif
  d["compiler"] = std::string(__VERSION__);
#ifdef FASTCONV_BUILD_FLAGS
  d["flags"] = std::string(FASTCONV_BUILD_FLAGS);
#endif
  return d;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastconv convolution kernels (C++). Use fastconv.conv2d and friends, not this module.";
  const char* isa = std::getenv("FASTCONV_ISA");
  select_isa(isa ? isa : "");  // throws -> ImportError naming the ISA and those available

  m.def("conv2d_fwd", &conv2d_fwd_binding);
  m.def("conv2d_bwd", &conv2d_bwd_binding);
  m.def("omp_max_threads", &omp_max_threads);
  m.def("omp_set_threads", &omp_set_threads);
  m.def("build_info", &build_info);
  m.def("isa", [] { return std::string(active_kernels().isa); });
  m.def("available_isas", &available_isas);
  m.def("fma_peak", [](int threads, int64_t steps) {
    py::gil_scoped_release release;
    return fma_peak_run(threads, steps);
  }, "Flops executed by `steps` steps of the FMA probe on each of `threads` threads (time it to get GFLOP/s).");
  m.def("_use_isa", &select_isa, "Test only: switch the kernel table (never while kernels run).");
  m.def("_transpose", &transpose_binding, "Test only: dst = src.T by the active kernel table's transpose.");
}
