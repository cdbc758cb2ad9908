// The [cluster] section: every broken value is refused with its key named.

#include <fstream>
#include <sstream>

#include <caf/actor_system_config.hpp>
#include <gtest/gtest.h>

#include "dtask/config.hpp"
#include "dtask/node.hpp"

namespace {

/// Parses an INI text the way a node parses its file, then reads [cluster].
std::string read(const std::string& ini, dtask::node_config& out) {
  std::istringstream in{ini};
  auto parsed = caf::actor_system_config::parse_config(in);
  if (!parsed)
    return "parse error: " + caf::to_string(parsed.error());
  auto i = parsed->find("cluster");
  if (i == parsed->end())
    return {};
  auto dict = caf::get_if<caf::config_value::dictionary>(&i->second.get_data());
  return dtask::read_cluster_config(*dict, out);
}

std::string error_of(const std::string& ini) {
  dtask::node_config cfg;
  return read(ini, cfg);
}

} // namespace

TEST(config, defaults_are_a_single_node_on_4100) {
  dtask::node_config cfg;
  EXPECT_EQ(cfg.name(), "127.0.0.1:4100");
  EXPECT_TRUE(cfg.seeds.empty());
  EXPECT_EQ(cfg.finished_ttl, std::chrono::seconds(60));
}

TEST(config, reads_a_complete_section) {
  dtask::node_config cfg;
  auto err = read("[cluster]\nhost=\"10.0.0.5\"\nport=4102\n"
                  "seeds=[\"10.0.0.4:4101\", \"node-3.local:4103\"]\n"
                  "finished-ttl=2s\nmax-args-bytes=1024\n"
                  "retry-interval=250ms\n",
                  cfg);
  ASSERT_EQ(err, "");
  EXPECT_EQ(cfg.name(), "10.0.0.5:4102");
  ASSERT_EQ(cfg.seeds.size(), 2u);
  EXPECT_EQ(cfg.seeds[1].host, "node-3.local");
  EXPECT_EQ(cfg.seeds[1].port, 4103);
  EXPECT_EQ(cfg.finished_ttl, std::chrono::seconds(2));
  EXPECT_EQ(cfg.max_args_bytes, 1024u);
  EXPECT_EQ(cfg.retry_interval, std::chrono::milliseconds(250));
}

TEST(config, names_the_key_of_a_wrong_type) {
  EXPECT_NE(error_of("[cluster]\nport=\"abc\"\n").find("cluster.port"),
            std::string::npos);
  EXPECT_NE(error_of("[cluster]\nhost=12\n").find("cluster.host"),
            std::string::npos);
  EXPECT_NE(error_of("[cluster]\nseeds=\"127.0.0.1:1\"\n").find(
              "cluster.seeds"),
            std::string::npos);
  EXPECT_NE(error_of("[cluster]\nfinished-ttl=60\n").find(
              "cluster.finished-ttl"),
            std::string::npos);
  EXPECT_NE(error_of("[cluster]\nmax-args-bytes=-1\n").find(
              "cluster.max-args-bytes"),
            std::string::npos);
}

TEST(config, refuses_ports_out_of_range) {
  EXPECT_NE(error_of("[cluster]\nport=70000\n").find("cluster.port"),
            std::string::npos);
  EXPECT_NE(error_of("[cluster]\nport=0\n").find("cluster.port"),
            std::string::npos);
}

TEST(config, refuses_malformed_seeds) {
  for (auto seed : {"nohost", ":4101", "host:", "host:99999", "host:12a"})
    EXPECT_NE(error_of("[cluster]\nseeds=[\"" + std::string{seed} + "\"]\n")
                .find("cluster.seeds"),
              std::string::npos)
      << seed;
  EXPECT_NE(error_of("[cluster]\nseeds=[4101]\n").find("cluster.seeds"),
            std::string::npos);
}

TEST(config, refuses_unknown_keys) {
  EXPECT_NE(error_of("[cluster]\nprot=4101\n").find("cluster.prot: unknown"),
            std::string::npos);
}

