#pragma once

// The orchestrator's side of (h) in the timing argument (orchestrator.cpp):
// its `lost` verdicts on tasks of fenced nodes go to every voter's registry
// and are told (callbacks) only once a majority of the voters kept them; a
// takeover first reads the verdicts a majority of the voters keep, takes
// over those of the newest orchestrator among them, and has a majority keep
// them as its own before it records any outcome. Plain C++, time passed in.
//
//   read(voter, v):   a voter's answer to a takeover's read; it counts
//                     toward the majority only if `v.complete` (the voter
//                     holds all it kept: its process may be new,
//                     lost_note_store.hpp), and is asked again until it is.
//   adopt():          once a majority answered (and once only): the notes
//                     to take over, every note of the newest epoch answered
//                     (by any voter that answered).
//   open(v, now):     a round of verdicts to send to every voter; its id.
//   kept(id, voter):  a voter kept round `id`; the round's notes if that
//                     made a majority (once, and gone then), else none.
//   due(now):         rounds sent more than `resend` ago and not kept by a
//                     majority yet: send them again (their time restarts).
//   settled():        not a takeover, or its first (complete) round was
//                     kept by a majority: outcomes may be recorded.

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

class verdict_rounds {
public:
  struct round {
    lost_verdicts verdicts;
    std::set<std::string> kept_by;
    clock_type::time_point sent;
  };

  verdict_rounds() = default;

  verdict_rounds(size_t quorum, bool takeover, uint64_t own_epoch)
    : quorum_(quorum), takeover_(takeover), own_epoch_(own_epoch) {
    // nop
  }

  void read(const std::string& voter, lost_verdicts v) {
    if (!takeover_ || adopted_)
      return;
    if (v.complete)
      complete_.insert(voter);
    answers_[voter] = std::move(v);
  }

  /// A takeover that has not adopted yet: it reads the voters.
  bool reading() const noexcept {
    return takeover_ && !adopted_;
  }

  bool answered(const std::string& voter) const {
    return complete_.count(voter) > 0;
  }

  bool ready_to_adopt() const noexcept {
    return takeover_ && !adopted_ && complete_.size() >= quorum_;
  }

  std::vector<lost_note> adopt() {
    adopted_ = true;
    uint64_t newest = 0;
    for (auto& kvp : answers_)
      newest = std::max(newest, kvp.second.orch_epoch);
    std::map<std::pair<std::string, uint64_t>, lost_note> notes;
    for (auto& kvp : answers_)
      if (kvp.second.orch_epoch == newest)
        for (auto& note : kvp.second.notes)
          notes.emplace(std::make_pair(note.status.name, note.status.epoch),
                        note);
    answers_.clear();
    complete_.clear();
    std::vector<lost_note> result;
    for (auto& kvp : notes)
      result.push_back(std::move(kvp.second));
    return result;
  }

  uint64_t open(std::vector<lost_note> notes, bool complete,
                clock_type::time_point now) {
    auto id = ++last_id_;
    auto& r = rounds_[id];
    r.verdicts = lost_verdicts{own_epoch_, std::move(notes), complete};
    r.sent = now;
    if (complete)
      first_round_ = id;
    return id;
  }

  const round* find(uint64_t id) const {
    auto i = rounds_.find(id);
    return i != rounds_.end() ? &i->second : nullptr;
  }

  caf::optional<std::vector<lost_note>> kept(uint64_t id,
                                             const std::string& voter) {
    auto i = rounds_.find(id);
    if (i == rounds_.end())
      return caf::none;
    auto& r = i->second;
    r.kept_by.insert(voter);
    if (r.kept_by.size() < quorum_)
      return caf::none;
    if (id == first_round_)
      settled_ = true;
    auto notes = std::move(r.verdicts.notes);
    rounds_.erase(i);
    return notes;
  }

  std::vector<uint64_t> due(clock_type::time_point now,
                            clock_type::duration resend) {
    return due_ids(rounds_, now, resend);
  }

  bool settled() const noexcept {
    return !takeover_ || settled_;
  }

  /// Starts over as a takeover (a majority came back after a lapse: (g)).
  void restart_takeover() {
    takeover_ = true;
    adopted_ = false;
    settled_ = false;
    first_round_ = 0;
    answers_.clear();
    complete_.clear();
  }

  size_t open_rounds() const noexcept {
    return rounds_.size();
  }

private:
  size_t quorum_ = 1;
  bool takeover_ = false;
  uint64_t own_epoch_ = 0;
  std::map<std::string, lost_verdicts> answers_;
  /// Voters whose answer counts: they hold all they kept.
  std::set<std::string> complete_;
  bool adopted_ = false;
  bool settled_ = false;
  uint64_t first_round_ = 0;
  uint64_t last_id_ = 0;
  std::map<uint64_t, round> rounds_;
};

} // namespace dtask
