#pragma once

// The `[cluster]` section of a node's configuration. CAF silently ignores a
// value of the wrong type and keeps unknown keys, so dtask reads the raw
// section itself and refuses anything it does not understand, naming the key.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/config_value.hpp>
#include <caf/settings.hpp>

#include "dtask/http_config.hpp"

namespace dtask {

/// A `host:port` pair.
struct endpoint {
  std::string host;
  uint16_t port = 0;

  std::string to_string() const {
    return host + ":" + std::to_string(port);
  }

  friend bool operator==(const endpoint& x, const endpoint& y) {
    return x.host == y.host && x.port == y.port;
  }
};

/// Parses "host:port". Returns an empty string on success, else the problem.
inline std::string parse_endpoint(const std::string& str, endpoint& out) {
  auto colon = str.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == str.size())
    return "\"" + str + "\" is not of the form host:port";
  auto port_str = str.substr(colon + 1);
  if (port_str.size() > 5
      || port_str.find_first_not_of("0123456789") != std::string::npos)
    return "\"" + str + "\" has no valid port number";
  auto port = std::stoul(port_str);
  if (port < 1 || port > 65535)
    return "\"" + str + "\" has port " + port_str + ", outside 1..65535";
  out.host = str.substr(0, colon);
  out.port = static_cast<uint16_t>(port);
  return {};
}

/// True for the addresses that mean "every interface": they name no host
/// a peer could dial.
inline bool is_wildcard(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host == "[::]";
}

/// Everything a node reads from `[cluster]`.
struct node_config {
  /// Interface the node listens on (`0.0.0.0` or `::`: every interface,
  /// which needs `advertise`); without `advertise`, also the host part of
  /// its name.
  std::string host = "127.0.0.1";
  uint16_t port = 4100;
  /// The address peers dial, and the node's name in the cluster; unset
  /// (empty host): `host:port`.
  endpoint advertise;
  /// Nodes to join through. The node's own address is skipped.
  std::vector<endpoint> seeds;
  /// How long finished tasks are remembered.
  std::chrono::milliseconds finished_ttl{60000};
  /// Most finished tasks the orchestrator remembers; when more end, the
  /// oldest are forgotten before their TTL.
  uint64_t max_finished = 1000000;
  /// Largest serialized size of a task's arguments.
  uint64_t max_args_bytes = 64 * 1024;
  /// Largest serialized size of a task's result; a task whose result is
  /// larger fails, on the node that ran it.
  uint64_t max_result_bytes = 64 * 1024;
  /// Most tasks a node runs at once; a start beyond it is refused
  /// (`capacity`). About 2 KB of memory per running task in the cluster.
  uint64_t max_running = 100000;
  /// Most tasks in one `list` reply: a page holds at most this many, and
  /// the unpaged `list` is refused (`too_many`) beyond it.
  uint64_t max_list = 1000;
  /// Most members a node admits, itself included; a join beyond it is
  /// refused (`capacity`). At least the number of seeds.
  uint64_t max_members = 1000;
  /// How often the supervisor retries seeds and unreachable members.
  std::chrono::milliseconds retry_interval{500};
  /// How long a leaving node (SIGTERM) waits for its running tasks before it
  /// stops them and reports them cut short.
  std::chrono::milliseconds leave_timeout{10000};
  /// File the node appends its task events to (one line per start and stop
  /// of a worker, with monotonic times), for invariant checkers; empty: none.
  std::string event_log;
  /// Directory where the node keeps the committed voting membership
  /// (`membership`, written atomically); on restart it is used instead of
  /// `seeds` if newer. Empty: none (a restarted node learns the membership
  /// from its peers).
  std::string state_dir;
  /// Listen on a non-loopback address without TLS (`[cluster] insecure`):
  /// anyone who reaches the port can then act as a member.
  bool insecure = false;
  /// The `[http]` section: metrics and the status page (off by default).
  http_config http;

  /// The node's name in every output and in every other node's seeds:
  /// `advertise`, else `host:port`.
  std::string name() const {
    return advertise.host.empty() ? endpoint{host, port}.to_string()
                                  : advertise.to_string();
  }

  /// The cluster's voting members: the seeds list (every node of a cluster
  /// must list the same seeds), or the node alone without seeds. Only a side
  /// that reaches a strict majority of them runs an orchestrator.
  std::vector<std::string> voters() const {
    std::vector<std::string> result;
    for (auto& ep : seeds)
      result.push_back(ep.to_string());
    if (result.empty())
      result.push_back(name());
    std::sort(result.begin(), result.end());
    result.erase(std::unique(result.begin(), result.end()), result.end());
    return result;
  }

