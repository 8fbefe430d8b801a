// Unaligned vector loads and stores for the kernels written with GCC vector extensions (memcpy compiles to one
// vector move). V may also be the element type itself, for the scalar tails of the same templates.
// Internal linkage, as everything compiled once per ISA.
#pragma once
#include <cstring>

namespace fastconv {
namespace {

template <typename V, typename T>
inline V load_vec(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename V, typename T>
inline void store_vec(T* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}

}  // namespace
}  // namespace fastconv
