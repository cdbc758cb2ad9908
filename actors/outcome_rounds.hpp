#pragma once

// The orchestrator's side of outcomes kept by a majority ((h) in the timing
// argument, orchestrator.cpp): a task's `done`, `failed` or `cancelled` is
// recorded at once, but its callback is told, and its registry's report
// acknowledged, only once a majority of the voters keeps it. Outcomes
// recorded between two flushes travel as one round. Plain C++, time passed
// in; `Told` is what waits for the round (the callback, the status told,
// the registry to acknowledge).
//
//   add(note, told):      an outcome recorded; `told` waits for its round.
//   pending(name, epoch): added and not kept by a majority yet (its report,
//                         sent again meanwhile, is not acknowledged).
//   flush(now):           a round of what was added since the last flush;
//                         its id, 0 if nothing was.
//   kept(id, voter):      a voter kept round `id`; once that made a majority
//                         (once): what the round's outcomes waited for.
//   due(now, resend):     rounds not kept in time: send them again.

#include <chrono>
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "verdict_rounds.hpp"

namespace dtask {

template <class Told>
class outcome_rounds {
public:
  outcome_rounds() = default;

  outcome_rounds(size_t quorum, uint64_t own_epoch)
    : rounds_(quorum, false, own_epoch) {
    // nop
  }

  void add(lost_note note, Told told) {
    pending_.emplace(note.status.name, note.status.epoch);
    notes_.push_back(std::move(note));
    told_.push_back(std::move(told));
  }

  /// Outcomes added since the last flush.
  size_t waiting() const noexcept {
    return notes_.size();
  }

  bool pending(const std::string& name, uint64_t epoch) const {
    return pending_.count(std::make_pair(name, epoch)) > 0;
  }

  uint64_t flush(clock_type::time_point now) {
    if (notes_.empty())
      return 0;
    auto id = rounds_.open(std::move(notes_), false, now);
    notes_.clear();
    waiting_[id] = std::move(told_);
    told_.clear();
    return id;
  }

  const verdict_rounds::round* find(uint64_t id) const {
    return rounds_.find(id);
  }

  std::vector<Told> kept(uint64_t id, const std::string& voter) {
    auto notes = rounds_.kept(id, voter);
    if (!notes)
      return {};
    for (auto& n : *notes)
      pending_.erase(std::make_pair(n.status.name, n.status.epoch));
    auto i = waiting_.find(id);
    auto result = std::move(i->second);
    waiting_.erase(i);
    return result;
  }

  std::vector<uint64_t> due(clock_type::time_point now,
                            clock_type::duration resend) {
    return rounds_.due(now, resend);
  }

  size_t open_rounds() const noexcept {
    return rounds_.open_rounds();
  }

private:
  verdict_rounds rounds_;
  std::vector<lost_note> notes_;
  std::vector<Told> told_;
  std::map<uint64_t, std::vector<Told>> waiting_;
  std::set<std::pair<std::string, uint64_t>> pending_;
};

} // namespace dtask
