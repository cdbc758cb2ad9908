#pragma once

// A minimal HTTP/1.1 client for the tests of a node's HTTP server: plain
// sockets, so that a test can send exactly the bytes it means (oversized
// headers, bodies, wrong methods) and hold idle connections open.

#include <cstdint>
#include <string>

namespace dtask_test {

struct http_reply {
  /// 0 if no answer came.
  int status = 0;
  /// The status line and the headers, as sent.
  std::string head;
  std::string body;

  /// The value of header `name` (case as sent), or empty.
  std::string header(const std::string& name) const;
};

/// Sends `raw` (a whole request) to 127.0.0.1:`port` and reads until the
/// server closes the connection (at most 10 s).
http_reply http_raw(uint16_t port, const std::string& raw);

/// `GET path` with `Connection: close`.
http_reply http_get(uint16_t port, const std::string& path);

/// A connection to 127.0.0.1:`port` that sends nothing; -1 on failure.
int http_connect(uint16_t port);

/// Sends `raw` on the connection `fd` and reads the answer until the server
/// closes (at most 10 s); closes `fd`.
http_reply http_exchange(int fd, const std::string& raw);

} // namespace dtask_test
