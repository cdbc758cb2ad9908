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
//   read(reader, now): the kept set with its orchestrator's epoch (and
//                  `complete(now)`);
//                  from now on no orchestrator older than `reader` writes
//                  here (what the reader read stays all an older one had
//                  kept here: a verdict told later was kept by a majority
//                  without this voter).
//   expire(now):   notes kept for longer than the TTL are forgotten (the
//                  orchestrators forget finished tasks after it too).
//   keep_ends(v, now): outcomes (`done`, `failed`, `cancelled`) an
//                  orchestrator recorded, told once a majority keeps them;
//                  refused from an orchestrator older than a reader or than
//                  the kept verdicts' (as `keep`). Kept apart from the
//                  verdicts and never dropped for a newer orchestrator: the
//                  union of every orchestrator's, for the TTL, so that a
//                  takeover need not read them all or keep them again.
//   read_ends(reader, keys): the outcomes kept of these tasks, and of later
//                  incarnations of their names (a retry of the same start
//                  may have run as one), read before a fence declares them
//                  `lost`; from now on no orchestrator older than `reader`
//                  writes here (as `read`).
//   complete(now): whether what is kept here includes everything a
//                  majority kept that this voter was part of. A voter keeps
//                  no disk: one whose process is new forgot what its
//                  previous life kept. It is complete once it merged what a
//                  majority of the other voters keep (`merge`, only from
//                  complete ones), once the TTL passed since it began
//                  (everything kept before is forgotten everywhere), or at
//                  the cluster's first round (`mark_complete`: every voter
//                  is new, nothing was kept). Reads say it (`complete` of
//                  the answer); an answer that is not complete does not
//                  count toward a reader's majority.
//   dump(now):     everything kept, for a voter that catches up (nothing
//                  while not complete itself: it would not count).
//   merged(peer):  whether a complete dump of `peer` was merged (since the
//                  last `begin_transfer`).
//   begin_transfer(now): the voting configuration changed
//                  (orchestrator.cpp (i)): what is kept here must come to
//                  hold what a majority of the new voters keep.
//                  `transferred(quorum, now)` once this store is complete
//                  and, with the complete dumps of other voters merged
//                  since, holds what a majority keeps (or the TTL passed
//                  since). A voter accepts the next change only then.
// At most `max` notes and `max` outcomes: the oldest go first.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "actors.hpp"
#include "dtask/protocol.hpp"

namespace dtask {

class lost_note_store {
public:
  lost_note_store(std::chrono::milliseconds ttl = std::chrono::seconds(60),
                  size_t max = 1000000,
                  clock_type::time_point began = clock_type::time_point{})
    : ttl_(ttl), max_(max), began_(began) {
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
    add(notes_, order_, v.notes, now);
    return true;
  }

  bool keep_ends(lost_verdicts& v, clock_type::time_point now) {
    if (v.orch_epoch < epoch_ || v.orch_epoch < promised_)
      return false;
    add(ends_, ends_order_, v.notes, now);
    return true;
  }

  lost_verdicts read_ends(uint64_t reader, const std::vector<task_key>& keys,
                          clock_type::time_point now) {
    promised_ = std::max(promised_, reader);
    lost_verdicts result;
    result.orch_epoch = reader;
    result.complete = complete(now);
    for (auto& key : keys)
      for (auto i = ends_.lower_bound(std::make_pair(key.name, key.epoch));
           i != ends_.end() && i->first.first == key.name; ++i)
        result.notes.push_back(i->second);
    return result;
  }

  bool complete(clock_type::time_point now) const {
    return complete_ || now >= began_ + ttl_;
  }

  void mark_complete() {
    complete_ = true;
  }

  voter_dump dump(clock_type::time_point now) const {
    voter_dump result;
    result.ends.complete = complete(now);
    result.verdicts.complete = result.ends.complete;
    if (!result.ends.complete)
      return result;
    for (auto& kvp : ends_)
      result.ends.notes.push_back(kvp.second);
    result.verdicts.orch_epoch = epoch_;
    for (auto& kvp : notes_)
      result.verdicts.notes.push_back(kvp.second);
    return result;
  }

  /// Merges what voter `peer` keeps (answering `dump`): every outcome, and
  /// the verdicts if of a newer orchestrator (or the same); complete once
  /// `quorum` complete voters other than this one were merged.
  void merge(const std::string& peer, voter_dump& d, size_t quorum,
             clock_type::time_point now) {
    add(ends_, ends_order_, d.ends.notes, now);
    if (d.verdicts.orch_epoch >= epoch_) {
      d.verdicts.complete = false;
      auto promised = promised_;
      promised_ = 0; // Kept before: not a write of that orchestrator now.
      keep(d.verdicts, now);
      promised_ = promised;
    }
    if (!d.ends.complete)
      return;
    merged_from_.insert(peer);
    if (merged_from_.size() >= quorum)
      complete_ = true;
    transfer_from_.insert(peer);
  }

  bool merged(const std::string& peer) const {
    return merged_from_.count(peer) > 0 && transfer_from_.count(peer) > 0;
  }

  void begin_transfer(clock_type::time_point now) {
    transfer_from_.clear();
    transfer_began_ = now;
  }

  /// This store, complete, counts as one of the `quorum` voters.
  bool transferred(size_t quorum, clock_type::time_point now) const {
    return complete(now)
           && (transfer_from_.size() + 1 >= quorum
               || now >= transfer_began_ + ttl_);
  }

  lost_verdicts read(uint64_t reader, clock_type::time_point now) {
    promised_ = std::max(promised_, reader);
    lost_verdicts result;
    result.orch_epoch = epoch_;
    result.complete = complete(now);
    for (auto& kvp : notes_)
      result.notes.push_back(kvp.second);
    return result;
  }

  void expire(clock_type::time_point now) {
    expire(notes_, order_, now);
    expire(ends_, ends_order_, now);
  }

  size_t size() const noexcept {
    return notes_.size();
  }

  size_t ends() const noexcept {
    return ends_.size();
  }

private:
  using key_type = std::pair<std::string, uint64_t>;
  using note_map = std::map<key_type, lost_note>;
  using age_list = std::deque<std::pair<clock_type::time_point, key_type>>;

  void expire(note_map& notes, age_list& order, clock_type::time_point now) {
    while (!order.empty() && order.front().first + ttl_ <= now)
      pop_oldest(notes, order);
  }

  /// Keeps `added` (a note kept already stays as it was), at most `max_`.
  void add(note_map& notes, age_list& order, std::vector<lost_note>& added,
           clock_type::time_point now) {
    for (auto& note : added) {
      auto key = std::make_pair(note.status.name, note.status.epoch);
      if (notes.emplace(key, std::move(note)).second)
        order.emplace_back(now, std::move(key));
    }
    while (notes.size() > max_)
      pop_oldest(notes, order);
  }

  static void pop_oldest(note_map& notes, age_list& order) {
    notes.erase(order.front().second);
    order.pop_front();
  }

  std::chrono::milliseconds ttl_;
  size_t max_;
  clock_type::time_point began_;
  bool complete_ = false;
  std::set<std::string> merged_from_;
  /// Whose complete dumps were merged since `begin_transfer`.
  std::set<std::string> transfer_from_;
  clock_type::time_point transfer_began_;
  uint64_t epoch_ = 0;
  uint64_t promised_ = 0;
  note_map notes_;
  age_list order_;
  note_map ends_;
  age_list ends_order_;
};

} // namespace dtask
