#include "server.hpp"

#include <array>
#include <optional>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <caf/actor_system.hpp>
#include <caf/sec.hpp>

#include "cluster_query.hpp"
#include "metrics.hpp"
#include "task_json.hpp"

namespace dtask {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = beast::error_code;

using request_parser = http::request_parser<http::string_body>;
using response = http::response<http::string_body>;

/// Largest request header; beyond it the answer is 431.
constexpr size_t header_limit_bytes = 8 * 1024;
/// Largest request body (no path takes one); beyond it the answer is 413.
constexpr size_t body_limit_bytes = 1024;
/// A connection that sends no complete request, or does not take its
/// answer, within this time is closed.
constexpr auto idle_timeout = std::chrono::seconds(10);
/// How long the node's actors get to answer a question of the API, and how
/// long the connection waits for that answer before it answers 503 itself.
constexpr auto actor_timeout = std::chrono::milliseconds(2500);
constexpr auto answer_timeout = std::chrono::seconds(3);
/// How long a connection that is closed after its answer may still send
/// (read and dropped: closing with unread bytes would reset the connection
/// and could destroy the answer before the peer read it).
constexpr auto drain_timeout = std::chrono::seconds(1);
/// Most events one `/api/events` answer holds (all the orchestrator keeps).
constexpr uint32_t max_events_per_answer = 1000;

/// The I/O context, shared with the questions under way: an answer that
/// comes from CAF after the server stopped is posted into a stopped context
/// that still exists.
struct io_holder {
  net::io_context ioc{1};
};

/// What every connection shares. `connections` is touched on the HTTP
/// thread only; the rest never changes.
struct shared_state {
  caf::actor_system* sys = nullptr;
  gateway_api node;
  std::string name;
  std::shared_ptr<node_metrics> metrics;
  std::shared_ptr<io_holder> io;
  size_t connections = 0;
};

using shared_state_ptr = std::shared_ptr<shared_state>;

response text_response(unsigned status, const char* type, std::string body) {
  response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, type);
  res.body() = std::move(body);
  return res;
}

/// An error as JSON: {"error":CODE,"reason":TEXT}.
response error_response(unsigned status, const char* code,
                        const std::string& reason) {
  ordered_json out;
  out["error"] = code;
  out["reason"] = reason;
  return text_response(status, "application/json", dump_json(out));
}

bool known_path(const std::string& path) {
  return path == "/" || path == "/metrics" || path == "/api/cluster"
         || path == "/api/events";
}

/// The value of `key` in a query string (`a=1&b=2`), if present.
std::optional<std::string> query_value(const std::string& query,
                                       const std::string& key) {
  size_t pos = 0;
  while (pos <= query.size()) {
    auto amp = query.find('&', pos);
    auto part = query.substr(pos, amp == std::string::npos ? std::string::npos
                                                           : amp - pos);
    if (part.compare(0, key.size() + 1, key + "=") == 0)
      return part.substr(key.size() + 1);
    if (amp == std::string::npos)
      break;
    pos = amp + 1;
  }
  return std::nullopt;
}

