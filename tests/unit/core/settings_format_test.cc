// The stored form of tenant and queue settings (core/settings_format.h).
#include "core/settings_format.h"

#include <gtest/gtest.h>

namespace sluice::core {
namespace {

TEST(SettingsFormatTest, RoundTripsLimitsAndThePausedFlag) {
  for (const bool paused : {false, true}) {
    const Limits l{.weight = 7, .rate_per_s = 0.1, .burst = 2.5, .max_inflight = 12};
    StoredSettings out;
    ASSERT_TRUE(DecodeSettings(EncodeSettings(l, paused), &out));
    EXPECT_EQ(out, (StoredSettings{l, paused}));
  }
}

TEST(SettingsFormatTest, ReadsTheFormatEarlierReleasesWrote) {
  StoredSettings out;
  ASSERT_TRUE(DecodeSettings("w=3 r=100 b=10 c=5 p=1", &out));
  EXPECT_EQ(out, (StoredSettings{Limits{3, 100, 10, 5}, true}));
}

TEST(SettingsFormatTest, RefusesWhatIsNotTheStoredForm) {
  StoredSettings out;
  for (const char* bad : {"", "w=3", "w=3 r=100 b=10 c=5", "w=3 r=100 b=10 c=5 p=2",
                          "w=3 r=100 b=10 c=5 p=1 extra", "p=1 w=3 r=100 b=10 c=5",
                          "w=x r=100 b=10 c=5 p=0"}) {
    EXPECT_FALSE(DecodeSettings(bad, &out)) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace sluice::core
