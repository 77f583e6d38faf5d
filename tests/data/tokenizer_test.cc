// Tokenizers: GPT-2 ids on tricky strings, round trips, save/load, bad files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/byte_tokenizer.h"
#include "data/gpt2_tokenizer.h"
#include "data/sentencepiece_tokenizer.h"
#include "data/utf8.h"
#include "data/word_tokenizer.h"

namespace cohort {
namespace {

namespace fs = std::filesystem;

fs::path gpt2_dir() { return fs::path(COHORT_SOURCE_DIR) / "data/gpt2-bpe"; }

fs::path fresh_dir(const std::string& name) {
  const fs::path d =
      fs::temp_directory_path() / ("cohort_tok_" + name + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(Utf8, FindsInvalidSequences) {
  EXPECT_EQ(find_invalid_utf8("plain ascii"), std::string::npos);
  EXPECT_EQ(find_invalid_utf8("caf\xC3\xA9 \xF0\x9F\x99\x82"), std::string::npos);
  EXPECT_EQ(find_invalid_utf8("ab\xFF"), 2u);
  EXPECT_EQ(find_invalid_utf8("ab\xC3"), 2u);             // truncated
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);           // overlong '/'
  EXPECT_EQ(find_invalid_utf8("x\xED\xA0\x80"), 1u);      // surrogate
  EXPECT_EQ(complete_utf8_prefix("ab\xF0\x9F\x99"), 2u);  // emoji not yet complete
  EXPECT_EQ(complete_utf8_prefix("ab\xF0\x9F\x99\x82"), 6u);
}

// Expected ids: npm gpt-3-encoder@1.1.4's encode(), a port of OpenAI's encoder.py
// ("Hello world" -> 15496, 995 as GPT-2 itself gives).
TEST(Gpt2Tokenizer, MatchesGpt2Ids) {
  const Gpt2Tokenizer tok(gpt2_dir());
  EXPECT_EQ(tok.vocab_size(), 50257);
  const std::vector<std::pair<std::string, std::vector<int32_t>>> cases = {
      {"Hello world", {15496, 995}},
      {" leading space", {3756, 2272}},
      {"  two spaces", {220, 734, 9029}},
      {"line one\nline two\n\n", {1370, 530, 198, 1370, 734, 628}},
      {"digits 1234567 and 3.14159", {12894, 896, 17031, 2231, 3134, 290, 513, 13, 1415, 19707}},
      {"It's they're we've I'm you'll he'd can't",
       {1026, 338, 484, 821, 356, 1053, 314, 1101, 345, 1183, 339, 1549, 460, 470}},
      {"na\u00efve caf\u00e9 \u2013 \u201cquotes\u201d \u00a9",
       {2616, 38776, 40304, 784, 564, 250, 421, 6421, 447, 251, 10673}},
      {"emoji \U0001F642\U0001F44D\U0001F3FD done",
       {368, 31370, 32485, 41840, 235, 8582, 237, 121, 1760}},
      {"\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8",
       {33768, 98, 17312, 105, 45739, 252, 5641, 24336, 25084, 43302}},
      {"tabs\tand\r\nCRLF   \n end  ",
       {8658, 82, 197, 392, 201, 198, 34, 7836, 37, 220, 220, 220, 198, 886, 220, 220}},
      {"<|endoftext|>", {27, 91, 437, 1659, 5239, 91, 29}},
  };
  for (const auto& [text, ids] : cases) {
    EXPECT_EQ(tok.encode(text), ids) << text;
    EXPECT_EQ(tok.decode(tok.encode(text)), text);
  }
}

TEST(Gpt2Tokenizer, SavesAndLoads) {
  const Gpt2Tokenizer tok(gpt2_dir());
  const auto dir = fresh_dir("gpt2");
  tok.save(dir);
  const auto loaded = load_tokenizer(dir);
  EXPECT_EQ(loaded->kind(), "gpt2");
  EXPECT_EQ(loaded->encode(" Hello, world!"), tok.encode(" Hello, world!"));
  fs::remove_all(dir);
}

TEST(ByteTokenizer, RoundTripsAnyBytes) {
  const ByteTokenizer tok;
  const std::string s("a\0\xFF\n\xC3\xA9", 6);
  const auto ids = tok.encode(s);
  ASSERT_EQ(ids.size(), 6u);
  EXPECT_EQ(ids[2], 255);
  EXPECT_EQ(tok.decode(ids), s);
}

TEST(WordTokenizer, KeepsFrequentWordsAndMapsTheRestToUnk) {
  const std::string_view texts[] = {"the cat saw the dog\nthe cat ran\n"};
  const auto tok = WordTokenizer::train(texts, 2);
  ASSERT_EQ(tok.words(), (std::vector<std::string>{"<unk>", "the", "cat"}));
  EXPECT_EQ(tok.encode("the  cat\tflew\n"), (std::vector<int32_t>{1, 2, 0}));
  EXPECT_EQ(tok.decode(std::vector<int32_t>{1, 2, 0}), "the cat <unk>");
  const auto dir = fresh_dir("word");
  tok.save(dir);
  EXPECT_EQ(load_tokenizer(dir)->encode("cat the"), (std::vector<int32_t>{2, 1}));
  fs::remove_all(dir);
}

TEST(SentencePieceTokenizer, TrainsAndRoundTrips) {
  const auto dir = fresh_dir("spm");
  // Varied sentences (a fixed LCG over a word list): unigram needs distinct contexts.
  const char* words[] = {"the",    "quick", "brown", "fox",   "jumps", "over", "lazy",    "dog",
                         "stitch", "in",    "time",  "saves", "nine,", "said", "tailor.", "a"};
  std::string text;
  uint32_t state = 12345;
  for (int line = 0; line < 2000; ++line) {
    for (int w = 0; w < 8; ++w) {
      state = state * 1664525u + 1013904223u;
      text += std::string(w ? " " : "") + words[(state >> 16) % 16];
    }
    text += "\n";
  }
  std::ofstream(dir / "train.txt") << text;
  for (const std::string type : {"bpe", "unigram"}) {
    auto tok = SentencePieceTokenizer::train({(dir / "train.txt").string()}, type, 400, dir);
    EXPECT_EQ(tok->kind(), "sentencepiece-" + type);
    EXPECT_LE(tok->vocab_size(), 400);  // a soft limit: a tiny corpus has fewer merges
    EXPECT_GT(tok->vocab_size(), 270);
    const std::string s = "  the tailor's fox\n\tsaid \xC3\xA9t\xC3\xA9 \U0001F642 42\n";
    EXPECT_EQ(tok->decode(tok->encode(s)), s) << type;
    EXPECT_LT(tok->encode("the quick brown fox").size(), 19u) << type << ": merges learned";
    tok->save(dir);
    const auto loaded = load_tokenizer(dir);
    EXPECT_EQ(loaded->encode(s), tok->encode(s));
  }
  fs::remove_all(dir);
}

TEST(LoadTokenizer, RejectsBadFilesWithTheFileName) {
  const auto dir = fresh_dir("bad");
  auto expect_error = [&](const std::string& json, const std::string& fragment) {
    std::ofstream(dir / "tokenizer.json") << json;
    try {
      load_tokenizer(dir);
      ADD_FAILURE() << "accepted " << json;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_error("{", "not valid JSON");
  expect_error(R"({"kind": "wordpiece"})", "unknown tokenizer");
  expect_error(R"({"kind": "word"})", "words");
  expect_error(R"({"kind": "word", "words": ["a", "b"]})", "<unk>");
  expect_error(R"({"kind": "byte", "vocab_size": 300})", "vocab_size");
  fs::remove_all(dir);
  EXPECT_THROW(load_tokenizer(dir), Error);
}

}  // namespace
}  // namespace cohort
