#pragma once

// What a voter's registry keeps of the orchestrators' `lost` verdicts ((h)
// in the timing argument, orchestrator.cpp): the verdicts of one
// orchestrator, the newest that wrote here. Plain C++, time passed in.
//
//   keep(v, now):  v from an older orchestrator than the kept set's, or than
//                  a reader this store answered: refused (false). From a
//                  newer one: the kept set is dropped first (the newer
//                  one's verdicts include every verdict of the older ones
//                  that a majority kept). Then v's notes are kept.
//   read(reader):  the kept set, `complete`, with its orchestrator's epoch;
//                  from now on no orchestrator older than `reader` writes
//                  here (what the reader read stays all an older one had
//                  kept here: a verdict told later was kept by a majority
//                  without this voter).
//   expire(now):   notes kept for longer than the TTL are forgotten (the
//                  orchestrators forget finished tasks after it too).
// At most `max` notes: the oldest go first.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <utility>

#include "actors.hpp"
#include "dtask/protocol.hpp"

namespace dtask {

class lost_note_store {
public:
  lost_note_store(std::chrono::milliseconds ttl = std::chrono::seconds(60),
                  size_t max = 1000000)
    : ttl_(ttl), max_(max) {
    // nop
  }

  bool keep(lost_verdicts& v, clock_type::time_point now) {
    if (v.orch_epoch < epoch_ || v.orch_epoch < promised_)
      return false;
    if (v.orch_epoch > epoch_) {
      notes_.clear();
      order_.clear();
      epoch_ = v.orch_epoch;
    }
    for (auto& note : v.notes) {
      auto key = std::make_pair(note.status.name, note.status.epoch);
      if (notes_.emplace(key, std::move(note)).second)
        order_.emplace_back(now, std::move(key));
    }
    while (notes_.size() > max_)
      pop_oldest();
    return true;
  }

  lost_verdicts read(uint64_t reader) {
    promised_ = std::max(promised_, reader);
    lost_verdicts result;
    result.orch_epoch = epoch_;
    result.complete = true;
    for (auto& kvp : notes_)
      result.notes.push_back(kvp.second);
    return result;
  }

  void expire(clock_type::time_point now) {
    while (!order_.empty() && order_.front().first + ttl_ <= now)
      pop_oldest();
  }

  size_t size() const noexcept {
    return notes_.size();
  }

private:
  void pop_oldest() {
    notes_.erase(order_.front().second);
    order_.pop_front();
  }

  std::chrono::milliseconds ttl_;
  size_t max_;
  uint64_t epoch_ = 0;
  uint64_t promised_ = 0;
  std::map<std::pair<std::string, uint64_t>, lost_note> notes_;
  std::deque<std::pair<clock_type::time_point,
                       std::pair<std::string, uint64_t>>> order_;
};

} // namespace dtask