  /// Smallest number of voters that is a strict majority.
  size_t quorum() const {
    return voters().size() / 2 + 1;
  }
};

/// One line of help per key of `[cluster]`, for `--help`.
inline const char* cluster_config_help() {
  return "  [cluster] keys (file or --cluster.KEY=VALUE):\n"
         "    host              string    interface to listen on; without\n"
         "                                advertise also the name's host;\n"
         "                                0.0.0.0 or :: needs advertise "
         "(127.0.0.1)\n"
         "    port              integer   listening port, 1..65535 (4100)\n"
         "    advertise         string    \"host:port\" peers dial, the "
         "node's name\n"
         "                                (host:port)\n"
         "    seeds             list      [\"host:port\", ...] the voters, "
         "to join\n"
         "                                through; each under its name\n"
         "    finished-ttl      duration  how long finished tasks are kept "
         "(60s)\n"
         "    max-finished      integer   most finished tasks kept; beyond, "
         "the\n"
         "                                oldest are forgotten early "
         "(1000000)\n"
         "    max-args-bytes    integer   largest serialized task arguments "
         "(65536)\n"
         "    max-result-bytes  integer   largest serialized task result; a\n"
         "                                larger one fails the task (65536)\n"
         "    max-running       integer   most tasks a node runs at once "
         "(100000)\n"
         "    max-list          integer   most tasks in one list reply "
         "(1000)\n"
         "    max-members       integer   most members a node admits, itself\n"
         "                                included; at least the seeds (1000)\n"
         "    retry-interval    duration  how often seeds are retried (500ms)\n"
         "    leave-timeout     duration  on SIGTERM, how long running tasks "
         "may\n"
         "                                finish before they are cut short "
         "(10s)\n"
         "    event-log         string    file to append task events to "
         "(none)\n"
         "    state-dir         string    directory keeping the voting "
         "membership\n"
         "                                across restarts (none)\n"
         "    insecure          bool      allow a non-loopback host without "
         "TLS (false)\n";
}

/// Why `cfg` names no address peers can dial: it listens on every
/// interface (`host` 0.0.0.0 or ::) without `advertise`. Empty if it does.
inline std::string wildcard_error(const node_config& cfg) {
  if (!is_wildcard(cfg.host) || !cfg.advertise.host.empty())
    return {};
  return "cluster.host: \"" + cfg.host
         + "\" listens on every interface but is no name peers can dial: "
           "set [cluster] advertise=\"HOST:PORT\" to this node's address "
           "as its peers reach it";
}

/// A warning for a node whose name is not among its `seeds`: it joins
/// through them but is no voting member (it never runs the orchestrator and
/// counts toward no quorum). Empty if it is one, or without seeds.
inline std::string non_voter_warning(const node_config& cfg) {
  auto name = cfg.name();
  if (cfg.seeds.empty())
    return {};
  for (auto& seed : cfg.seeds)
    if (seed.to_string() == name)
      return {};
  return "this node's name " + name
         + " is not among cluster.seeds: it joins through them but does not "
           "vote (it never runs the orchestrator and counts toward no "
           "quorum); list it, the same on every node, if it should";
}

namespace detail {

inline std::string key_error(const std::string& key, const std::string& what) {
  return "cluster." + key + ": " + what;
}

inline std::string read_duration(const std::string& key,
                                 const caf::config_value& val,
                                 std::chrono::milliseconds& out) {
  auto ts = caf::get_if<caf::timespan>(&val.get_data());
  if (ts == nullptr)
    return key_error(key, "expected a duration such as 60s or 500ms, got "
                            + caf::to_string(val));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*ts);
  if (ms.count() <= 0)
    return key_error(key, "must be positive, got " + caf::to_string(val));
  out = ms;
  return {};
}

inline std::string read_endpoint(const std::string& key,
                                 const caf::config_value& val, endpoint& out) {
  auto str = caf::get_if<std::string>(&val.get_data());
  if (str == nullptr)
    return key_error(key, "expected a \"host:port\" string, got "
                            + caf::to_string(val));
  auto err = parse_endpoint(*str, out);
  if (!err.empty())
    return key_error(key, err);
  if (is_wildcard(out.host))
    return key_error(key, "\"" + *str + "\" is no address a peer can dial: "
                            "name this node's address as its peers reach it");
  return {};
}

inline std::string read_positive(const std::string& key,
                                 const caf::config_value& val, uint64_t& out) {
  auto num = caf::get_if<int64_t>(&val.get_data());
  if (num == nullptr || *num < 1)
    return key_error(key, "expected a positive integer, got "
                            + caf::to_string(val));
  out = static_cast<uint64_t>(*num);
  return {};
}

} // namespace detail

