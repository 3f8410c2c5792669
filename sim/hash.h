// Counter-based hashing for seeded, order-independent draws (ECMP choice, router affinities,
// context lengths): splitmix64's finaliser, a bijective avalanche mix, so distinct counters give
// unrelated bits.
#pragma once

#include <cstdint>

namespace mlasim {

inline constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ULL;  // 2^64 / golden ratio

inline constexpr uint64_t mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// One full splitmix64 step: the Weyl increment, then the finaliser.
inline constexpr uint64_t splitmix64(uint64_t x) {
  return mix64(x + kGoldenGamma);
}

}  // namespace mlasim
