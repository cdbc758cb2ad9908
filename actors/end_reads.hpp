#pragma once

// Before a fence declares a node's tasks `lost` (or restarts them), the
// orchestrator reads what a majority of the voters keep of their outcomes
// ((h) in the timing argument, orchestrator.cpp): an outcome a majority
// kept may have been told, and then the task ended so, whatever a stale
// mirror says. Each voter read refuses outcomes of older orchestrators
// from then on. Plain C++, time passed in.
//
//   open(keys, now):            a read of these tasks; its id.
//   answer(id, voter, complete, found): a voter's answer; it counts toward
//                               the majority only if the voter's outcomes
//                               are complete (its process may be new:
//                               lost_note_store.hpp); once that made a
//                               majority (once, and gone then): the read's
//                               keys and every outcome any answer held.
//   due(now, resend):           reads not answered by a majority in time:
//                               send them again (their time restarts).
//   find(id):                   the read, while open.
//   cancel(id):                 the read is given up.

#include <chrono>
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/optional.hpp>

#include "actors.hpp"
#include "due_ids.hpp"
#include "dtask/protocol.hpp"

namespace dtask {

class end_reads {
public:
  struct read {
    std::vector<task_key> keys;
    std::set<std::string> answered;
    std::map<std::pair<std::string, uint64_t>, lost_note> found;
    clock_type::time_point sent;
  };

  struct result {
    std::vector<task_key> keys;
    std::vector<lost_note> found;
  };

  end_reads() = default;

  explicit end_reads(size_t quorum) : quorum_(quorum) {
    // nop
  }

  uint64_t open(std::vector<task_key> keys, clock_type::time_point now) {
    auto id = ++last_id_;
    auto& r = reads_[id];
    r.keys = std::move(keys);
    r.sent = now;
    return id;
  }

  const read* find(uint64_t id) const {
    auto i = reads_.find(id);
    return i != reads_.end() ? &i->second : nullptr;
  }

  caf::optional<result> answer(uint64_t id, const std::string& voter,
                               bool complete, std::vector<lost_note> found) {
    auto i = reads_.find(id);
    if (i == reads_.end())
      return caf::none;
    auto& r = i->second;
    if (complete)
      r.answered.insert(voter);
    for (auto& note : found)
      r.found.emplace(std::make_pair(note.status.name, note.status.epoch),
                      std::move(note));
    if (r.answered.size() < quorum_)
      return caf::none;
    result res;
    res.keys = std::move(r.keys);
    for (auto& kvp : r.found)
      res.found.push_back(std::move(kvp.second));
    reads_.erase(i);
    return res;
  }

  std::vector<uint64_t> due(clock_type::time_point now,
                            clock_type::duration resend) {
    return due_ids(reads_, now, resend);
  }

  void cancel(uint64_t id) {
    reads_.erase(id);
  }

  size_t open_reads() const noexcept {
    return reads_.size();
  }

private:
  size_t quorum_ = 1;
  uint64_t last_id_ = 0;
  std::map<uint64_t, read> reads_;
};

} // namespace dtask
