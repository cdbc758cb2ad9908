// The command line as a user types it: help, usage errors and the arguments
// of a task. The error cases need no cluster (they fail before connecting).

#include <gtest/gtest.h>

#include "cluster_harness.hpp"

using dtask_test::cluster;
using dtask_test::run;
using dtask_test::run_result;

namespace {

std::string text_of(const run_result& res) {
  std::string out;
  for (auto& line : res.lines)
    out += line + "\n";
  return out;
}

/// The CLI with `args`, pointed at a port where nothing listens.
run_result cli_nowhere(std::vector<std::string> args) {
  args.insert(args.begin(), "--connect=127.0.0.1:"
                              + std::to_string(dtask_test::free_port()));
  args.insert(args.begin(), DTASK_CLI_BIN);
  return run(args);
}

} // namespace

TEST(cli, help_describes_every_command_and_option) {
  auto res = run({DTASK_CLI_BIN, "--help"});
  EXPECT_EQ(res.rc, 0);
  auto help = text_of(res);
  for (auto word : {"start", "status", "list", "nodes", "members", "watch",
                    "--connect",
                    "--retry-window", "--config-file", "--middleman.",
                    "--openssl.", "passphrase", "Exit codes"})
    EXPECT_NE(help.find(word), std::string::npos) << word << " in\n" << help;
  struct command_help {
    const char* command;
    std::vector<const char*> mentions;
    std::vector<const char*> not_mentioned;
  };
  for (auto& cmd : {
         command_help{"start",
                      {"TYPE", "ARG", "--name", "--wait", "--timeout",
                       "--restart", "on-node-loss"},
                      {"--limit", "--after"}},
         command_help{"status", {"NAME"}, {"--wait", "--limit"}},
         command_help{"list", {"--limit", "--after", "next"}, {"--wait"}},
         command_help{"nodes", {"orchestrator"}, {"--wait", "--limit"}},
         command_help{"members", {"members"}, {"--wait", "--limit"}},
         command_help{"watch",
                      {"--name", "started", "done", "SIGINT"},
                      {"--wait", "--limit"}}}) {
    res = run({DTASK_CLI_BIN, cmd.command, "--help"});
    EXPECT_EQ(res.rc, 0) << cmd.command;
    help = text_of(res);
    for (auto word : cmd.mentions)
      EXPECT_NE(help.find(word), std::string::npos)
        << cmd.command << ": " << word << " in\n" << help;
    for (auto word : cmd.not_mentioned)
      EXPECT_EQ(help.find(word), std::string::npos)
        << cmd.command << ": " << word << " in\n" << help;
  }
}

TEST(cli, unknown_options_are_usage_errors_naming_them) {
  struct bad {
    std::vector<std::string> args;
    const char* named;
  };
  for (auto& b : {bad{{"--bogus", "nodes"}, "--bogus"},
                  bad{{"start", "echo", "--bogus=1"}, "--bogus=1"},
                  bad{{"start", "echo", "x", "-q"}, "-q"},
                  bad{{"status", "x", "--wait"}, "--wait"},
                  bad{{"nodes", "--limit=2"}, "--limit=2"},
                  bad{{"list", "extra"}, "extra"},
                  bad{{"frobnicate"}, "frobnicate"},
                  bad{{"status"}, "NAME"},
                  bad{{"start"}, "TYPE"},
                  bad{{}, "missing command"}}) {
    auto res = cli_nowhere(b.args);
    EXPECT_EQ(res.rc, 2) << b.named;
    EXPECT_TRUE(res.lines.empty()) << b.named;
    EXPECT_NE(res.err.find(b.named), std::string::npos)
      << b.named << " in: " << res.err;
  }
  auto res = run({DTASK_CLI_BIN, "nodes"});
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("--connect"), std::string::npos) << res.err;
  // A passphrase never comes from the command line (the process list).
  res = cli_nowhere({"--openssl.passphrase=hunter2", "nodes"});
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("openssl.passphrase"), std::string::npos) << res.err;
}

// `--name=` is an empty name, not "take the next argument as the name".
TEST(cli, an_empty_option_value_is_empty_not_the_next_argument) {
  auto res = cli_nowhere({"start", "echo", "--name=", "--wait"});
  EXPECT_EQ(res.rc, 1) << res.err;
  ASSERT_EQ(res.lines.size(), 1u) << res.err;
  EXPECT_EQ(res.field("error"), "invalid_name");
  EXPECT_EQ(res.field("reason"), "the name is empty");
  res = cli_nowhere({"list", "--limit=", "--after=t1"});
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("--limit= takes a whole number"), std::string::npos)
    << res.err;
}

// After `--` everything is a task argument, and a negative number is one
// anywhere.
TEST(cli, arguments_after_a_double_dash_are_task_arguments) {
  cluster c{1};
  ASSERT_TRUE(c.start_all());
  auto res = c.cli({"start", "echo", "-5", "--wait", "--", "--name=x", "-q"});
  EXPECT_EQ(res.rc, 0) << res.err;
  ASSERT_EQ(res.lines.size(), 2u) << res.err;
  EXPECT_NE(res.field("name"), "x");
  EXPECT_EQ(res.field("result", 1), "[-5,\"--name=x\",\"-q\"]");
}
