// The pipeline's executor on the host (pipeline.h): each stage's indices in one loop,
// in order, or in a shuffled order. A stage whose result depends on the order in which
// its indices run reads what another index writes, which on a GPU is a race; the tests
// run every input in both orders and compare every buffer.
#pragma once

#include <algorithm>
#include <numeric>
#include <optional>
#include <random>
#include <vector>

#include "pipeline.h"

namespace jaxbpe {

class HostExecutor {
 public:
  explicit HostExecutor(std::optional<uint64_t> order_seed = std::nullopt) {
    if (order_seed) shuffle_.emplace(*order_seed);
  }

  template <typename F>
  void for_each(int64_t n, const F& f) {
    if (!shuffle_) {
      for (int64_t i = 0; i < n; ++i) f(i);
      return;
    }
    order_.resize(size_t(n));
    std::iota(order_.begin(), order_.end(), int64_t(0));
    std::shuffle(order_.begin(), order_.end(), *shuffle_);
    for (const int64_t i : order_) f(i);
  }

  void exclusive_sum(const int64_t* in, int64_t* out, int64_t n, void*) {
    std::exclusive_scan(in, in + n, out, int64_t(0));
  }

  template <typename Op>
  void inclusive_scan(const int64_t* in, int64_t* out, int64_t n, Op op, void*) {
    std::inclusive_scan(in, in + n, out, op);
  }

 private:
  std::optional<std::mt19937_64> shuffle_;
  std::vector<int64_t> order_;
};

}  // namespace jaxbpe
