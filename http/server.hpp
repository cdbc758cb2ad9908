#pragma once

// A node's HTTP server (`[http] port`): `/metrics` (Prometheus text
// format), `/` (the status page), `/api/cluster` and `/api/events` (its
// JSON). Boost.Beast on a thread of its own; it reaches the node's actors
// only through CAF messages (cluster_query.hpp).
//
// Bounds: at most `max_http_connections` connections at once (one more is
// answered 503 and closed), request headers of at most 8 KiB (else 431)
// and bodies of at most 1 KiB (else 413), a connection idle or slow for
// 10 s is closed, and an answer that needs the cluster comes within 3 s or
// is a 503. Unknown paths are 404, methods other than GET 405.

#include <cstdint>
#include <memory>
#include <string>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "dtask/protocol.hpp"

namespace dtask {

class node_metrics;

/// Most connections the HTTP server holds at once.
constexpr size_t max_http_connections = 64;

class http_server {
public:
  /// Listens on `host:port` (port 0: any free port) and serves on a thread
  /// of its own until destroyed. `node` answers the cluster questions,
  /// `name` is the node's name.
  static caf::expected<std::shared_ptr<http_server>>
  start(caf::actor_system& sys, const std::string& host, uint16_t port,
        gateway_api node, std::string name,
        std::shared_ptr<node_metrics> metrics);

  /// Stops serving and joins the thread.
  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// The port it listens on.
  uint16_t port() const noexcept;

  struct impl;

private:
  explicit http_server(std::unique_ptr<impl> ptr);

  std::unique_ptr<impl> impl_;
};

/// The status page: HTML and JavaScript that fetch `/api/cluster` every
/// two seconds and show it (status_page.cpp).
const char* status_page_html();

} // namespace dtask
