// Mutual TLS between nodes and clients, and the rule that a node without TLS
// listens only on loopback: real `dtask-node` processes, the CLI as a user
// runs it, certificates from scripts/certs.

#include <csignal>

#include <gtest/gtest.h>

#include "cluster_harness.hpp"
#include "dtask/ring.hpp"

using namespace std::chrono_literals;
using dtask_test::cluster;
using dtask_test::run;
using dtask_test::wait_until;

namespace {

std::vector<std::string> cli_argv(const cluster& c, int via,
                                  std::vector<std::string> flags,
                                  std::vector<std::string> args) {
  std::vector<std::string> argv{DTASK_CLI_BIN, "--connect=" + c.name(via),
                                "--retry-window=1000"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

} // namespace

TEST(tls, a_tls_cluster_starts_refuses_duplicates_calls_back_and_fails_over) {
  cluster c{3};
  ASSERT_TRUE(c.use_tls());
  ASSERT_TRUE(c.start_all());
  // A start with a callback (the CLI's --wait).
  auto res = c.cli({"start", "echo", "hi", "--wait"});
  ASSERT_EQ(res.rc, 0) << res.err;
  ASSERT_EQ(res.lines.size(), 2u);
  EXPECT_EQ(res.field("state", 1), "done");
  // A running name, its duplicate and its status.
  res = c.cli({"start", "sleep", "60000", "--name=long"});
  ASSERT_EQ(res.rc, 0) << res.err;
  auto long_node = res.field("node");
  auto dup = c.cli({"start", "sleep", "1", "--name=long"});
  EXPECT_EQ(dup.rc, 1);
  EXPECT_EQ(dup.field("error"), "already_running");
  EXPECT_EQ(c.cli({"status", "long"}).field("state"), "running");
  // SIGKILL of the orchestrator's node: the survivors elect a new one, and
  // the task is lost if it ran there, else it runs on.
  auto orch = c.orchestrator();
  ASSERT_GE(orch, 0);
  auto survivor = (orch + 1) % 3;
  c.signal(orch, SIGKILL);
  res = c.cli({"start", "echo", "after", "--wait"}, survivor);
  ASSERT_EQ(res.rc, 0) << res.err;
  EXPECT_EQ(res.field("state", 1), "done");
  auto expected = long_node == c.name(orch) ? "lost" : "running";
  EXPECT_TRUE(wait_until(
    [&] {
      return c.cli({"status", "long"}, survivor).field("state") == expected;
    },
    10s))
    << "status of long, expected " << expected;
}

TEST(tls, peers_without_a_cluster_certificate_are_refused_and_it_serves_on) {
  cluster c{3};
  ASSERT_TRUE(c.use_tls());
  ASSERT_TRUE(c.start_all());
  // Plaintext (no certificate at all): the handshake fails.
  auto plain = run(cli_argv(c, 0, {}, {"nodes"}));
  EXPECT_EQ(plain.rc, 2) << plain.err;
  EXPECT_NE(plain.err.find("cannot connect"), std::string::npos) << plain.err;
  // A certificate of another CA.
  auto other = c.dir() + "/other-ca";
  ASSERT_EQ(run({DTASK_SOURCE_DIR "/scripts/certs", other, "client"}).rc, 0);
  auto rogue = run(cli_argv(c, 0,
                            {"--openssl.certificate=" + other + "/client.pem",
                             "--openssl.key=" + other + "/client.key",
                             "--openssl.cafile=" + other + "/ca.pem"},
                            {"nodes"}));
  EXPECT_EQ(rogue.rc, 2) << rogue.err;
  // The cluster's CA but no certificate of its own: refused before trying.
  auto half = run(cli_argv(
    c, 0, {"--openssl.cafile=" + c.certs_dir() + "/ca.pem"}, {"nodes"}));
  EXPECT_EQ(half.rc, 2);
  EXPECT_NE(half.err.find("openssl.certificate"), std::string::npos)
    << half.err;
  // The nodes kept serving, and kept their links to each other: a failed
  // handshake, or a client gone without closing TLS, must not make CAF
  // drop other connections (the OpenSSL error queue, see node.cpp).
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(run(cli_argv(c, i % 3, {}, {"nodes"})).rc, 2);
    EXPECT_EQ(c.cli({"nodes"}, i % 3).rc, 0);
  }
  auto good = c.cli({"nodes"});
  EXPECT_EQ(good.rc, 0) << good.err;
  EXPECT_EQ(good.lines.size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(c.downs(i), 0) << "node " << i << " lost a peer";
}

TEST(tls, without_tls_a_node_listens_only_on_loopback) {
  auto port = std::to_string(dtask_test::free_port());
  auto exposed = run({DTASK_NODE_BIN, "--cluster.host=10.255.255.1",
                      "--cluster.port=" + port},
                     10s);
  EXPECT_EQ(exposed.rc, 2);
  EXPECT_NE(exposed.err.find("insecure=true"), std::string::npos)
    << exposed.err;
  EXPECT_NE(exposed.err.find("TLS"), std::string::npos) << exposed.err;
  // Accepted with insecure=true (then binding that address fails here,
  // after the warning: exit 1, not 2).
  auto insecure = run({DTASK_NODE_BIN, "--cluster.host=10.255.255.1",
                       "--cluster.port=" + port, "--cluster.insecure=true"},
                      10s);
  EXPECT_EQ(insecure.rc, 1) << insecure.err;
  EXPECT_NE(insecure.err.find("WARNING"), std::string::npos) << insecure.err;
}

TEST(tls, a_broken_tls_configuration_stops_the_node_naming_the_key) {
  cluster c{2};
  ASSERT_TRUE(c.use_tls());
  auto port = std::to_string(dtask_test::free_port());
  auto certs = c.certs_dir();
  // A key that does not belong to the certificate.
  auto mismatch = run({DTASK_NODE_BIN, "--cluster.port=" + port,
                       "--openssl.certificate=" + certs + "/node0.pem",
                       "--openssl.key=" + certs + "/node1.key",
                       "--openssl.cafile=" + certs + "/ca.pem"},
                      10s);
  EXPECT_EQ(mismatch.rc, 2);
  EXPECT_NE(mismatch.err.find("openssl.key"), std::string::npos)
    << mismatch.err;
  // A passphrase on the command line.
  auto secret = run({DTASK_NODE_BIN, "--cluster.port=" + port,
                     "--openssl.passphrase=hunter2"},
                    10s);
  EXPECT_EQ(secret.rc, 2);
  EXPECT_NE(secret.err.find("DTASK_TLS_PASSPHRASE"), std::string::npos)
    << secret.err;
}