TEST(config, command_line_overrides_the_file_and_is_checked_too) {
  auto path = ::testing::TempDir() + "dtask-unit-config.ini";
  std::ofstream{path} << "[cluster]\nport=4101\nfinished-ttl=5s\n";
  std::vector<std::string> args{"--config-file=" + path, "--cluster.port=4200",
                                "--scheduler.max-threads=2"};
  dtask::node_config cfg;
  EXPECT_EQ(dtask::read_node_config(args, cfg), "");
  EXPECT_EQ(cfg.port, 4200);
  EXPECT_EQ(cfg.finished_ttl, std::chrono::seconds(5));
  // The [cluster] overrides are consumed; CAF's own options are left.
  EXPECT_EQ(args, (std::vector<std::string>{"--config-file=" + path,
                                            "--scheduler.max-threads=2"}));
  std::vector<std::string> bad{"--cluster.port=abc"};
  EXPECT_NE(dtask::read_node_config(bad, cfg).find("cluster.port"),
            std::string::npos);
  std::vector<std::string> missing{"--config-file=/nonexistent/dtask.ini"};
  EXPECT_NE(dtask::read_node_config(missing, cfg).find("/nonexistent"),
            std::string::npos);
}

TEST(config, insecure_is_a_bool) {
  dtask::node_config cfg;
  ASSERT_EQ(read("[cluster]\ninsecure=true\n", cfg), "");
  EXPECT_TRUE(cfg.insecure);
  EXPECT_NE(error_of("[cluster]\ninsecure=\"yes\"\n").find("cluster.insecure"),
            std::string::npos);
}

TEST(config, without_tls_only_loopback_hosts_may_listen) {
  dtask::node_config cfg;
  for (auto host : {"127.0.0.1", "127.3.2.1", "localhost", "::1"}) {
    cfg.host = host;
    EXPECT_EQ(dtask::exposure_error(cfg, false), "") << host;
  }
  for (auto host : {"10.0.0.5", "0.0.0.0", "node-3.local"}) {
    cfg.host = host;
    auto err = dtask::exposure_error(cfg, false);
    EXPECT_NE(err.find("cluster.host"), std::string::npos) << host;
    EXPECT_NE(err.find("insecure=true"), std::string::npos) << host;
    EXPECT_EQ(dtask::exposure_error(cfg, true), "") << host; // TLS.
  }
  cfg.insecure = true;
  EXPECT_EQ(dtask::exposure_error(cfg, false), "");
}

TEST(config, tls_needs_a_certificate_a_key_and_a_ca) {
  caf::actor_system_config cfg;
  EXPECT_EQ(dtask::tls_config_error(cfg), ""); // No TLS at all.
  cfg.openssl_cafile = "/nonexistent/ca.pem";
  EXPECT_NE(dtask::tls_config_error(cfg).find("openssl.certificate"),
            std::string::npos);
  cfg.openssl_certificate = "/nonexistent/node.pem";
  EXPECT_NE(dtask::tls_config_error(cfg).find("openssl.key"),
            std::string::npos);
  cfg.openssl_key = "/nonexistent/node.key";
  // All named, but the files cannot be loaded: the first one is named.
  EXPECT_NE(dtask::tls_config_error(cfg).find("cannot load /nonexistent/node.pem"),
            std::string::npos);
  EXPECT_EQ(dtask::command_line_secret({"--openssl.key=k"}), "");
  EXPECT_NE(dtask::command_line_secret({"--openssl.passphrase=x"}), "");
}

TEST(config, bounds_are_positive_integers) {
  for (auto key : {"max-args-bytes", "max-running", "max-finished",
                   "max-result-bytes", "max-list", "max-members"}) {
    auto named = "cluster." + std::string{key};
    for (auto bad : {"0", "-1", "\"100\"", "1.5"})
      EXPECT_NE(error_of("[cluster]\n" + std::string{key} + "=" + bad + "\n")
                  .find(named + ": expected a positive integer"),
                std::string::npos)
        << key << "=" << bad;
  }
  dtask::node_config cfg;
  EXPECT_EQ(cfg.max_finished, 1000000u);
  ASSERT_EQ(read("[cluster]\nmax-finished=7\n", cfg), "");
  EXPECT_EQ(cfg.max_finished, 7u);
  EXPECT_EQ(cfg.max_result_bytes, 65536u);
  ASSERT_EQ(read("[cluster]\nmax-result-bytes=100\n", cfg), "");
  EXPECT_EQ(cfg.max_result_bytes, 100u);
  EXPECT_EQ(cfg.max_list, 1000u);
  ASSERT_EQ(read("[cluster]\nmax-list=5\n", cfg), "");
  EXPECT_EQ(cfg.max_list, 5u);
}

