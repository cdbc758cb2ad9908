// Task name validation.

#include <gtest/gtest.h>

#include "dtask/names.hpp"

TEST(names, accepts_ordinary_names) {
  EXPECT_EQ(dtask::check_name("report-2026-11-28"), "");
  EXPECT_EQ(dtask::check_name("x"), "");
  EXPECT_EQ(dtask::check_name("caf\xc3\xa9 tasks/\xe2\x9c\x93"), ""); // UTF-8
  EXPECT_EQ(dtask::check_name(std::string(255, 'a')), "");
}

TEST(names, refuses_empty_long_and_control_characters) {
  EXPECT_NE(dtask::check_name(""), "");
  EXPECT_NE(dtask::check_name(std::string(256, 'a')).find("256 bytes"),
            std::string::npos);
  EXPECT_NE(dtask::check_name("a\nb").find("control character at byte 1"),
            std::string::npos);
  EXPECT_NE(dtask::check_name(std::string("a\0b", 3)), "");
  EXPECT_NE(dtask::check_name("tab\there"), "");
  EXPECT_NE(dtask::check_name("del\x7f"), "");
}
