// A node's own address among its seeds: a seed that is this node under
// another spelling than its name (`localhost:4101` for `127.0.0.1:4101`)
// would make the node count itself twice among the voters, once as a voter
// that never answers. Host names are resolved to find such seeds.

#include <ifaddrs.h>
#include <netdb.h>
#include <sys/socket.h>

#include <optional>
#include <set>
#include <utility>

#include "dtask/node.hpp"

namespace dtask {

namespace {

/// An IP address (numeric text) and a port.
using ip_port = std::pair<std::string, uint16_t>;

/// The numeric text of `addr`, empty if it has none.
std::string numeric_host(const sockaddr* addr, socklen_t len) {
  char buf[NI_MAXHOST];
  if (getnameinfo(addr, len, buf, sizeof(buf), nullptr, 0, NI_NUMERICHOST)
      != 0)
    return {};
  return buf;
}

/// The IP addresses `host` resolves to; none if it does not resolve (a seed
/// that does not resolve now may later: that is no error here).
std::set<std::string> addresses_of(const std::string& host) {
  std::set<std::string> result;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0)
    return result;
  for (auto* ai = found; ai != nullptr; ai = ai->ai_next) {
    auto ip = numeric_host(ai->ai_addr, ai->ai_addrlen);
    if (!ip.empty())
      result.insert(std::move(ip));
  }
  freeaddrinfo(found);
  return result;
}

/// The addresses of this machine's interfaces: a node that listens on a
/// wildcard address is reachable at each of them.
std::set<std::string> interface_addresses() {
  std::set<std::string> result;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0)
    return result;
  for (auto* ifa = list; ifa != nullptr; ifa = ifa->ifa_next) {
    if (ifa->ifa_addr == nullptr)
      continue;
    auto family = ifa->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6)
      continue;
    auto len = static_cast<socklen_t>(
      family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    auto ip = numeric_host(ifa->ifa_addr, len);
    if (!ip.empty())
      result.insert(std::move(ip));
  }
  freeifaddrs(list);
  return result;
}

/// Where this node can be reached: its name's address (`advertise`, else
/// `host:port`) and where it listens.
std::set<ip_port> own_addresses(const node_config& cfg) {
  std::set<ip_port> result;
  endpoint named;
  parse_endpoint(cfg.name(), named);
  for (auto& ip : addresses_of(named.host))
    result.emplace(ip, named.port);
  auto listening = is_wildcard(cfg.host) ? interface_addresses()
                                         : addresses_of(cfg.host);
  for (auto& ip : listening)
    result.emplace(ip, cfg.port);
  return result;
}

} // namespace

std::string identity_error(const node_config& cfg) {
  auto err = wildcard_error(cfg);
  if (!err.empty())
    return err;
  auto name = cfg.name();
  endpoint named;
  parse_endpoint(name, named);
  // Resolved once, and only if a seed has one of this node's ports.
  std::optional<std::set<ip_port>> own;
  for (auto& seed : cfg.seeds) {
    if (seed.to_string() == name
        || (seed.port != cfg.port && seed.port != named.port))
      continue;
    if (!own)
      own = own_addresses(cfg);
    for (auto& ip : addresses_of(seed.host))
      if (own->count(ip_port{ip, seed.port}) > 0)
        return "cluster.seeds: \"" + seed.to_string()
               + "\" is this node itself (" + ip + " port "
               + std::to_string(seed.port)
               + ") under another name than its own, \"" + name
               + "\": list every node under its name (its advertise, else "
                 "host:port), the same in every node's seeds; else this "
                 "node counts twice among the voters, once as one that "
                 "never answers";
  }
  return {};
}

} // namespace dtask
