#pragma once

// Spawn orders a registry cannot run yet, in one queue that records why each
// waits. Plain C++; the promise type is a parameter (the registry's answers
// the caller; tests use anything).
//
//   lease:           the node holds no lease; waits until `deadline`, then
//                    the order is refused (a node that just joined or
//                    synced gets its first grant within a round trip);
//   stopping_worker: a killed worker of the same name may still exist; runs
//                    once that worker is gone (one instance per node);
//   mirror_promise:  the registry promised an old mirror to start nothing
//                    unmirrored there; runs once the promise ran out.
//
// `take(why, ready)` removes and returns, in arrival order, the orders
// parked for `why` that `ready` accepts; the caller runs them again (an
// order may park again, for the same or another reason).

#include <cstdint>
#include <utility>
#include <vector>

#include "dtask/protocol.hpp"
#include "dtask/task_table.hpp"

namespace dtask {

enum class wait_reason : uint8_t { lease, stopping_worker, mirror_promise };

template <class Promise>
class parked_orders {
public:
  struct parked {
    spawn_order order;
    Promise promise;
    wait_reason reason;
    clock_type::time_point deadline;
  };

  void park(spawn_order order, Promise promise, wait_reason why,
            clock_type::time_point deadline = {}) {
    orders_.push_back(
      parked{std::move(order), std::move(promise), why, deadline});
  }

  template <class Ready>
  std::vector<parked> take(wait_reason why, Ready ready) {
    std::vector<parked> result;
    std::vector<parked> keep;
    for (auto& p : orders_)
      (p.reason == why && ready(p) ? result : keep).push_back(std::move(p));
    orders_ = std::move(keep);
    return result;
  }

  size_t size() const noexcept {
    return orders_.size();
  }

  size_t count(wait_reason why) const {
    size_t n = 0;
    for (auto& p : orders_)
      if (p.reason == why)
        ++n;
    return n;
  }

private:
  std::vector<parked> orders_;
};

} // namespace dtask
