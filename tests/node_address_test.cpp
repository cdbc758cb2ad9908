// A node's own address: where it listens, the name its peers dial, and that
// name among its seeds. Real `dtask-node` processes.

#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "cluster_harness.hpp"

using namespace std::chrono_literals;
using dtask_test::cluster;
using dtask_test::free_port;
using dtask_test::run;

namespace {

/// True if an IPv4 socket listens on 0.0.0.0:`port` (read from the kernel's
/// table: "local_address" 00000000:PORT in state 0A, LISTEN).
bool listens_on_every_interface(uint16_t port) {
  std::ifstream table{"/proc/net/tcp"};
  std::ostringstream local;
  local << "00000000:" << std::hex << std::uppercase << port;
  for (std::string line; std::getline(table, line);) {
    std::istringstream fields{line};
    std::string slot, address, remote, state;
    fields >> slot >> address >> remote >> state;
    if (address == local.str() && state == "0A")
      return true;
  }
  return false;
}

} // namespace

// `localhost:P` for a node at 127.0.0.1:P would be a second voter that is
// this node and never answers.
TEST(node_address, a_seed_that_is_the_node_itself_spelled_otherwise_is_refused) {
  auto port = std::to_string(free_port());
  auto other = "\"127.0.0.1:" + std::to_string(free_port()) + "\"";
  for (auto args : std::vector<std::vector<std::string>>{
         {"--cluster.seeds=[\"localhost:" + port + "\", " + other + "]"},
         {"--cluster.seeds=[\"127.0.0.1:" + port + "\", \"localhost:" + port
          + "\", " + other + "]"},
         {"--cluster.host=localhost",
          "--cluster.seeds=[\"127.0.0.1:" + port + "\", " + other + "]"}}) {
    args.insert(args.begin(), "--cluster.port=" + port);
    args.insert(args.begin(), DTASK_NODE_BIN);
    auto res = run(args, 5s);
    EXPECT_EQ(res.rc, 2) << args.back() << ": " << res.err;
    EXPECT_NE(res.err.find("cluster.seeds"), std::string::npos) << res.err;
    EXPECT_NE(res.err.find("is this node itself"), std::string::npos)
      << res.err;
  }
}

TEST(node_address, a_node_outside_its_seeds_warns_that_it_does_not_vote) {
  // Node 0 is the only seed: 1 and 2 join through it but do not vote.
  cluster c{3, "", DTASK_NODE_BIN, true};
  ASSERT_TRUE(c.start_all());
  EXPECT_EQ(c.log_lines(0, "does not vote"), 0);
  for (int i : {1, 2}) {
    EXPECT_EQ(c.log_lines(i, "WARNING: this node's name " + c.name(i)
                               + " is not among cluster.seeds"),
              1)
      << "node " << i;
    EXPECT_EQ(c.log_lines(i, "does not vote"), 1) << "node " << i;
  }
}

TEST(node_address, a_wildcard_host_needs_advertise_and_still_tls) {
  auto port = std::to_string(free_port());
  for (std::string host : {"0.0.0.0", "::"}) {
    auto res = run({DTASK_NODE_BIN, "--cluster.host=" + host,
                    "--cluster.port=" + port, "--cluster.insecure=true"},
                   5s);
    EXPECT_EQ(res.rc, 2) << host << ": " << res.err;
    EXPECT_NE(res.err.find("cluster.host"), std::string::npos) << res.err;
    EXPECT_NE(res.err.find("advertise=\"HOST:PORT\""), std::string::npos)
      << res.err;
  }
  // With advertise, a node without TLS still listens only on loopback.
  auto res = run({DTASK_NODE_BIN, "--cluster.host=0.0.0.0",
                  "--cluster.port=" + port,
                  "--cluster.advertise=127.0.0.1:" + port},
                 5s);
  EXPECT_EQ(res.rc, 2) << res.err;
  EXPECT_NE(res.err.find("not a loopback address"), std::string::npos)
    << res.err;
  // An advertised wildcard names nobody either.
  res = run({DTASK_NODE_BIN, "--cluster.port=" + port,
             "--cluster.advertise=0.0.0.0:" + port},
            5s);
  EXPECT_EQ(res.rc, 2) << res.err;
  EXPECT_NE(res.err.find("cluster.advertise"), std::string::npos) << res.err;
}

TEST(node_address, nodes_listen_on_every_interface_under_their_advertised_names) {
  cluster c{3};
  ASSERT_TRUE(c.use_tls());
  c.listen_on_every_interface();
  ASSERT_TRUE(c.start_all());
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(listens_on_every_interface(c.port(i))) << "node " << i;
  auto res = c.cli({"start", "echo", "hi", "--wait"});
  ASSERT_EQ(res.rc, 0) << res.err;
  EXPECT_EQ(res.field("state", 1), "done");
  EXPECT_GE(c.index_of(res.field("node")), 0) << res.field("node");
  res = c.cli({"nodes"});
  ASSERT_EQ(res.lines.size(), 3u) << res.err;
  std::set<std::string> listed;
  std::set<std::string> names;
  for (int i = 0; i < 3; ++i) {
    listed.insert(res.field("node", i));
    names.insert(c.name(i));
  }
  EXPECT_EQ(listed, names);
}
