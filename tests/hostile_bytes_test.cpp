// Raw bytes from anyone who reaches a node's port, before any handshake:
// random bytes, and a CAF 0.17 BASP header that announces a 4 GiB payload.
// Real node processes; the attacker is plain sockets in this process.

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <iostream>
#include <random>

#include <gtest/gtest.h>

#include "cluster_harness.hpp"

using namespace std::chrono_literals;
using dtask_test::cluster;
using dtask_test::wait_until;

namespace {

constexpr int64_t mib = 1024 * 1024;
constexpr int64_t gib = 1024 * mib;

/// A BASP header as CAF 0.17.6 writes it (caf/io/basp/header.hpp,
/// `header_size` = 32 bytes, big-endian): operation, two padding bytes,
/// flags, payload_len (uint32), operation_data (uint64), source_actor and
/// dest_actor (uint64 each). A client handshake (operation 1) with both
/// actor ids 0 passes `basp::valid` whatever its length, and the receiver
/// then resizes its read buffer to payload_len (stream::prepare_next_read),
/// zero-filling it, before it has seen a byte of the payload.
std::array<uint8_t, 32> oversized_basp_header() {
  std::array<uint8_t, 32> bytes{};
  bytes[0] = 0x01;                                   // client_handshake
  bytes[4] = bytes[5] = bytes[6] = bytes[7] = 0xFF;  // payload_len
  bytes[15] = 0x01;                                  // operation_data
  return bytes;
}

/// A field of /proc/PID/status in bytes (VmRSS, VmHWM), -1 if unreadable.
int64_t proc_status_bytes(int pid, const std::string& field) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0)
      return std::stoll(line.substr(field.size() + 1)) * 1024;
  return -1;
}

int64_t rss(int pid) {
  return proc_status_bytes(pid, "VmRSS");
}

/// MemAvailable of this machine in bytes.
int64_t memory_available() {
  std::ifstream in{"/proc/meminfo"};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("MemAvailable:", 0) == 0)
      return std::stoll(line.substr(13)) * 1024;
  return 0;
}

/// How many file descriptors process `pid` holds.
size_t open_files(int pid) {
  size_t n = 0;
  if (auto dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (auto entry = readdir(dir))
      n += entry->d_name[0] != '.';
    closedir(dir);
  }
  return n;
}

/// A connection to 127.0.0.1:port, -1 on failure; connect and send give up
/// after 5 s.
int connect_loopback(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  timeval bound{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof(bound));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/// Sends all of `bytes`; the node may already have closed (no SIGPIPE).
void send_all(int fd, const std::vector<uint8_t>& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      return;
    sent += static_cast<size_t>(n);
  }
}

/// Waits (bounded) until the node closed each of `fds` (end of stream or an
/// error after whatever it sent, e.g. a TLS alert); closes those and
/// removes them from `fds`. Returns how many the node closed.
size_t await_closed_by_node(std::vector<int>& fds,
                            std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t closed = 0;
  while (!fds.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      break;
    std::vector<pollfd> polled;
    for (int fd : fds)
      polled.push_back({fd, POLLIN, 0});
    if (poll(polled.data(), polled.size(), static_cast<int>(left.count())) <= 0)
      continue;
    std::vector<int> open;
    for (auto& p : polled) {
      bool gone = false;
      if (p.revents != 0) {
        char buf[4096];
        auto n = recv(p.fd, buf, sizeof(buf), MSG_DONTWAIT);
        gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
      }
      if (gone) {
        close(p.fd);
        ++closed;
      } else {
        open.push_back(p.fd);
      }
    }
    fds.swap(open);
  }
  return closed;
}

/// How many sockets this process may hold at once for an attack, after
/// raising the soft limit as far as the hard one allows (the node, started
/// later, inherits it).
size_t usable_sockets(size_t wanted) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  auto goal = static_cast<rlim_t>(wanted + 256);
  if (lim.rlim_cur < goal) {
    lim.rlim_cur = std::min(goal, lim.rlim_max);
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  // Room for the test's own files and the CLI runs.
  return std::min<size_t>(wanted, lim.rlim_cur > 128 ? lim.rlim_cur - 128 : 1);
}

} // namespace

