// `dtask watch`: lifecycle events as JSON lines as they happen, against
// real dtask-node processes.

#include <algorithm>
#include <csignal>
#include <fstream>

#include <gtest/gtest.h>

#include "cluster_harness.hpp"

using dtask_test::cluster;
using dtask_test::json_field;
using dtask_test::spawn_logged;
using dtask_test::wait_exit;
using dtask_test::wait_until;

namespace {

/// A `dtask watch` running in the background, its output in a file.
class watcher {
public:
  /// Watches through node `via`.
  watcher(const cluster& c, int via, const std::string& log,
          std::vector<std::string> extra = {})
    : log_(log) {
    std::vector<std::string> argv{DTASK_CLI_BIN,
                                  "--connect=" + c.name(via), "watch"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    pid_ = spawn_logged(argv, log_);
  }

  ~watcher() {
    if (pid_ > 0)
      kill(pid_, SIGKILL), wait_exit(pid_, std::chrono::seconds(5));
  }

  /// Waits (bounded) until it says it watches.
  bool subscribed() const {
    return wait_until([&] { return !lines_with("dtask: watching").empty(); },
                      std::chrono::seconds(10));
  }

  /// The lines of its output that contain `text`.
  std::vector<std::string> lines_with(const std::string& text) const {
    std::ifstream in{log_};
    std::vector<std::string> result;
    for (std::string line; std::getline(in, line);)
      if (line.find(text) != std::string::npos)
        result.push_back(line);
    return result;
  }

  /// The `event` of each JSON line about the task `name`, in order.
  std::vector<std::string> events_of(const std::string& name) const {
    std::vector<std::string> result;
    for (auto& line : lines_with("\"name\":\"" + name + "\""))
      result.push_back(json_field(line, "event"));
    return result;
  }

  /// Waits (bounded) until the task `name` had the event `event`.
  bool saw(const std::string& name, const std::string& event) const {
    return wait_until(
      [&] {
        auto xs = events_of(name);
        return std::find(xs.begin(), xs.end(), event) != xs.end();
      },
      std::chrono::seconds(10));
  }

  /// SIGINT, then its exit status (bounded).
  int interrupt() {
    kill(pid_, SIGINT);
    auto rc = wait_exit(pid_, std::chrono::seconds(10));
    pid_ = 0;
    return rc;
  }

private:
  std::string log_;
  int pid_ = 0;
};

using events = std::vector<std::string>;

} // namespace

TEST(watch, prints_started_and_done_lines_and_honours_name) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  watcher all{c, 0, c.dir() + "/watch-all.log"};
  watcher one{c, 1, c.dir() + "/watch-one.log", {"--name=w-one"}};
  ASSERT_TRUE(all.subscribed());
  ASSERT_TRUE(one.subscribed());
  EXPECT_EQ(c.cli({"start", "echo", "1", "--name=w-one", "--wait"}).rc, 0);
  EXPECT_EQ(c.cli({"start", "fail", "no", "--name=w-two", "--wait"}).rc, 1);
  ASSERT_TRUE(all.saw("w-two", "failed"));
  ASSERT_TRUE(one.saw("w-one", "done"));
  EXPECT_EQ(all.events_of("w-one"), (events{"started", "done"}));
  EXPECT_EQ(all.events_of("w-two"), (events{"started", "failed"}));
  EXPECT_EQ(one.events_of("w-one"), (events{"started", "done"}));
  EXPECT_TRUE(one.events_of("w-two").empty());
  auto done = one.lines_with("\"event\":\"done\"");
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(json_field(done[0], "result"), "[1]") << done[0];
  EXPECT_EQ(json_field(done[0], "state"), "done") << done[0];
  EXPECT_FALSE(json_field(done[0], "node").empty()) << done[0];
  EXPECT_FALSE(json_field(done[0], "time").empty()) << done[0];
  EXPECT_EQ(all.interrupt(), 0);
  EXPECT_EQ(one.interrupt(), 0);
}

TEST(watch, follows_the_orchestrator_to_the_next_one) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  auto orch = c.orchestrator();
  ASSERT_GE(orch, 0);
  // The watcher connects through a node that survives.
  auto gateway = orch == 0 ? 1 : 0;
  watcher w{c, gateway, c.dir() + "/watch.log"};
  ASSERT_TRUE(w.subscribed());
  // A task on the orchestrator's node, lost with it.
  std::string doomed;
  for (int i = 0; i < 40 && doomed.empty(); ++i) {
    auto name = "w-doomed-" + std::to_string(i);
    auto res = c.cli({"start", "sleep", "60000", "--name=" + name}, gateway);
    ASSERT_EQ(res.rc, 0);
    if (res.field("node") == c.name(orch))
      doomed = name;
  }
  ASSERT_FALSE(doomed.empty());
  c.signal(orch, SIGKILL);
  // Declared lost by the next orchestrator, which the watcher follows.
  EXPECT_TRUE(w.saw(doomed, "lost"));
  EXPECT_EQ(c.cli({"start", "echo", "2", "--name=w-after", "--wait"}, gateway).rc,
            0);
  EXPECT_TRUE(w.saw("w-after", "done"));
  EXPECT_EQ(w.interrupt(), 0);
}
