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

// -- UTF-8 --------------------------------------------------------------------

namespace {

/// The byte `check_name` names for `name`, or "" if it takes the name.
std::string utf8_refusal(const std::string& name) {
  auto why = dtask::check_name(name);
  const std::string prefix = "the name is not valid UTF-8 at byte ";
  if (why.empty())
    return "";
  return why.rfind(prefix, 0) == 0 ? why.substr(prefix.size()) : why;
}

} // namespace

TEST(names, accepts_utf8_of_every_length_up_to_the_last_code_point) {
  for (auto name : {"\xc2\x80",              // U+0080, first of 2 bytes
                    "\xdf\xbf",              // U+07FF
                    "\xe0\xa0\x80",          // U+0800, first of 3 bytes
                    "\xed\x9f\xbf",          // U+D7FF, below the surrogates
                    "\xee\x80\x80",          // U+E000, above them
                    "\xef\xbf\xbf",          // U+FFFF
                    "\xf0\x90\x80\x80",      // U+10000, first of 4 bytes
                    "\xf4\x8f\xbf\xbf",      // U+10FFFF, the last
                    "na\xc3\xafve-\xe6\x97\xa5\xe6\x9c\xac-\xf0\x9f\x98\x80"})
    EXPECT_EQ(dtask::check_name(name), "") << dtask::escaped(name);
}

TEST(names, refuses_bytes_that_start_no_utf8_sequence) {
  EXPECT_EQ(utf8_refusal("\xff\xfe"), "0");
  EXPECT_EQ(utf8_refusal("ok\x80"), "2");  // a continuation byte alone
  EXPECT_EQ(utf8_refusal("ok\xbf"), "2");
  EXPECT_EQ(utf8_refusal("ab\xf5\x80\x80\x80"), "2");
}

TEST(names, refuses_overlong_utf8) {
  EXPECT_EQ(utf8_refusal("a\xc0\xaf"), "1");         // '/' in 2 bytes
  EXPECT_EQ(utf8_refusal("a\xc1\xbf"), "1");
  EXPECT_EQ(utf8_refusal("a\xe0\x80\xaf"), "1");     // '/' in 3 bytes
  EXPECT_EQ(utf8_refusal("a\xe0\x9f\xbf"), "1");     // U+07FF in 3 bytes
  EXPECT_EQ(utf8_refusal("a\xf0\x80\x80\xaf"), "1"); // '/' in 4 bytes
  EXPECT_EQ(utf8_refusal("a\xf0\x8f\xbf\xbf"), "1"); // U+FFFF in 4 bytes
}

TEST(names, refuses_utf8_surrogates) {
  EXPECT_EQ(utf8_refusal("\xed\xa0\x80"), "0");                 // U+D800
  EXPECT_EQ(utf8_refusal("x\xed\xbf\xbf"), "1");                // U+DFFF
  EXPECT_EQ(utf8_refusal("\xed\xa0\xbd\xed\xb8\x80"), "0");     // a pair
}

TEST(names, refuses_code_points_above_10ffff) {
  EXPECT_EQ(utf8_refusal("\xf4\x90\x80\x80"), "0"); // U+110000
  EXPECT_EQ(utf8_refusal("\xf7\xbf\xbf\xbf"), "0"); // U+1FFFFF
}

TEST(names, refuses_truncated_utf8) {
  EXPECT_EQ(utf8_refusal("end\xc3"), "3");
  EXPECT_EQ(utf8_refusal("end\xe2\x9c"), "3");
  EXPECT_EQ(utf8_refusal("end\xf0\x9f\x98"), "3");
  EXPECT_EQ(utf8_refusal("\xe2\x9c" "after"), "0"); // cut short by ASCII
  EXPECT_EQ(utf8_refusal("\xf0\x9f\xe2\x9c\x93"), "0"); // by another lead
}
