// The stored form of meta values and dedup entries (core/meta_format.h).
#include "core/meta_format.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::core {
namespace {

using namespace std::string_literals;

TEST(MetaFormatTest, NumbersRoundTripAsPlainDecimals) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{65537}, ~uint64_t{0}}) {
    const std::string text = EncodeMetaNumber(v);
    EXPECT_EQ(text, std::to_string(v));
    auto back = DecodeMetaNumber("next_id", text);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, v);
  }
}

TEST(MetaFormatTest, RefusesNumbersThatAreNotPlainDecimalsNamingTheKey) {
  for (const std::string& bad :
       {""s, " 1"s, "1 "s, "+1"s, "-1"s, "1x"s, "0x10"s, "1.0"s, "18446744073709551616"s, "1\0"s}) {
    auto r = DecodeMetaNumber("epoch", bad);
    ASSERT_FALSE(r.ok()) << "'" << bad << "'";
    EXPECT_EQ(r.status().code(), Code::kCorruption);
    EXPECT_NE(r.status().message().find("epoch"), std::string::npos) << r.status().ToString();
  }
}

TEST(MetaFormatTest, StoreFormatCheckRefusesOnlyNewerFormats) {
  EXPECT_TRUE(CheckStoreFormat(kStoreFormat).ok());
  EXPECT_TRUE(CheckStoreFormat(0).ok());
  const Status st = CheckStoreFormat(kStoreFormat + 1);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("use a newer sluiced"), std::string::npos) << st.ToString();
}

TEST(MetaFormatTest, LeaseMarkerRoundTripsAndKeepsTheWorkerAsGiven) {
  EXPECT_EQ(EncodeLeaseMarkerKey(42), "lease/42");
  EXPECT_EQ(DecodeLeaseMarkerKey("lease/42"), TaskId{42});
  for (const char* bad : {"lease/", "lease/x", "lease/-1", "lease/4 2", "queue/42", "42"}) {
    EXPECT_FALSE(DecodeLeaseMarkerKey(bad).has_value()) << "'" << bad << "'";
  }
  const LeaseMarker m{3, 1'767'225'600'000, "gpu 7 \xff"};
  EXPECT_EQ(EncodeLeaseMarker(m), "3 1767225600000 gpu 7 \xff");
  EXPECT_EQ(DecodeLeaseMarker(EncodeLeaseMarker(m)), m);
  EXPECT_EQ(DecodeLeaseMarker("1 -5 "), (LeaseMarker{1, -5, ""}));
  for (const char* bad : {"", "1", "1 5", "x 5 w", "1 y w", "-1 5 w", "1  5 w", "4294967296 5 w"}) {
    EXPECT_FALSE(DecodeLeaseMarker(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(MetaFormatTest, DedupKeyIsTenantNulKey) {
  EXPECT_EQ(EncodeDedupKey("acme", "k1"), "acme\0k1"s);
  EXPECT_EQ(EncodeDedupKey("", ""), "\0"s);
}

TEST(MetaFormatTest, DedupValueRoundTripsAndIsTheEarlierText) {
  const DedupEntry e{42, 1'767'225'600'000};
  EXPECT_EQ(EncodeDedupValue(e), "42 1767225600000");
  EXPECT_EQ(DecodeDedupValue("42 1767225600000"), e);
  EXPECT_EQ(DecodeDedupValue("7 -5"), (DedupEntry{7, -5}));
}

TEST(MetaFormatTest, DedupValueRefusesOtherText) {
  for (const char* bad : {"", "42", "42 ", " 42 1", "42  1", "42 1 ", "x 1", "42 y", "-1 5",
                          "42 1x", "18446744073709551616 1"}) {
    EXPECT_FALSE(DecodeDedupValue(bad).has_value()) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace sluice::core
