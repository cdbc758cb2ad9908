#pragma once

// A node's voting configuration (dtask/voting_config.hpp), shared by its
// actors: the supervisor elects with it, the registry answers orchestrators
// of it, the orchestrator snapshots it when it starts. Thread-safe (the
// actors run on different threads).
//
//   adopt(x):          takes `x` if `may_adopt` says so, writing it to the
//                      state directory first (if the node has one): a node
//                      that acknowledged a configuration still has it after
//                      a restart. A write that fails takes nothing.
//   note_followed(e):  the registry follows an orchestrator of epoch `e` of
//                      the current configuration: the fence of `may_adopt`.
//   set_caught_up(k):  the voter's store merged what a majority of the
//                      voters of configuration `k` keep (registry.cpp): a
//                      voter accepts the next change only then, so that what
//                      the voters keep stays with a majority of each
//                      configuration (orchestrator.cpp (i)).
//   on_change(f):      `f` runs after each adoption (outside the lock).
//   note_epoch(e):     the highest orchestrator epoch this node has seen
//                      (election.hpp `seen_epochs`) is `e` now: kept in the
//                      state directory too, written before it counts, so
//                      that a node that restarts never elects an epoch it
//                      or its peers used (a single voter that restarted
//                      elected its first epoch again while members still
//                      ran tasks of it; `dtask-sim --changes=4`, seed 831).

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dtask/voting_config.hpp"

namespace dtask {

/// The membership file in `dir`.
std::string membership_file(const std::string& dir);

/// Writes `x` to `membership_file(dir)` atomically: a temporary file,
/// written and synced, renamed over the old one, the directory synced.
/// Empty on success, else the problem.
std::string write_membership(const std::string& dir, const voting_config& x);

/// The file of the highest orchestrator epoch seen, in `dir`.
std::string epoch_file(const std::string& dir);

/// Writes `text` to `path` atomically (as `write_membership`).
std::string write_atomically(const std::string& dir, const std::string& path,
                             const std::string& text);

/// Reads `membership_file(dir)` into `out`. `found` tells whether the file
/// exists. Empty on success (or if it does not exist), else the problem.
std::string read_membership(const std::string& dir, voting_config& out,
                            bool& found);

class config_cell {
public:
  config_cell(voting_config initial, std::string state_dir)
    : current_(std::make_shared<const voting_config>(std::move(initial))),
      state_dir_(std::move(state_dir)) {
    // nop
  }

  std::shared_ptr<const voting_config> current() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return current_;
  }

  /// See the file comment. True if `x` is the current configuration now
  /// (taken, or it was already); `error` gets why a write failed.
  bool adopt(const voting_config& x, std::string* error = nullptr) {
    std::function<void()> notify;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (x == *current_)
        return true;
      if (!current_->may_adopt(x, fence_))
        return false;
      if (!state_dir_.empty()) {
        auto err = write_membership(state_dir_, x);
        if (!err.empty()) {
          if (error != nullptr)
            *error = err;
          return false;
        }
      }
      current_ = std::make_shared<const voting_config>(x);
      fence_ = 0;
      notify = on_change_;
    }
    if (notify)
      notify();
    return true;
  }

  void note_followed(uint64_t orch_epoch) {
    std::lock_guard<std::mutex> guard{mtx_};
    fence_ = std::max(fence_, orch_epoch);
  }

  uint64_t seen_epoch() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return seen_epoch_;
  }

  /// False (with the problem in `error`) if `e` could not be kept.
  bool note_epoch(uint64_t e, std::string* error = nullptr) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (e <= seen_epoch_)
      return true;
    if (!state_dir_.empty()) {
      auto err = write_atomically(state_dir_, epoch_file(state_dir_),
                                  std::to_string(e) + "\n");
      if (!err.empty()) {
        if (error != nullptr)
          *error = err;
        return false;
      }
    }
    seen_epoch_ = e;
    return true;
  }

  void set_caught_up(uint64_t config_epoch) {
    std::lock_guard<std::mutex> guard{mtx_};
    caught_up_ = config_epoch;
    has_caught_up_ = true;
  }

  /// True if this node's store caught up for the current configuration.
  bool caught_up() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return has_caught_up_ && caught_up_ == current_->epoch;
  }

  void on_change(std::function<void()> f) {
    std::lock_guard<std::mutex> guard{mtx_};
    on_change_ = std::move(f);
  }

  const std::string& state_dir() const noexcept {
    return state_dir_;
  }

private:
  mutable std::mutex mtx_;
  std::shared_ptr<const voting_config> current_;
  std::string state_dir_;
  uint64_t fence_ = 0;
  uint64_t caught_up_ = 0;
  uint64_t seen_epoch_ = 0;
  bool has_caught_up_ = false;
  std::function<void()> on_change_;
};

using config_cell_ptr = std::shared_ptr<config_cell>;

/// A node's configuration at start: the membership file of `state_dir`, if
/// there is one, else `seeds`. Empty on success, else the problem (a file
/// that cannot be read or parsed: the node does not start on a guess).
std::string make_voting(const std::vector<std::string>& seeds,
                        const std::string& state_dir, config_cell_ptr& out);

} // namespace dtask
