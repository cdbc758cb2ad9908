// A node's HTTP server (`[http] port`), against real dtask-node processes:
// /metrics checked by promtool and moving with starts and outcomes, each
// error status the server answers, and the status page as headless
// Chromium shows it.

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cluster_harness.hpp"
#include "http_client.hpp"

using dtask_test::cluster;
using dtask_test::http_get;
using dtask_test::http_raw;
using dtask_test::run;
using dtask_test::wait_until;

namespace {

/// The path of `program` in PATH, or empty.
std::string find_program(const std::string& program) {
  std::istringstream path{std::getenv("PATH") != nullptr ? std::getenv("PATH")
                                                         : "/usr/bin:/bin"};
  for (std::string dir; std::getline(path, dir, ':');)
    if (access((dir + "/" + program).c_str(), X_OK) == 0)
      return dir + "/" + program;
  return {};
}

/// Skips the test if `program` is not installed (fails under CI, where
/// scripts/setup installs it).
#define REQUIRE_PROGRAM(program, package)                                      \
  do {                                                                         \
    if (find_program(program).empty()) {                                       \
      if (std::getenv("CI") != nullptr)                                        \
        FAIL() << program " is not installed (Debian: " package ")";           \
      GTEST_SKIP() << program " is not installed (Debian: " package ")";      \
    }                                                                          \
  } while (false)

/// The sum of the samples of `name` in a text exposition whose labels
/// contain `labels` (e.g. `code="already_running"`; empty: any).
double metric(const std::string& text, const std::string& name,
              const std::string& labels = "") {
  std::istringstream in{text};
  double sum = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.compare(0, name.size(), name) != 0)
      continue;
    auto rest = line.substr(name.size());
    if (rest[0] != ' ' && rest[0] != '{')
      continue; // Another metric whose name starts with `name`.
    auto labels_end = rest[0] == '{' ? rest.find('}') : 0;
    if (!labels.empty()
        && rest.substr(0, labels_end).find(labels) == std::string::npos)
      continue;
    sum += std::stod(rest.substr(rest.find(' ', labels_end)));
  }
  return sum;
}

/// promtool's verdict on a scrape: empty if it passes.
std::string promtool_problems(const std::string& text) {
  auto path = ::testing::TempDir() + "dtask-metrics-"
              + std::to_string(getpid()) + ".txt";
  std::ofstream{path} << text;
  auto res = run({"/bin/sh", "-c", "promtool check metrics < " + path});
  std::remove(path.c_str());
  return res.rc == 0 ? std::string{} : res.err + "\n(exit " + std::to_string(res.rc) + ")";
}

std::string scrape(const cluster& c, int i) {
  auto res = http_get(c.http_port(i), "/metrics");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.header("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u)
    << res.head;
  return res.body;
}

/// Where a test leaves files for people to look at: DTASK_TEST_OUTPUT_DIR,
/// else the working directory (ctest's is build/tests).
std::string output_dir() {
  auto dir = std::getenv("DTASK_TEST_OUTPUT_DIR");
  return dir != nullptr ? dir : ".";
}

/// The `<tr ...>...</tr>` of the DOM whose opening tag holds `attr`.
std::string row_with(const std::string& dom, const std::string& attr) {
  auto i = dom.find("<tr " + attr);
  if (i == std::string::npos)
    return {};
  return dom.substr(i, dom.find("</tr>", i) - i);
}

} // namespace

TEST(http, metrics_pass_promtool_and_move_with_starts_and_outcomes) {
  REQUIRE_PROGRAM("promtool", "prometheus");
  cluster c{3};
  c.enable_http();
  ASSERT_TRUE(c.start_all());
  auto orch = c.orchestrator();
  ASSERT_GE(orch, 0);
  auto before = scrape(c, orch);
  EXPECT_EQ(promtool_problems(before), "") << before;
  EXPECT_EQ(metric(before, "dtask_orchestrator"), 1);
  EXPECT_EQ(metric(before, "dtask_members_up"), 3);
  EXPECT_GE(metric(before, "dtask_elections_total"), 1);
  EXPECT_EQ(metric(scrape(c, (orch + 1) % 3), "dtask_orchestrator"), 0);

  EXPECT_EQ(c.cli({"start", "echo", "hi", "--name=m-done", "--wait"}).rc, 0);
  EXPECT_EQ(c.cli({"start", "fail", "no", "--name=m-failed", "--wait"}).rc, 1);
  auto running = c.cli({"start", "sleep", "60000", "--name=m-running"});
  ASSERT_EQ(running.rc, 0);
  EXPECT_EQ(c.cli({"start", "sleep", "1", "--name=m-running"}).field("error"),
            "already_running");

  auto after = scrape(c, orch);
  EXPECT_EQ(promtool_problems(after), "") << after;
  auto delta = [&](const std::string& name, const std::string& labels = "") {
    return metric(after, name, labels) - metric(before, name, labels);
  };
  EXPECT_EQ(delta("dtask_starts_accepted_total"), 3) << after;
  EXPECT_EQ(delta("dtask_starts_refused_total", "code=\"already_running\""), 1)
    << after;
  EXPECT_EQ(delta("dtask_task_outcomes_total", "state=\"done\""), 1) << after;
  EXPECT_EQ(delta("dtask_task_outcomes_total", "state=\"failed\""), 1) << after;
  EXPECT_EQ(delta("dtask_callbacks_sent_total"), 2) << after;
  EXPECT_EQ(delta("dtask_start_latency_seconds_count"), 3) << after;
  EXPECT_GT(delta("dtask_start_latency_seconds_sum"), 0) << after;
  // The running task counts on its own node (its registry's next tick).
  auto node = c.index_of(running.field("node"));
  ASSERT_GE(node, 0);
  EXPECT_TRUE(wait_until(
    [&] { return metric(scrape(c, node), "dtask_tasks_running") == 1; },
    std::chrono::seconds(5)))
    << scrape(c, node);
}

