// The orchestrator's lifecycle events (actors/event_feed.hpp): numbering,
// the bound on kept events, progress sent but not kept, and subscribers.

#include <gtest/gtest.h>

#include "event_feed.hpp"

namespace {

using feed = dtask::event_feed<int>;

dtask::task_event event(dtask::event_kind kind, const std::string& name) {
  dtask::task_event ev;
  ev.kind = kind;
  ev.status.name = name;
  return ev;
}

std::vector<uint64_t> seqs(const std::vector<dtask::task_event>& xs) {
  std::vector<uint64_t> result;
  for (auto& x : xs)
    result.push_back(x.seq);
  return result;
}

} // namespace

TEST(event_feed, numbers_events_from_one_and_keeps_the_latest) {
  feed f{3};
  EXPECT_EQ(f.last_seq(), 0u);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(f.record(event(dtask::event_kind::started, "a")).seq,
              static_cast<uint64_t>(i + 1));
  EXPECT_EQ(f.last_seq(), 5u);
  // Only the 3 latest are kept, oldest first.
  EXPECT_EQ(seqs(f.latest({})), (std::vector<uint64_t>{3, 4, 5}));
}

TEST(event_feed, latest_answers_those_after_a_seq_up_to_a_limit) {
  feed f{10};
  for (int i = 0; i < 6; ++i)
    f.record(event(dtask::event_kind::done, "a"));
  EXPECT_EQ(seqs(f.latest({4, 0})), (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(seqs(f.latest({0, 2})), (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(seqs(f.latest({1, 2})), (std::vector<uint64_t>{5, 6}));
  EXPECT_TRUE(f.latest({6, 0}).empty());
  EXPECT_TRUE(f.latest({99, 0}).empty());
}

TEST(event_feed, progress_is_numbered_but_not_kept) {
  feed f{10};
  f.record(event(dtask::event_kind::started, "a"));
  auto& p = f.record(event(dtask::event_kind::progress, "a"));
  EXPECT_EQ(p.seq, 2u);
  EXPECT_EQ(p.kind, dtask::event_kind::progress);
  f.record(event(dtask::event_kind::done, "a"));
  EXPECT_EQ(seqs(f.latest({})), (std::vector<uint64_t>{1, 3}));
}

TEST(event_feed, subscribers_are_bounded_and_subscribe_once) {
  feed f{10, 2};
  EXPECT_EQ(f.subscribe(1, ""), feed::subscription::added);
  EXPECT_EQ(f.subscribe(2, "a"), feed::subscription::added);
  EXPECT_EQ(f.subscribe(3, ""), feed::subscription::full);
  EXPECT_EQ(f.subscribe(2, "b"), feed::subscription::changed);
  EXPECT_EQ(f.subscribers(), 2u);
  EXPECT_TRUE(f.unsubscribe(1));
  EXPECT_FALSE(f.unsubscribe(1));
  EXPECT_EQ(f.subscribe(3, ""), feed::subscription::added);
}

TEST(event_feed, a_name_filter_passes_only_that_tasks_events) {
  feed f;
  f.subscribe(1, "");
  f.subscribe(2, "a");
  f.subscribe(3, "b");
  auto who = [&](const std::string& name) {
    std::vector<int> result;
    f.for_each_subscriber(event(dtask::event_kind::done, name),
                          [&](int s) { result.push_back(s); });
    return result;
  };
  EXPECT_EQ(who("a"), (std::vector<int>{1, 2}));
  EXPECT_EQ(who("b"), (std::vector<int>{1, 3}));
  EXPECT_EQ(who("c"), (std::vector<int>{1}));
}
