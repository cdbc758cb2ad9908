#pragma once

// The `[http]` section of a node's configuration: where the node serves its
// metrics, its status page and their JSON (off unless `port` is set). Read
// like `[cluster]`: a value of the wrong type or an unknown key is refused
// with the key named.

#include <cstdint>
#include <string>

#include <caf/config_value.hpp>
#include <caf/settings.hpp>

namespace dtask {

/// Everything a node reads from `[http]`.
struct http_config {
  /// The interface to listen on; empty: 127.0.0.1, or with TLS the node's
  /// `[cluster] host`. A host that is not a loopback address needs TLS or
  /// `[cluster] insecure=true` (see `http_exposure_error`).
  std::string host;
  /// 0: no HTTP server.
  uint16_t port = 0;

  bool enabled() const noexcept {
    return port != 0;
  }
};

/// One line of help per key of `[http]`, for `--help`.
inline const char* http_config_help() {
  return "  [http] keys (file or --http.KEY=VALUE):\n"
         "    port              integer   serve /metrics, the status page "
         "and\n"
         "                                /api/cluster here, 1..65535 (off)\n"
         "    host              string    interface to listen on (127.0.0.1;"
         "\n"
         "                                with TLS the cluster host)\n";
}

/// Reads the `[http]` section into `out`. Returns an empty string on
/// success, else a message naming the bad key.
inline std::string read_http_config(const caf::settings& section,
                                    http_config& out) {
  for (auto& kvp : section) {
    auto& key = kvp.first;
    auto& data = kvp.second.get_data();
    if (key == "port") {
      auto num = caf::get_if<int64_t>(&data);
      if (num == nullptr)
        return "http.port: expected an integer, got "
               + caf::to_string(kvp.second);
      if (*num < 1 || *num > 65535)
        return "http.port: " + std::to_string(*num) + " is outside 1..65535";
      out.port = static_cast<uint16_t>(*num);
    } else if (key == "host") {
      auto str = caf::get_if<std::string>(&data);
      if (str == nullptr || str->empty())
        return "http.host: expected a non-empty string, got "
               + caf::to_string(kvp.second);
      out.host = *str;
    } else {
      return "http." + key + ": unknown key (known: port, host)";
    }
  }
  return {};
}

} // namespace dtask
