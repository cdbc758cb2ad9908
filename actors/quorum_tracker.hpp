#pragma once

// An orchestrator's majority and the time windows of the timing argument
// (orchestrator.cpp, (a), (c) and (d)). Plain C++, time passed in;
// tests/unit_orchestrator_parts.cpp covers every rule.
//
//   ack(voter, sent, now): voter answered the ping sent at `sent`; the
//       majority holds until the k-th latest answered send time + L (k a
//       strict majority of the voters); T (`first`) is when it first held,
//       or when it held again after it had lapsed: a newer orchestrator
//       may have held one meanwhile, so from then on this one is a
//       takeover ((d)) with that T.
//   outcomes_open(now): a majority, and for a takeover only from T + L + M
//       (the previous orchestrator surely stopped recording outcomes).
//   fence_time(r): the earliest moment the tasks of a node dropped at r are
//       surely stopped: r + L + M, and for a takeover not before T + 2L + M.
//   leases_end(): T + 2L + M, when every lease the previous orchestrator
//       granted surely ended.
//   silent(voters, now): the voters that answered no ping sent within L.
//   confirmed(): the send time of the latest ping a majority answered.

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <caf/optional.hpp>

#include "actors.hpp"
#include "mutations.hpp"

namespace dtask {

class quorum_tracker {
public:
  quorum_tracker() = default;

  /// `quorum`: voters that form a strict majority. `takeover`: false only
  /// for the first orchestrator the nodes know of.
  quorum_tracker(size_t quorum, bool takeover)
    : quorum_(quorum), takeover_(takeover) {
    // nop
  }

  /// Returns true if the majority was reached with this answer, for the
  /// first time or again after a lapse.
  bool ack(const std::string& voter, clock_type::time_point sent,
           clock_type::time_point now) {
    auto held = holds(now);
    auto& t = acks_[voter];
    t = std::max(t, sent);
    if (acks_.size() < quorum_ || quorum_ == 0)
      return false;
    std::vector<clock_type::time_point> times;
    for (auto& kvp : acks_)
      times.push_back(kvp.second);
    std::sort(times.begin(), times.end(), std::greater<>{});
    until_ = std::max(until_, times[quorum_ - 1] + lease_duration);
    if (held || !holds(now))
      return false;
    if (first_) {
      if (mutated(mutation::regain_without_takeover))
        return false;
      takeover_ = true;
    }
    first_ = now;
    return true;
  }

  /// The send time of the latest ping that a majority answered (each voter
  /// of it answered that ping or a later one); the epoch of the clock if no
  /// majority answered yet.
  clock_type::time_point confirmed() const {
    if (acks_.size() < quorum_ || quorum_ == 0)
      return clock_type::time_point{};
    std::vector<clock_type::time_point> times;
    for (auto& kvp : acks_)
      times.push_back(kvp.second);
    std::nth_element(times.begin(), times.begin() + (quorum_ - 1), times.end(),
                     std::greater<>{});
    return times[quorum_ - 1];
  }

  /// The voters of `voters` that answered no ping sent within the last L:
  /// they may follow another orchestrator now.
  std::vector<std::string> silent(const std::vector<std::string>& voters,
                                  clock_type::time_point now) const {
    std::vector<std::string> result;
    for (auto& v : voters) {
      auto i = acks_.find(v);
      if (i == acks_.end() || i->second + lease_duration <= now)
        result.push_back(v);
    }
    return result;
  }

  /// A voter is no longer a member: its answers no longer count.
  void forget(const std::string& voter) {
    acks_.erase(voter);
  }

  bool holds(clock_type::time_point now) const noexcept {
    return now < until_;
  }

  bool takeover() const noexcept {
    return takeover_;
  }

  /// T: when the majority first held (unset before).
  const caf::optional<clock_type::time_point>& first() const noexcept {
    return first_;
  }

  bool outcomes_open(clock_type::time_point now) const {
    if (!holds(now))
      return false;
    return !takeover_ || now >= *first_ + lease_duration + lease_margin;
  }

  /// Requires `first()`.
  clock_type::time_point fence_time(clock_type::time_point dropped) const {
    if (mutated(mutation::lost_before_lease_end))
      return dropped + lease_margin;
    auto t = dropped + lease_duration;
    if (takeover_)
      t = std::max(t, *first_ + 2 * lease_duration);
    return t + lease_margin;
  }

  /// Requires `first()`.
  clock_type::time_point leases_end() const {
    return *first_ + 2 * lease_duration + lease_margin;
  }

private:
  size_t quorum_ = 1;
  bool takeover_ = false;
  std::map<std::string, clock_type::time_point> acks_;
  clock_type::time_point until_;
  caf::optional<clock_type::time_point> first_;
};

/// Whether a new orchestrator can account for every node the previous one
/// may have granted a lease to ((d) in the timing argument): each required
/// node answered its sync, or is an origin whose mirror promise to this
/// node's registry holds; `until` is the earliest promise relied on. Without
/// mirrored member lists it knows of no previous orchestrator's members and
/// counts as not covered.
struct coverage {
  bool covered = false;
  clock_type::time_point until = clock_type::time_point::max();

  static coverage
  decide(bool have_lists, const std::set<std::string>& required,
         const std::set<std::string>& synced,
         const std::map<std::string, clock_type::time_point>& promises) {
    coverage result;
    result.covered = have_lists;
    for (auto& node : required) {
      if (synced.count(node) > 0)
        continue;
      auto p = promises.find(node);
      if (p == promises.end())
        result.covered = false;
      else
        result.until = std::min(result.until, p->second);
    }
    return result;
  }

  /// Covered for starts at any time, given when the old leases end.
  bool holds_past(clock_type::time_point leases_end) const {
    return covered && leases_end <= until;
  }
};

} // namespace dtask