/// `text` as a whole number up to `max`, digits only.
bool parse_number(const std::string& text, uint64_t max, uint64_t& out) {
  if (text.empty() || text.size() > 19
      || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  out = std::stoull(text);
  return out <= max;
}

/// `/api/events`'s query: `since` (default 0) and `limit` (1..1000,
/// default 100). Empty on success, else what is wrong.
std::string parse_event_query(const std::string& query, event_query& out) {
  uint64_t n = 0;
  if (auto since = query_value(query, "since")) {
    if (!parse_number(*since, UINT64_MAX, n))
      return "since= takes a sequence number";
    out.after = n;
  }
  out.limit = 100;
  if (auto limit = query_value(query, "limit")) {
    if (!parse_number(*limit, max_events_per_answer, n) || n == 0)
      return "limit= takes a number from 1 to 1000";
    out.limit = static_cast<uint32_t>(n);
  }
  return {};
}

/// True for a request that is no valid HTTP (not for a peer that left).
bool is_parse_error(const error_code& ec) {
  static const auto& http_errors
    = http::make_error_code(http::error::bad_target).category();
  return ec && &ec.category() == &http_errors
         && ec != http::error::end_of_stream
         && ec != http::error::partial_message;
}

/// One connection: reads requests one after another (keep-alive), answers
/// each, and closes on an error, a limit, a timeout or the peer's wish.
class session : public std::enable_shared_from_this<session> {
public:
  /// `admitted` is false for a connection beyond `max_http_connections`:
  /// it is answered 503 and closed without reading a request.
  session(tcp::socket sock, shared_state_ptr st, bool admitted)
    : stream_(std::move(sock)),
      timer_(stream_.get_executor()),
      st_(std::move(st)),
      admitted_(admitted) {
    if (admitted_)
      ++st_->connections;
  }

  ~session() {
    if (admitted_)
      --st_->connections;
  }

  void start() {
    if (!admitted_)
      return reply(error_response(503, "busy",
                                  "too many connections; try again"),
                   true);
    read();
  }

private:
  void read() {
    parser_.emplace();
    parser_->header_limit(header_limit_bytes);
    parser_->body_limit(body_limit_bytes);
    stream_.expires_after(idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, size_t) {
                       self->on_read(ec);
                     });
  }

  void on_read(error_code ec) {
    if (ec == http::error::header_limit)
      return reply(error_response(431, "header_too_large",
                                  "request headers over 8 KiB"),
                   true);
    if (ec == http::error::body_limit)
      return reply(error_response(413, "body_too_large",
                                  "request body over 1 KiB"),
                   true);
    if (is_parse_error(ec))
      return reply(error_response(400, "bad_request", ec.message()), true);
    if (ec)
      return close(); // The peer left, or was idle too long.
    route();
  }

  void route() {
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    std::string target{req.target()};
    auto q = target.find('?');
    auto path = target.substr(0, q);
    auto query = q == std::string::npos ? std::string{} : target.substr(q + 1);
    if (!known_path(path))
      return reply(error_response(404, "not_found", "no such path"), false);
    if (req.method() != http::verb::get) {
      auto res = error_response(405, "method_not_allowed", "only GET");
      res.set(http::field::allow, "GET");
      return reply(std::move(res), false);
    }
    if (path == "/")
      return reply(page(), false);
    if (path == "/metrics")
      return reply(text_response(200, "text/plain; version=0.0.4; "
                                      "charset=utf-8",
                                 st_->metrics->text()),
                   false);
    if (path == "/api/cluster")
      return ask([st = st_](api_callback done) {
        query_cluster(*st->sys, st->node, st->name, actor_timeout,
                      std::move(done));
      });
    ask_events(query);
  }

  void ask_events(const std::string& query) {
    event_query q;
    auto err = parse_event_query(query, q);
    if (!err.empty())
      return reply(error_response(400, "bad_request", err), false);
    ask([st = st_, q](api_callback done) {
      query_events(*st->sys, st->node, st->name, q, actor_timeout,
                   std::move(done));
    });
  }

  static response page() {
    auto res = text_response(200, "text/html; charset=utf-8",
                             status_page_html());
    // The page loads nothing from elsewhere, and runs only its own script.
    res.set("Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; "
            "style-src 'unsafe-inline'; connect-src 'self'");
    return res;
  }

  /// Asks the node (`query` starts the question) and answers when the
  /// answer comes back to this thread, or 503 after `answer_timeout`.
  void ask(std::function<void(api_callback)> query) {
    auto id = ++asked_;
    std::weak_ptr<session> weak = shared_from_this();
    query([io = st_->io, weak, id](api_answer a) {
      net::post(io->ioc, [weak, id, a = std::move(a)]() mutable {
        if (auto self = weak.lock())
          self->answered(id, std::move(a));
      });
    });
    timer_.expires_after(answer_timeout);
    timer_.async_wait([self = shared_from_this(), id](error_code ec) {
      if (!ec)
        self->answered(id, api_answer{503, R"({"error":"timeout","reason":)"
                                           R"("the node did not answer in time"})"});
    });
  }

  void answered(uint64_t id, api_answer a) {
    if (id != asked_ || answered_ == id)
      return;
    answered_ = id;
    timer_.cancel();
    reply(text_response(a.status, "application/json", std::move(a.body)),
          false);
  }

  void reply(response res, bool close_after) {
    res.set(http::field::server, "dtask");
    res.set(http::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
    res.keep_alive(keep_alive_ && !close_after);
    res.prepare_payload();
    auto sp = std::make_shared<response>(std::move(res));
    stream_.expires_after(idle_timeout);
    http::async_write(stream_, *sp,
                      [self = shared_from_this(), sp](error_code ec, size_t) {
                        if (ec || !sp->keep_alive())
                          return self->close();
                        self->read();
                      });
  }

  /// Ends the connection: no more writes, then what the peer still sends
  /// is read and dropped until it closes (or `drain_timeout`).
  void close() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(drain_timeout);
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(drain_buf_),
                            [self = shared_from_this()](error_code ec,
                                                        size_t) {
                              if (!ec)
                                self->drain();
                            });
  }

  beast::tcp_stream stream_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<request_parser> parser_;
  std::array<char, 4096> drain_buf_;
  shared_state_ptr st_;
  bool admitted_;
  bool keep_alive_ = false;
  uint64_t asked_ = 0;
  uint64_t answered_ = 0;
};