/// Reads the `[cluster]` section into `out`, starting from `out`'s values.
/// Returns an empty string on success, else a message naming the bad key.
inline std::string read_cluster_config(const caf::settings& section,
                                       node_config& out) {
  using detail::key_error;
  for (auto& kvp : section) {
    auto& key = kvp.first;
    auto& val = kvp.second;
    auto& data = val.get_data();
    if (key == "host") {
      auto str = caf::get_if<std::string>(&data);
      if (str == nullptr || str->empty())
        return key_error(key, "expected a non-empty string, got "
                                + caf::to_string(val));
      out.host = *str;
    } else if (key == "port") {
      auto num = caf::get_if<int64_t>(&data);
      if (num == nullptr)
        return key_error(key, "expected an integer, got "
                                + caf::to_string(val));
      if (*num < 1 || *num > 65535)
        return key_error(key, std::to_string(*num) + " is outside 1..65535");
      out.port = static_cast<uint16_t>(*num);
    } else if (key == "advertise") {
      auto err = detail::read_endpoint(key, val, out.advertise);
      if (!err.empty())
        return err;
    } else if (key == "seeds") {
      auto lst = caf::get_if<caf::config_value::list>(&data);
      if (lst == nullptr)
        return key_error(key, "expected a list such as [\"127.0.0.1:4101\"], "
                              "got "
                                + caf::to_string(val));
      std::vector<endpoint> seeds;
      for (auto& x : *lst) {
        auto str = caf::get_if<std::string>(&x.get_data());
        if (str == nullptr)
          return key_error(key, "expected \"host:port\" strings, got "
                                  + caf::to_string(x));
        endpoint ep;
        auto err = parse_endpoint(*str, ep);
        if (!err.empty())
          return key_error(key, err);
        seeds.push_back(std::move(ep));
      }
      if (seeds.size() > 255)
        return key_error(key, "at most 255 seeds (the cluster's voting "
                              "members), got "
                                + std::to_string(seeds.size()));
      out.seeds = std::move(seeds);
    } else if (key == "finished-ttl") {
      auto err = detail::read_duration(key, val, out.finished_ttl);
      if (!err.empty())
        return err;
    } else if (key == "leave-timeout") {
      auto err = detail::read_duration(key, val, out.leave_timeout);
      if (!err.empty())
        return err;
    } else if (key == "retry-interval") {
      auto err = detail::read_duration(key, val, out.retry_interval);
      if (!err.empty())
        return err;
    } else if (key == "event-log") {
      auto str = caf::get_if<std::string>(&data);
      if (str == nullptr)
        return key_error(key, "expected a file path string, got "
                                + caf::to_string(val));
      out.event_log = *str;
    } else if (key == "max-args-bytes") {
      auto err = detail::read_positive(key, val, out.max_args_bytes);
      if (!err.empty())
        return err;
    } else if (key == "max-finished") {
      auto err = detail::read_positive(key, val, out.max_finished);
      if (!err.empty())
        return err;
    } else if (key == "max-result-bytes") {
      auto err = detail::read_positive(key, val, out.max_result_bytes);
      if (!err.empty())
        return err;
    } else if (key == "max-list") {
      auto err = detail::read_positive(key, val, out.max_list);
      if (!err.empty())
        return err;
    } else if (key == "max-running") {
      auto err = detail::read_positive(key, val, out.max_running);
      if (!err.empty())
        return err;
    } else if (key == "max-members") {
      auto err = detail::read_positive(key, val, out.max_members);
      if (!err.empty())
        return err;
    } else if (key == "state-dir") {
      auto str = caf::get_if<std::string>(&data);
      if (str == nullptr || str->empty())
        return key_error(key, "expected a directory path string, got "
                                + caf::to_string(val));
      out.state_dir = *str;
    } else if (key == "insecure") {
      auto flag = caf::get_if<bool>(&data);
      if (flag == nullptr)
        return key_error(key, "expected true or false, got "
                                + caf::to_string(val));
      out.insecure = *flag;
    } else {
      return key_error(key, "unknown key (known: host, port, advertise, "
                            "seeds, "
                            "finished-ttl, max-finished, max-args-bytes, "
                            "max-result-bytes, max-running, max-list, "
                            "max-members, retry-interval, leave-timeout, "
                            "event-log, state-dir, insecure)");
    }
  }
  if (out.max_members < out.seeds.size())
    return key_error("max-members",
                     std::to_string(out.max_members) + " is fewer than the "
                       + std::to_string(out.seeds.size())
                       + " seeds: the voters could never all be members");
  return wildcard_error(out);
}

} // namespace dtask
