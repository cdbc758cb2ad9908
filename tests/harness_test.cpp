// The test harness's own parts that every multi-process test relies on.

#include <gtest/gtest.h>

#include "cluster_harness.hpp"

using dtask_test::json_field;

TEST(harness, json_field_reads_each_kind_of_value) {
  auto line = std::string{"{\"name\":\"a\",\"epoch\":1099511627777,"
                          "\"stale\":true,\"result\":[\"x\",7],"
                          "\"none\":null}"};
  EXPECT_EQ(json_field(line, "name"), "a");
  EXPECT_EQ(json_field(line, "epoch"), "1099511627777");
  EXPECT_EQ(json_field(line, "stale"), "true");
  EXPECT_EQ(json_field(line, "result"), "[\"x\",7]");
  EXPECT_EQ(json_field(line, "none"), "null");
  EXPECT_EQ(json_field(line, "missing"), "");
  EXPECT_EQ(json_field("not json", "name"), "");
  EXPECT_EQ(json_field("[1,2]", "name"), "");
}

// Reasons and results are whatever a task made: a `]`, `,`, `}` or quote
// inside a string is part of the value, and an escape is decoded.
TEST(harness, json_field_reads_strings_with_brackets_commas_and_escapes) {
  auto line = std::string{"{\"state\":\"failed\",\"reason\":\"bad ],{ \\\"x\\\"\","
                          "\"result\":[\"a],b\",\"c}\"],\"next\":\"\\u00e9\"}"};
  EXPECT_EQ(json_field(line, "reason"), "bad ],{ \"x\"");
  EXPECT_EQ(json_field(line, "result"), "[\"a],b\",\"c}\"]");
  EXPECT_EQ(json_field(line, "next"), "\xc3\xa9");
  // A key's name inside a string value is not the key.
  line = "{\"reason\":\"\\\"state\\\":\\\"done\\\"\",\"state\":\"failed\"}";
  EXPECT_EQ(json_field(line, "state"), "failed");
}
