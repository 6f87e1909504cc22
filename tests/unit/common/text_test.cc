#include "common/text.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice {
namespace {

TEST(CheckNameTest, AcceptsTheAllowedCharacters) {
  EXPECT_TRUE(CheckName("queue", "jobs").ok());
  EXPECT_TRUE(CheckName("queue", "a.b_c-d:e/f@g.0-9").ok());
  EXPECT_TRUE(CheckName("tenant", std::string(kMaxNameBytes, 'x')).ok());
}

TEST(CheckNameTest, RefusesEmptyLongAndOddNames) {
  for (const std::string& bad :
       {std::string(), std::string(kMaxNameBytes + 1, 'x'), std::string("a b"),
        std::string("line\nbreak"), std::string("tab\t"), std::string("q\xff\xfe"),
        std::string("caf\xc3\xa9"), std::string("nul\0x", 5), std::string("quo\"te")}) {
    const Status s = CheckName("queue", bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("queue name"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(kNameChars), std::string::npos) << s.message();
    // The message itself is one line of printable ASCII.
    for (const char c : s.message()) {
      EXPECT_TRUE(c >= 0x20 && c <= 0x7e)
          << "byte " << static_cast<int>(c) << " in " << s.message();
    }
  }
}

TEST(CheckNameTest, TwoDifferentBadNamesReadDifferently) {
  const Status a = CheckName("queue", "q\xff\xfe");
  const Status b = CheckName("queue", "q\xfe\xff");
  EXPECT_NE(a.message(), b.message());
  EXPECT_NE(a.message().find("q\\xff\\xfe"), std::string::npos) << a.message();
}

TEST(CheckNameTest, HonoursACustomLimit) {
  EXPECT_TRUE(CheckName("tenant", "abcd", 4).ok());
  const Status s = CheckName("tenant", "abcde", 4);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("1 to 4 characters"), std::string::npos) << s.message();
}

TEST(TruncateTextTest, KeepsShortTextWhole) {
  EXPECT_EQ(TruncateText("boom", 4), "boom");
  EXPECT_EQ(TruncateText("", 0), "");
}

TEST(TruncateTextTest, CutsAndMarksLongText) {
  const std::string long_text(120'000, 'e');
  const std::string cut = TruncateText(long_text, 4096);
  EXPECT_EQ(cut, std::string(4096, 'e') + "... [truncated 115904 bytes]");
  EXPECT_LE(cut.size(), 4096u + 42);
}

TEST(TruncateTextTest, DoesNotSplitAUtf8Character) {
  // "a" then e-acute (0xc3 0xa9): a cut after 2 bytes would split the e-acute.
  const std::string cut = TruncateText("a\xc3\xa9zz", 2);
  EXPECT_EQ(cut, "a... [truncated 4 bytes]");
}

}  // namespace
}  // namespace sluice
