// Unaligned vector loads and stores for the kernels written with GCC vector extensions (memcpy compiles to one
// vector move). V may also be the element type itself, for the scalar tails of the same templates.
// Internal linkage, as everything compiled once per ISA.
#pragma once
#include <cstdint>
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

// The first n (< lanes) values of v. Out of line of the full stores on purpose: indexing v's lanes in the same
// block would make the compiler keep v in memory for every store, the full ones included.
template <typename V, typename T>
__attribute__((noinline)) void store_first(T* p, V v, int64_t n) {
  T lanes[sizeof(V) / sizeof(T)];
  std::memcpy(lanes, &v, sizeof v);
  std::memcpy(p, lanes, n * sizeof(T));
}

}  // namespace
}  // namespace fastconv
