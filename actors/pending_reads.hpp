#pragma once

// Status requests for names an orchestrator does not know, waiting until a
// majority of the voters confirmed that they still follow it (a read
// index, as Raft's leaders confirm before they answer a read). Without it,
// an orchestrator that a newer one replaced moments ago, and that does not
// know it yet, answered `not_found` for a name the newer one had started
// (the simulation found it; the old one's majority lasts until up to L
// after the new one holds its own). Plain C++, time passed in; the promise
// type is a parameter so that tests can use plain values.
//
//   add(name, arrived, promise): waits; false when `max` reads wait already.
//   settle(confirmed, f):        f(name, promise) for every read that arrived
//                                no later than `confirmed` (the send time of
//                                the latest ping a majority answered).
//   expire(before, f):           f(name, promise) for every read that
//                                arrived no later than `before`: no majority
//                                confirmed in time.

#include <cstddef>
#include <deque>
#include <string>
#include <utility>

#include "actors.hpp"

namespace dtask {

template <class Promise>
class pending_reads {
public:
  explicit pending_reads(size_t max) : max_(max) {
    // nop
  }

  bool add(std::string name, clock_type::time_point arrived, Promise p) {
    if (reads_.size() >= max_)
      return false;
    reads_.push_back(read{std::move(name), arrived, std::move(p)});
    return true;
  }

  /// Reads arrive in time order, so the ones to settle are a prefix.
  template <class F>
  void settle(clock_type::time_point confirmed, F f) {
    while (!reads_.empty() && reads_.front().arrived <= confirmed) {
      auto r = std::move(reads_.front());
      reads_.pop_front();
      f(r.name, r.promise);
    }
  }

  template <class F>
  void expire(clock_type::time_point before, F f) {
    settle(before, std::move(f));
  }

  size_t size() const noexcept {
    return reads_.size();
  }

  bool empty() const noexcept {
    return reads_.empty();
  }

private:
  struct read {
    std::string name;
    clock_type::time_point arrived;
    Promise promise;
  };
  std::deque<read> reads_;
  size_t max_;
};

} // namespace dtask
