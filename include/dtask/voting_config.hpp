#pragma once

// The cluster's voting configuration: which nodes vote, since which change,
// and how a change may follow another. Plain C++ (no actor, no clock); the
// node's `config_cell` (actors/config_cell.hpp) holds one and persists it,
// the orchestrator proposes the next one (`dtask members add|remove`).
// Tested in tests/unit_voting_config.cpp.
//
//   initial(seeds):     epoch 0, the `seeds` list; each voter's slot (the low
//                       byte of the orchestrator epochs it starts) is its
//                       index in the sorted list, as before changes existed.
//   with_added(n, by):  the next configuration: one voter more (a slot no
//                       current voter holds). `by` is the epoch of the
//                       orchestrator that proposes it.
//   with_removed(n, by): the next configuration: one voter less.
//   newer(x, y):        configurations are ordered by (epoch, by): two
//                       proposals of the same epoch (one by an orchestrator
//                       that died before a majority took it) are told apart
//                       by their proposers, and the later proposer wins.
//   may_adopt(x, fence): whether a node at `*this`, whose registry followed
//                       an orchestrator of epoch `fence` at this
//                       configuration, takes `x`: only a newer one, and not
//                       the next epoch proposed by an orchestrator older
//                       than `fence` (a proposal a newer orchestrator of this
//                       configuration superseded: adopting it could let its
//                       voters and the newer one's form two majorities of
//                       configurations two changes apart).
//
// One change at a time, one voter at a time: any majority of a
// configuration and any majority of the next one share a voter (Raft's
// single-server rule), so the timing argument (orchestrator.cpp (i)) holds
// across a change as it does across a takeover.

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace dtask {

/// Most voters in a configuration (orchestrator epochs keep a voter's slot
/// in their low byte; slot 255 is never given).
constexpr size_t max_voters = 255;

/// A voter and its slot.
struct voter_slot {
  std::string node;
  uint8_t slot = 0;

  friend bool operator==(const voter_slot& x, const voter_slot& y) {
    return x.node == y.node && x.slot == y.slot;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, voter_slot& x) {
  return f(caf::meta::type_name("dtask.voter_slot"), x.node, x.slot);
}

/// See the file comment.
struct voting_config {
  /// 0 for the `seeds` list; each committed change adds one.
  uint64_t epoch = 0;
  /// The orchestrator epoch that proposed it (0 for the seeds).
  uint64_t by = 0;
  /// Sorted by node name.
  std::vector<voter_slot> voters;
  /// The slot the next added voter gets (if free).
  uint8_t next_slot = 0;

  /// The configuration of a cluster whose `seeds` are `names`.
  static voting_config initial(std::vector<std::string> names) {
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    voting_config result;
    for (auto& name : names)
      result.voters.push_back(
        voter_slot{std::move(name), static_cast<uint8_t>(result.voters.size())});
    result.next_slot = static_cast<uint8_t>(result.voters.size());
    return result;
  }

  std::vector<std::string> names() const {
    std::vector<std::string> result;
    for (auto& v : voters)
      result.push_back(v.node);
    return result;
  }

  const voter_slot* find(const std::string& node) const {
    auto i = std::lower_bound(voters.begin(), voters.end(), node,
                              [](const voter_slot& v, const std::string& n) {
                                return v.node < n;
                              });
    return i != voters.end() && i->node == node ? &*i : nullptr;
  }

  bool is_voter(const std::string& node) const {
    return find(node) != nullptr;
  }

  /// Smallest number of voters that is a strict majority.
  size_t quorum() const {
    return voters.size() / 2 + 1;
  }

  /// The next configuration with `node` voting too, or the reason it
  /// cannot be (`error` non-empty).
  voting_config with_added(const std::string& node, uint64_t proposer,
                           std::string& error) const {
    if (is_voter(node)) {
      error = node + " is a voter already";
      return *this;
    }
    if (voters.size() >= max_voters) {
      error = "at most " + std::to_string(max_voters) + " voters";
      return *this;
    }
    auto result = next(proposer);
    auto slot = next_slot;
    while (slot_taken(slot))
      slot = static_cast<uint8_t>((slot + 1) % max_voters);
    result.voters.push_back(voter_slot{node, slot});
    std::sort(result.voters.begin(), result.voters.end(),
              [](const voter_slot& x, const voter_slot& y) {
                return x.node < y.node;
              });
    result.next_slot = static_cast<uint8_t>((slot + 1) % max_voters);
    return result;
  }

  /// The next configuration without `node`, or the reason it cannot be.
  voting_config with_removed(const std::string& node, uint64_t proposer,
                             std::string& error) const {
    if (!is_voter(node)) {
      error = node + " is no voter";
      return *this;
    }
    if (voters.size() == 1) {
      error = node + " is the last voter";
      return *this;
    }
    auto result = next(proposer);
    result.voters.erase(
      std::remove_if(result.voters.begin(), result.voters.end(),
                     [&](const voter_slot& v) { return v.node == node; }),
      result.voters.end());
    return result;
  }

  /// Whether a node at this configuration, whose registry followed an
  /// orchestrator of epoch `fence` while at it, takes `x` (file comment).
  bool may_adopt(const voting_config& x, uint64_t fence) const {
    if (!newer(x, *this))
      return false;
    return !(x.epoch == epoch + 1 && x.by < fence);
  }

  /// True if `x` comes after `y`.
  friend bool newer(const voting_config& x, const voting_config& y) {
    return std::make_pair(x.epoch, x.by) > std::make_pair(y.epoch, y.by);
  }

  friend bool operator==(const voting_config& x, const voting_config& y) {
    return x.epoch == y.epoch && x.by == y.by && x.voters == y.voters
           && x.next_slot == y.next_slot;
  }

  friend bool operator!=(const voting_config& x, const voting_config& y) {
    return !(x == y);
  }

private:
  voting_config next(uint64_t proposer) const {
    auto result = *this;
    result.epoch = epoch + 1;
    result.by = proposer;
    return result;
  }

  bool slot_taken(uint8_t slot) const {
    return std::any_of(voters.begin(), voters.end(),
                       [&](const voter_slot& v) { return v.slot == slot; });
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, voting_config& x) {
  return f(caf::meta::type_name("dtask.voting_config"), x.epoch, x.by,
           x.voters, x.next_slot);
}

/// Whether `x` is well formed (as read from a file or the wire): voters
/// sorted, unique, with unique slots below `max_voters`, at least one.
/// Empty if so, else the problem.
inline std::string check(const voting_config& x) {
  if (x.voters.empty())
    return "no voters";
  if (x.voters.size() > max_voters)
    return "more than " + std::to_string(max_voters) + " voters";
  std::vector<bool> slots(256, false);
  for (size_t i = 0; i < x.voters.size(); ++i) {
    auto& v = x.voters[i];
    if (v.node.empty())
      return "a voter without a name";
    if (i > 0 && !(x.voters[i - 1].node < v.node))
      return "voters not sorted, or " + v.node + " twice";
    if (v.slot >= max_voters || slots[v.slot])
      return "slot " + std::to_string(v.slot) + " of " + v.node
             + " is taken twice or out of range";
    slots[v.slot] = true;
  }
  if (x.next_slot >= max_voters)
    return "next slot " + std::to_string(x.next_slot) + " out of range";
  return {};
}

/// The text of a membership file (`[cluster] state-dir`):
///   dtask-membership 1
///   epoch 3
///   by 1281
///   next-slot 4
///   voter 127.0.0.1:4101 0
///   ...
inline std::string to_text(const voting_config& x) {
  std::ostringstream out;
  out << "dtask-membership 1\nepoch " << x.epoch << "\nby " << x.by
      << "\nnext-slot " << static_cast<int>(x.next_slot) << "\n";
  for (auto& v : x.voters)
    out << "voter " << v.node << " " << static_cast<int>(v.slot) << "\n";
  return out.str();
}

/// Parses `to_text`'s output. Empty on success, else the problem (naming
/// the line).
inline std::string from_text(const std::string& text, voting_config& out) {
  std::istringstream in{text};
  std::string line;
  voting_config result;
  size_t n = 0;
  bool header = false;
  while (std::getline(in, line)) {
    ++n;
    std::istringstream words{line};
    std::string key;
    words >> key;
    auto bad = [&](const std::string& what) {
      return "line " + std::to_string(n) + ": " + what;
    };
    if (key.empty())
      continue;
    if (!header) {
      int version = 0;
      if (key != "dtask-membership" || !(words >> version) || version != 1)
        return bad("expected \"dtask-membership 1\"");
      header = true;
      continue;
    }
    uint64_t num = 0;
    if (key == "voter") {
      voter_slot v;
      if (!(words >> v.node >> num) || num >= max_voters)
        return bad("expected \"voter HOST:PORT SLOT\" with SLOT below 255");
      v.slot = static_cast<uint8_t>(num);
      result.voters.push_back(std::move(v));
    } else if (key == "epoch" || key == "by" || key == "next-slot") {
      if (!(words >> num))
        return bad("expected \"" + key + " NUMBER\"");
      if (key == "epoch")
        result.epoch = num;
      else if (key == "by")
        result.by = num;
      else if (num < max_voters)
        result.next_slot = static_cast<uint8_t>(num);
      else
        return bad("next-slot must be below 255");
    } else {
      return bad("unknown key \"" + key + "\"");
    }
  }
  if (!header)
    return "empty file";
  auto err = check(result);
  if (!err.empty())
    return err;
  out = std::move(result);
  return {};
}

} // namespace dtask
