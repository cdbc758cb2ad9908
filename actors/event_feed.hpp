#pragma once

// The orchestrator's lifecycle events: the latest ones it keeps (a bounded
// ring, each event numbered) and the actors subscribed to them (bounded).
// Plain C++, so that the rules below are unit tests
// (tests/unit_event_feed.cpp):
//   - every recorded event gets the next sequence number, from 1;
//   - at most `keep` events are kept, the oldest dropped first; progress
//     reports are numbered and sent but never kept (a cluster of busy tasks
//     would push every other event out);
//   - at most `max_subscribers` subscribers; one that subscribes again
//     changes its name filter and takes no second place;
//   - a subscriber with an empty filter gets every event, else only those
//     of the task of that name.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "dtask/protocol.hpp"

namespace dtask {

/// Most events an orchestrator keeps.
constexpr size_t events_kept = 1000;

/// Most subscribers of an orchestrator's events.
constexpr size_t max_event_subscribers = 64;

template <class Subscriber>
class event_feed {
public:
  enum class subscription { added, changed, full };

  explicit event_feed(size_t keep = events_kept,
                      size_t max_subscribers = max_event_subscribers)
    : keep_(keep), max_subscribers_(max_subscribers) {
    // nop
  }

  /// Numbers `ev`, keeps it unless it is a progress report, and returns it.
  const task_event& record(task_event ev) {
    ev.seq = ++last_seq_;
    if (ev.kind == event_kind::progress) {
      unkept_ = std::move(ev);
      return unkept_;
    }
    if (kept_.size() == keep_)
      kept_.pop_front();
    kept_.push_back(std::move(ev));
    return kept_.back();
  }

  /// The sequence number of the latest event (0: none yet).
  uint64_t last_seq() const noexcept {
    return last_seq_;
  }

  /// The latest `q.limit` (0: all) kept events above `q.after`, oldest first.
  std::vector<task_event> latest(const event_query& q) const {
    auto first = std::upper_bound(kept_.begin(), kept_.end(), q.after,
                                  [](uint64_t after, const task_event& ev) {
                                    return after < ev.seq;
                                  });
    auto n = static_cast<size_t>(kept_.end() - first);
    if (q.limit > 0 && n > q.limit)
      first += static_cast<std::ptrdiff_t>(n - q.limit);
    return {first, kept_.end()};
  }

  subscription subscribe(Subscriber sub, std::string name) {
    for (auto& s : subscribers_)
      if (s.first == sub) {
        s.second = std::move(name);
        return subscription::changed;
      }
    if (subscribers_.size() >= max_subscribers_)
      return subscription::full;
    subscribers_.emplace_back(std::move(sub), std::move(name));
    return subscription::added;
  }

  /// Drops the subscriber that equals `key` (a handle or an address).
  template <class Key>
  bool unsubscribe(const Key& key) {
    auto i = std::find_if(subscribers_.begin(), subscribers_.end(),
                          [&](const auto& s) { return s.first == key; });
    if (i == subscribers_.end())
      return false;
    subscribers_.erase(i);
    return true;
  }

  size_t subscribers() const noexcept {
    return subscribers_.size();
  }

  /// Calls `f` with each subscriber that wants `ev`.
  template <class F>
  void for_each_subscriber(const task_event& ev, F f) const {
    for (auto& s : subscribers_)
      if (s.second.empty() || s.second == ev.status.name)
        f(s.first);
  }

private:
  size_t keep_;
  size_t max_subscribers_;
  uint64_t last_seq_ = 0;
  std::deque<task_event> kept_;
  /// The latest progress report, returned by `record`.
  task_event unkept_;
  std::vector<std::pair<Subscriber, std::string>> subscribers_;
};

} // namespace dtask