TEST(http, answers_each_error_with_its_status_code) {
  // One node of three: no majority, so no orchestrator to ask.
  cluster c{3};
  c.enable_http();
  ASSERT_TRUE(c.start(0));
  auto port = c.http_port(0);
  EXPECT_EQ(http_get(port, "/metrics").status, 200);
  EXPECT_EQ(http_get(port, "/nope").status, 404);
  auto post = http_raw(port, "POST /metrics HTTP/1.1\r\nHost: x\r\n"
                             "Content-Length: 2\r\nConnection: close\r\n\r\nhi");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("Allow"), "GET");
  EXPECT_EQ(http_raw(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: "
                             + std::string(10000, 'a') + "\r\n\r\n")
              .status,
            431);
  EXPECT_EQ(http_raw(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                           "Content-Length: 100000\r\n\r\n"
                             + std::string(2000, 'b'))
              .status,
            413);
  EXPECT_EQ(http_get(port, "/api/events?since=abc").status, 400);
  auto cluster_view = http_get(port, "/api/cluster");
  EXPECT_EQ(cluster_view.status, 503) << cluster_view.body;
  auto body = nlohmann::json::parse(cluster_view.body, nullptr, false);
  EXPECT_EQ(body.value("error", ""), "no_quorum") << cluster_view.body;
  EXPECT_EQ(body["members"][0].value("node", ""), c.name(0))
    << cluster_view.body;
  EXPECT_EQ(http_get(port, "/api/events").status, 503);
  // At most 64 connections: a 65th is answered 503 and closed.
  std::vector<int> idle;
  for (int i = 0; i < 64; ++i) {
    idle.push_back(dtask_test::http_connect(port));
    ASSERT_GE(idle.back(), 0);
  }
  auto busy = dtask_test::http_exchange(dtask_test::http_connect(port),
                                        "GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                        "Connection: close\r\n\r\n");
  EXPECT_EQ(busy.status, 503) << busy.body;
  EXPECT_NE(busy.body.find("busy"), std::string::npos) << busy.body;
  close(idle.back());
  idle.pop_back();
  EXPECT_TRUE(wait_until([&] { return http_get(port, "/metrics").status == 200; },
                         std::chrono::seconds(5)));
  for (auto fd : idle)
    close(fd);
}

TEST(http, the_status_page_in_chromium_shows_members_orchestrator_and_tasks) {
  REQUIRE_PROGRAM("chromium", "chromium");
  cluster c{3};
  c.enable_http();
  ASSERT_TRUE(c.start_all());
  auto orch = c.orchestrator();
  ASSERT_GE(orch, 0);
  auto started = c.cli({"start", "sleep", "60000", "--name=page-task"});
  ASSERT_EQ(started.rc, 0);
  auto task_node = started.field("node");
  // Any node serves the page; this one does not run the orchestrator.
  auto via = (orch + 1) % 3;
  ASSERT_TRUE(wait_until(
    [&] {
      return http_get(c.http_port(via), "/api/cluster").body.find("\"running\":1")
             != std::string::npos;
    },
    std::chrono::seconds(5)));
  auto url = "http://127.0.0.1:" + std::to_string(c.http_port(via)) + "/";
  auto profile = c.dir() + "/chromium";
  std::vector<std::string> chromium{find_program("chromium"), "--headless",
                                    "--no-sandbox",
                                    "--disable-gpu", "--hide-scrollbars",
                                    "--user-data-dir=" + profile,
                                    "--virtual-time-budget=5000"};
  auto dump = chromium;
  dump.insert(dump.end(), {"--dump-dom", url});
  auto res = run(dump, std::chrono::seconds(60));
  ASSERT_EQ(res.rc, 0) << res.err;
  std::string dom;
  for (auto& line : res.lines)
    dom += line + "\n";
  EXPECT_NE(dom.find("id=\"orchestrator\">" + c.name(orch) + "<"),
            std::string::npos)
    << dom;
  for (int i = 0; i < 3; ++i) {
    auto row = row_with(dom, "data-node=\"" + c.name(i) + "\"");
    ASSERT_FALSE(row.empty()) << c.name(i) << " in\n" << dom;
    EXPECT_EQ(row.find("<td>up</td>") != std::string::npos, true) << row;
    EXPECT_EQ(row.find(">orchestrator<") != std::string::npos, i == orch)
      << row;
    auto running = c.name(i) == task_node ? ">1</td>" : ">0</td>";
    EXPECT_NE(row.find(running), std::string::npos) << row;
  }
  auto event = row_with(dom, "data-event=\"started\" data-name=\"page-task\"");
  EXPECT_NE(event.find(task_node), std::string::npos) << dom;
  auto shot = output_dir() + "/status-page.png";
  std::remove(shot.c_str());
  auto picture = chromium;
  picture.insert(picture.end(),
                 {"--window-size=1100,700", "--screenshot=" + shot, url});
  res = run(picture, std::chrono::seconds(60));
  EXPECT_EQ(res.rc, 0) << res.err;
  std::ifstream png{shot, std::ios::binary};
  char magic[4] = {};
  png.read(magic, 4);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG") << "no screenshot at " << shot;
  std::cerr << "status page screenshot: " << shot << std::endl;
}