// The voters must all fit: a node would refuse one of them.
TEST(config, max_members_holds_every_seed) {
  auto seeds = std::string{"seeds=[\"127.0.0.1:4101\", \"127.0.0.1:4102\", "
                           "\"127.0.0.1:4103\"]\n"};
  EXPECT_NE(error_of("[cluster]\n" + seeds + "max-members=2\n")
              .find("cluster.max-members: 2 is fewer than the 3 seeds"),
            std::string::npos);
  dtask::node_config cfg;
  EXPECT_EQ(cfg.max_members, 1000u);
  ASSERT_EQ(read("[cluster]\n" + seeds + "max-members=3\n", cfg), "");
  EXPECT_EQ(cfg.max_members, 3u);
}

// -- the node's own address ---------------------------------------------------

TEST(config, advertise_is_the_name_apart_from_where_the_node_listens) {
  dtask::node_config cfg;
  ASSERT_EQ(read("[cluster]\nhost=\"0.0.0.0\"\nport=4101\n"
                 "advertise=\"node-1.example:4201\"\n",
                 cfg),
            "");
  EXPECT_EQ(cfg.host, "0.0.0.0");
  EXPECT_EQ(cfg.port, 4101);
  EXPECT_EQ(cfg.name(), "node-1.example:4201");
  // Without seeds, the node votes alone, under its name.
  EXPECT_EQ(cfg.voters(), std::vector<std::string>{"node-1.example:4201"});
  for (auto bad : {"\"node-1\"", "\"node-1:0\"", "4201", "\"0.0.0.0:4101\"",
                   "\":::4101\""})
    EXPECT_NE(error_of("[cluster]\nadvertise=" + std::string{bad} + "\n")
                .find("cluster.advertise"),
              std::string::npos)
      << bad;
}

TEST(config, a_wildcard_host_without_advertise_is_refused) {
  for (auto host : {"0.0.0.0", "::"}) {
    auto err = error_of("[cluster]\nhost=\"" + std::string{host} + "\"\n");
    EXPECT_NE(err.find("cluster.host"), std::string::npos) << err;
    EXPECT_NE(err.find("set [cluster] advertise=\"HOST:PORT\""),
              std::string::npos)
      << err;
    dtask::node_config cfg;
    cfg.host = host;
    EXPECT_EQ(dtask::identity_error(cfg), err); // For start_node too.
  }
}

TEST(config, a_node_outside_its_seeds_is_warned_that_it_does_not_vote) {
  dtask::node_config cfg;
  EXPECT_EQ(dtask::non_voter_warning(cfg), ""); // No seeds: votes alone.
  cfg.port = 4104;
  cfg.seeds = {{"127.0.0.1", 4101}, {"127.0.0.1", 4102}};
  auto warning = dtask::non_voter_warning(cfg);
  EXPECT_NE(warning.find("127.0.0.1:4104 is not among cluster.seeds"),
            std::string::npos)
    << warning;
  EXPECT_NE(warning.find("does not vote"), std::string::npos) << warning;
  cfg.seeds.push_back({"127.0.0.1", 4104});
  EXPECT_EQ(dtask::non_voter_warning(cfg), "");
  // With advertise, the name counts, not where the node listens.
  cfg.advertise = {"node-4.example", 4104};
  EXPECT_NE(dtask::non_voter_warning(cfg), "");
  cfg.seeds.back() = cfg.advertise;
  EXPECT_EQ(dtask::non_voter_warning(cfg), "");
}

