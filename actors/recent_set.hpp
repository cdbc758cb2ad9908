#pragma once

// A set that keeps at most its `capacity` newest elements: for what an
// actor must remember from its peers without growing without bound.

#include <cstddef>
#include <deque>
#include <set>

namespace dtask {

template <class T>
class recent_set {
public:
  explicit recent_set(size_t capacity) : capacity_(capacity) {
    // nop
  }

  /// Adds `x` (if new), forgetting the oldest element beyond the capacity.
  void insert(const T& x) {
    if (!items_.insert(x).second)
      return;
    order_.push_back(x);
    if (order_.size() > capacity_) {
      items_.erase(order_.front());
      order_.pop_front();
    }
  }

  bool contains(const T& x) const {
    return items_.count(x) > 0;
  }

  size_t size() const noexcept {
    return items_.size();
  }

private:
  size_t capacity_;
  std::set<T> items_;
  std::deque<T> order_;
};

} // namespace dtask
