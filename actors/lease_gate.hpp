#pragma once

// The lease gate of a registry: until when its node's workers may run task
// code, granted by the orchestrator it follows (the timing argument (b) in
// orchestrator.cpp). Plain C++, time passed in; tests/unit_registry_parts.cpp
// covers every rule.
//
//   grant(sent, gen): valid until max(until, sent + L); never shrinks.
//   valid(now):       now < until.
//   cut():            the lease ran out and the registry stopped its workers:
//                     workers spawned before the cut never run again, even
//                     under a later grant (lease_clock::cuts).
//   node_gen:         the orchestrator's fence count for this node in its
//                     latest grant; reset when following a new orchestrator.

#include <algorithm>
#include <cstdint>
#include <memory>

#include "actors.hpp"

namespace dtask {

class lease_gate {
public:
  lease_gate() : published_(std::make_shared<lease_clock>()) {
    // nop
  }

  explicit lease_gate(node_clock clock) : lease_gate() {
    published_->clock = clock;
  }

  bool valid(clock_type::time_point now) const noexcept {
    return now < until_;
  }

  clock_type::time_point until() const noexcept {
    return until_;
  }

  /// A grant for the request this registry sent at `sent` (its own clock).
  void grant(clock_type::time_point sent, uint64_t node_gen) {
    until_ = std::max(until_, sent + lease_duration);
    published_->extend(until_);
    node_gen_ = std::max(node_gen_, node_gen);
  }

  void follow_new_orchestrator() noexcept {
    node_gen_ = 0;
  }

  uint64_t node_gen() const noexcept {
    return node_gen_;
  }

  void cut() noexcept {
    published_->cut();
  }

  /// What the workers read (they check it before each message).
  const std::shared_ptr<lease_clock>& published() const noexcept {
    return published_;
  }

private:
  clock_type::time_point until_;
  uint64_t node_gen_ = 0;
  std::shared_ptr<lease_clock> published_;
};

} // namespace dtask