void accept_next(const shared_state_ptr& st,
                 const std::shared_ptr<tcp::acceptor>& acceptor) {
  acceptor->async_accept([st, acceptor](error_code ec, tcp::socket sock) {
    if (ec == net::error::operation_aborted)
      return;
    if (!ec) {
      auto admitted = st->connections < max_http_connections;
      std::make_shared<session>(std::move(sock), st, admitted)->start();
      return accept_next(st, acceptor);
    }
    // Out of file descriptors or the like: try again shortly.
    auto timer = std::make_shared<net::steady_timer>(st->io->ioc);
    timer->expires_after(std::chrono::milliseconds(100));
    timer->async_wait([st, acceptor, timer](error_code) {
      accept_next(st, acceptor);
    });
  });
}

/// Binds `acceptor` to `host:port`; an error message, or empty.
std::string listen_on(tcp::acceptor& acceptor, net::io_context& ioc,
                      const std::string& host, uint16_t port) {
  error_code ec;
  tcp::resolver resolver{ioc};
  auto found = resolver.resolve(host, std::to_string(port),
                                tcp::resolver::passive, ec);
  if (ec || found.empty())
    return "cannot resolve " + host + ": " + ec.message();
  tcp::endpoint ep = *found.begin();
  acceptor.open(ep.protocol(), ec);
  if (!ec)
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    acceptor.bind(ep, ec);
  if (!ec)
    acceptor.listen(net::socket_base::max_listen_connections, ec);
  return ec ? ec.message() : std::string{};
}

} // namespace

struct http_server::impl {
  std::shared_ptr<io_holder> io = std::make_shared<io_holder>();
  shared_state_ptr st = std::make_shared<shared_state>();
  std::shared_ptr<tcp::acceptor> acceptor
    = std::make_shared<tcp::acceptor>(io->ioc);
  std::thread thread;
  uint16_t port = 0;
};

caf::expected<std::shared_ptr<http_server>>
http_server::start(caf::actor_system& sys, const std::string& host,
                   uint16_t port, gateway_api node, std::string name,
                   std::shared_ptr<node_metrics> metrics) {
  auto ptr = std::make_unique<impl>();
  auto err = listen_on(*ptr->acceptor, ptr->io->ioc, host, port);
  if (!err.empty())
    return caf::make_error(caf::sec::cannot_open_port,
                           "http: cannot listen on " + host + ":"
                             + std::to_string(port) + ": " + err);
  ptr->port = ptr->acceptor->local_endpoint().port();
  auto& st = *ptr->st;
  st.sys = &sys;
  st.node = std::move(node);
  st.name = std::move(name);
  st.metrics = std::move(metrics);
  st.io = ptr->io;
  accept_next(ptr->st, ptr->acceptor);
  ptr->thread = std::thread{[io = ptr->io] { io->ioc.run(); }};
  return std::shared_ptr<http_server>{new http_server(std::move(ptr))};
}

http_server::http_server(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

http_server::~http_server() {
  impl_->io->ioc.stop();
  if (impl_->thread.joinable())
    impl_->thread.join();
  error_code ignored;
  impl_->acceptor->close(ignored);
  // The connections (owned by the stopped context's handlers) hold the
  // shared state: without its hold on the context, they go with it.
  impl_->st->io.reset();
}

uint16_t http_server::port() const noexcept {
  return impl_->port;
}

} // namespace dtask