TEST(config, a_seed_that_is_the_node_itself_under_another_name_is_refused) {
  dtask::node_config cfg;
  cfg.port = 4101;
  cfg.seeds = {{"127.0.0.1", 4101}, {"127.0.0.1", 4102}, {"localhost", 4102}};
  EXPECT_EQ(dtask::identity_error(cfg), "");
  cfg.seeds.push_back({"localhost", 4101});
  auto err = dtask::identity_error(cfg);
  EXPECT_NE(err.find("cluster.seeds: \"localhost:4101\" is this node itself"),
            std::string::npos)
    << err;
  // The node's name spelled as a host name, the seed as its address.
  cfg.host = "localhost";
  cfg.seeds = {{"127.0.0.1", 4101}};
  EXPECT_NE(dtask::identity_error(cfg).find("\"127.0.0.1:4101\""),
            std::string::npos);
  // Listening everywhere, the node is each local address on its port.
  cfg.host = "0.0.0.0";
  cfg.advertise = {"10.255.255.1", 4101};
  cfg.seeds = {{"10.255.255.1", 4101}, {"10.255.255.2", 4101}};
  EXPECT_EQ(dtask::identity_error(cfg), "");
  cfg.seeds.push_back({"127.0.0.1", 4101});
  EXPECT_NE(dtask::identity_error(cfg).find("\"127.0.0.1:4101\""),
            std::string::npos);
}

namespace {

std::string read_http(const std::string& ini, dtask::http_config& out) {
  std::istringstream in{ini};
  auto parsed = caf::actor_system_config::parse_config(in);
  if (!parsed)
    return "parse error: " + caf::to_string(parsed.error());
  auto i = parsed->find("http");
  if (i == parsed->end())
    return {};
  auto dict = caf::get_if<caf::config_value::dictionary>(&i->second.get_data());
  return dtask::read_http_config(*dict, out);
}

} // namespace

TEST(config, http_is_off_unless_a_port_is_set) {
  dtask::http_config http;
  EXPECT_FALSE(http.enabled());
  ASSERT_EQ(read_http("[http]\nport=9100\nhost=\"127.0.0.2\"\n", http), "");
  EXPECT_TRUE(http.enabled());
  EXPECT_EQ(http.port, 9100);
  EXPECT_EQ(http.host, "127.0.0.2");
  dtask::http_config bad;
  EXPECT_NE(read_http("[http]\nport=\"x\"\n", bad).find("http.port"),
            std::string::npos);
  EXPECT_NE(read_http("[http]\nport=70000\n", bad).find("http.port"),
            std::string::npos);
  EXPECT_NE(read_http("[http]\nprot=1\n", bad).find("http.prot"),
            std::string::npos);
}

TEST(config, http_listens_on_loopback_unless_the_node_uses_tls) {
  dtask::node_config cfg;
  cfg.host = "10.0.0.5";
  cfg.http.port = 9100;
  EXPECT_EQ(dtask::http_host(cfg, false), "127.0.0.1");
  EXPECT_EQ(dtask::http_host(cfg, true), "10.0.0.5");
  EXPECT_EQ(dtask::http_exposure_error(cfg, false), "");
  cfg.http.host = "10.0.0.5";
  EXPECT_NE(dtask::http_exposure_error(cfg, false).find("http.host"),
            std::string::npos);
  EXPECT_EQ(dtask::http_exposure_error(cfg, true), "");
  cfg.insecure = true;
  EXPECT_EQ(dtask::http_exposure_error(cfg, false), "");
}

TEST(config, http_keys_come_from_the_file_and_the_command_line) {
  auto path = ::testing::TempDir() + "dtask-unit-config-http.ini";
  std::ofstream{path} << "[cluster]\nport=4101\n[http]\nport=9100\n";
  std::vector<std::string> args{"--config-file=" + path, "--http.port=9200"};
  dtask::node_config cfg;
  EXPECT_EQ(dtask::read_node_config(args, cfg), "");
  EXPECT_EQ(cfg.http.port, 9200);
  EXPECT_EQ(args, (std::vector<std::string>{"--config-file=" + path}));
  std::vector<std::string> bad{"--http.port=abc"};
  EXPECT_NE(dtask::read_node_config(bad, cfg).find("http.port"),
            std::string::npos);
}
