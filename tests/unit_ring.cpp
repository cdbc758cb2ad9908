#include <gtest/gtest.h>
#include "dtask/ring.hpp"
TEST(ring, builds) { dtask::hash_ring r; r.assign({"a:1"}); EXPECT_EQ(r.owner("x"), "a:1"); }