// 200 connections of random bytes and 200 that each send one oversized BASP
// header, open at the same time (as far as the file limit allows), to one
// node of a TLS cluster: none gets past the TLS handshake, the node closes
// each, keeps serving and keeps its link to the other node, and its memory
// grows by less than 50 MB.
TEST(hostile_bytes, a_tls_node_drops_random_bytes_and_oversized_headers) {
  constexpr size_t per_kind = 200;
  constexpr size_t total = 2 * per_kind;
  constexpr int64_t rss_bound = 50 * mib;
  auto batch = usable_sockets(total);
  cluster c{2};
  ASSERT_TRUE(c.use_tls());
  ASSERT_TRUE(c.start_all());
  // One TLS client first, so that what OpenSSL sets up once is counted
  // before the attack.
  ASSERT_EQ(c.cli({"nodes"}, 0).rc, 0);
  auto pid = c.pid(0);
  auto rss_before = rss(pid);
  ASSERT_GT(rss_before, 0);
  auto files_before = open_files(pid);
  int64_t rss_held = 0;
  // Fixed seed: the same bytes every run.
  std::mt19937 rng{20261201};
  std::uniform_int_distribution<size_t> length{1024, 4096};
  auto header = oversized_basp_header();
  std::vector<uint8_t> header_bytes(header.begin(), header.end());
  size_t sent = 0;
  size_t refused = 0;
  size_t closed_by_node = 0;
  auto started = std::chrono::steady_clock::now();
  while (sent < total) {
    // Alternating kinds, so that every batch holds both.
    std::vector<std::pair<int, std::vector<uint8_t>>> conns;
    for (; conns.size() < batch && sent < total; ++sent) {
      std::vector<uint8_t> bytes = header_bytes;
      if (sent % 2 == 0) {
        bytes.resize(length(rng));
        for (auto& b : bytes)
          b = static_cast<uint8_t>(rng());
      }
      auto fd = connect_loopback(c.port(0));
      if (fd < 0) {
        ++refused;
        continue;
      }
      conns.emplace_back(fd, std::move(bytes));
    }
    // Every connection of the batch accepted (a TLS session each) before
    // any bytes arrive: the node holds them all at once.
    EXPECT_TRUE(wait_until(
      [&] { return open_files(pid) >= files_before + conns.size(); }, 10s))
      << open_files(pid) - files_before << " of " << conns.size()
      << " accepted";
    rss_held = std::max(rss_held, rss(pid));
    std::vector<int> fds;
    for (auto& [fd, bytes] : conns) {
      send_all(fd, bytes);
      fds.push_back(fd);
    }
    closed_by_node += await_closed_by_node(fds, 20s);
    for (int fd : fds)
      close(fd);
  }
  auto attack_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count();
  EXPECT_EQ(refused, 0u) << "connections the node did not accept";
  EXPECT_EQ(closed_by_node, total)
    << "hostile connections the node kept open";
  // The node serves: it lists both members, runs a task, and lost no peer.
  auto nodes = c.cli({"nodes"}, 0);
  EXPECT_EQ(nodes.rc, 0) << nodes.err;
  EXPECT_EQ(nodes.lines.size(), 2u);
  // A connect may time out while the node still closes the last hostile
  // handshakes on a loaded machine (seen once in CI): retried, bounded.
  dtask_test::run_result task;
  EXPECT_TRUE(dtask_test::wait_until(
    [&] {
      task = c.cli({"start", "echo", "after-bytes", "--wait"}, 0);
      return task.rc != 2;
    },
    20s));
  EXPECT_EQ(task.rc, 0) << task.err;
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(c.downs(i), 0) << "node " << i << " lost a peer";
  auto rss_after = rss(pid);
  auto peak = proc_status_bytes(pid, "VmHWM");
  std::cout << "tls node: " << per_kind << " random + " << per_kind
            << " oversized-header connections, " << batch
            << " at a time, in " << attack_ms << " ms; RSS "
            << rss_before / 1024 << " KiB -> " << rss_after / 1024
            << " KiB (+" << (rss_after - rss_before) / 1024
            << " KiB), holding a batch " << rss_held / 1024 << " KiB, peak "
            << peak / 1024 << " KiB" << std::endl;
  EXPECT_LT(rss_after - rss_before, rss_bound);
}

// CAF 0.17's known limitation, documented: without TLS, one oversized
// header makes the node allocate and zero-fill 4 GiB on its network thread
// (stream::prepare_next_read), which serves nothing else meanwhile (17 s
// on the 2-core test machine; peers drop the node). dtask's
// middleman.connection-timeout (600 ms) then closes the connection, which
// frees the memory, and the node serves on. Without the timeout the node
// holds the 4 GiB for as long as the sender keeps the connection open.
// Two headers at once took 8.2 GiB and 63 s: never more than one here.
// It keeps a core busy for about 20 s, which squeezes the timing of the
// tests that run beside it: it runs only when DTASK_HEAVY_TESTS=1 is set
// (`DTASK_HEAVY_TESTS=1 ctest -R hostile_bytes`).
TEST(hostile_bytes, a_plaintext_node_spends_4_gib_on_one_oversized_header) {
  if (getenv("DTASK_HEAVY_TESTS") == nullptr)
    GTEST_SKIP() << "a measurement of CAF: set DTASK_HEAVY_TESTS=1";
  if (memory_available() < 8 * gib)
    GTEST_SKIP() << "needs 8 GiB of free memory";
  cluster c{1};
  ASSERT_TRUE(c.start_all());
  ASSERT_EQ(c.cli({"nodes"}).rc, 0);
  auto pid = c.pid(0);
  auto rss_before = rss(pid);
  auto header = oversized_basp_header();
  auto fd = connect_loopback(c.port(0));
  ASSERT_GE(fd, 0);
  auto started = std::chrono::steady_clock::now();
  send_all(fd, {header.begin(), header.end()});
  std::vector<int> fds{fd};
  auto closed = await_closed_by_node(fds, 90s);
  auto held_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count();
  for (int left : fds)
    close(left);
  EXPECT_EQ(closed, 1u) << "the node kept the connection (and the 4 GiB)";
  auto peak = proc_status_bytes(pid, "VmHWM");
  EXPECT_GE(peak - rss_before, 4 * gib - 64 * mib)
    << "no 4 GiB buffer: the CAF limitation is gone, update README.md";
  EXPECT_TRUE(
    wait_until([&] { return rss(pid) - rss_before < 50 * mib; }, 10s))
    << "not freed: RSS " << rss(pid) / mib << " MiB";
  // It noticed the stall and rejoins ("stalled for ...; rejoining as a
  // follower"), then re-elects itself: the first calls may find no
  // orchestrator.
  EXPECT_TRUE(wait_until([&] { return c.cli({"nodes"}).rc == 0; }, 20s));
  auto task = c.cli({"start", "echo", "after-header", "--wait"});
  EXPECT_EQ(task.rc, 0) << task.err;
  std::cout << "plaintext node: one oversized header, RSS "
            << rss_before / mib << " MiB, peak " << peak / mib
            << " MiB, connection held " << held_ms << " ms, RSS then "
            << rss(pid) / mib << " MiB" << std::endl;
}
