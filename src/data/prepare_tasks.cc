#include "data/prepare_tasks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "data/brown_corpus.h"
#include "data/prepare.h"
#include "data/sentencepiece_tokenizer.h"
#include "data/word_tokenizer.h"

namespace cohort {

namespace fs = std::filesystem;

namespace {

// Each Brown file's genre, from cats.txt ("ca01 news"), and the genre names in order of
// first appearance.
std::vector<int> read_genres(const fs::path& corpus, const std::vector<std::string>& files,
                             std::vector<std::string>& names) {
  const fs::path path = corpus / "cats.txt";
  if (!fs::exists(path)) throw Error(fmt::format("{}: missing (genre labels)", path.string()));
  std::istringstream in(read_file(path));
  std::map<std::string, std::string> genre_of;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string file, genre;
    if (l >> file >> genre) genre_of[file] = genre;
  }
  std::vector<int> labels;
  for (const auto& f : files) {
    auto it = genre_of.find(f);
    if (it == genre_of.end()) throw Error(fmt::format("{}: no genre for {}", path.string(), f));
    auto pos = std::find(names.begin(), names.end(), it->second);
    if (pos == names.end()) pos = names.insert(names.end(), it->second);
    labels.push_back(int(pos - names.begin()));
  }
  return labels;
}

// Split of each file: by its index among the files of its genre.
std::vector<std::string> file_splits(const std::vector<int>& labels) {
  std::map<int, int> seen;
  std::vector<std::string> out;
  for (int g : labels) out.push_back(split_of_file(seen[g]++));
  return out;
}

const char* kSplits[] = {"train", "val", "test"};

}  // namespace

std::string detokenize_brown(const std::string& sentence) {
  std::string out;
  std::istringstream in(sentence);
  std::string w;
  bool glue = true;  // no space before the next word
  for (bool open = false; in >> w;) {
    if (w == "``" || w == "''") {
      // An opening quote sticks to the next word, a closing one to the previous.
      open = w == "``";
      if (open && !glue) out += ' ';
      out += '"';
      glue = open;
      continue;
    }
    const bool closing = w.size() == 1 && std::string(",.;:?!)").find(w[0]) != std::string::npos;
    if (!glue && !closing) out += ' ';
    out += w;
    glue = w == "(";
  }
  return out;
}

TaskInfo prepare_genre(const fs::path& corpus_dir, const GenreOptions& o, const fs::path& out,
                       const LogFn& log) {
  if (o.max_len < 8) throw Error(fmt::format("--max-len must be at least 8, got {}", o.max_len));
  const BrownCorpus corpus = read_brown(corpus_dir);
  TaskInfo info;
  info.task = "genre";
  const std::vector<int> labels = read_genres(corpus_dir, corpus.files, info.classes);
  const auto splits = file_splits(labels);
  // Passages: whole sentences of one file up to max_len - 1 words (a longer sentence
  // is cut).
  struct Passage {
    int file;
    std::string text;
  };
  std::map<std::string, std::vector<Passage>> passages;
  const int limit = o.max_len - 1;
  std::string text;
  int words = 0, file = -1;
  auto flush = [&] {
    if (words >= o.min_words) passages[splits[file]].push_back({file, text});
    text.clear();
    words = 0;
  };
  for (size_t i = 0; i < corpus.sentences.size(); ++i) {
    if (corpus.sentence_file[i] != file) {
      if (file >= 0) flush();
      text.clear();
      words = 0;
      file = corpus.sentence_file[i];
    }
    std::istringstream in(corpus.sentences[i]);
    std::string w;
    int n = corpus.sentence_words[i];
    if (words > 0 && words + n > limit) flush();
    while (in >> w) {
      if (words == limit) flush();
      text += (words ? " " : "") + w;
      ++words;
    }
  }
  flush();

  const fs::path partial = start_partial_directory(out);
  std::vector<std::string_view> train_texts;
  for (const auto& p : passages["train"]) train_texts.push_back(p.text);
  log(fmt::format("training the word tokenizer on {} training passages", train_texts.size()));
  WordTokenizer base = WordTokenizer::train(train_texts, o.min_count);
  std::vector<std::string> words_list = base.words();
  info.tokenizer_vocab = int(words_list.size());
  info.cls_id = info.tokenizer_vocab;
  info.mask_id = info.tokenizer_vocab + 1;
  info.pad_id = info.tokenizer_vocab + 2;
  info.vocab_size = info.tokenizer_vocab + 3;
  info.max_len = o.max_len;
  info.source = fmt::format("Brown corpus ({}), cats.txt genres, passages of {}..{} words",
                            corpus_dir.string(), o.min_words, limit);
  base.save(partial / "tokenizer");
  for (const char* split : kSplits) {
    std::vector<TaskSample> samples;
    std::vector<int> per_class(info.classes.size(), 0);
    for (const auto& p : passages[split]) {
      TaskSample s;
      s.file = corpus.files[p.file];
      s.label = labels[p.file];
      s.ids = base.encode(p.text);
      ++per_class[s.label];
      samples.push_back(std::move(s));
    }
    write_task_split(partial, split, samples);
    std::string counts;
    for (size_t k = 0; k < per_class.size(); ++k)
      counts += fmt::format("{}{}={}", k ? " " : "", info.classes[k], per_class[k]);
    log(fmt::format("{:<5} {:>5} passages: {}", split, samples.size(), counts));
  }
  write_task_info(partial, info);
  sync_directory(partial);
  publish_directory(partial, out);
  log(fmt::format("{}: {} genres, word vocabulary {} + [CLS] [MASK] [PAD]", out.string(),
                  info.classes.size(), info.tokenizer_vocab));
  return info;
}

TaskInfo prepare_translation(const fs::path& corpus_dir, const TranslationOptions& o,
                             const fs::path& out, const LogFn& log) {
  if (o.engine != "apertium")
    throw Error(fmt::format("--engine: only apertium is supported, got '{}'", o.engine));
  if (std::system("command -v apertium >/dev/null 2>&1") != 0) {
    throw Error(
        "apertium not found: install the Debian packages apertium and apertium-eng-spa "
        "(scripts/bootstrap.sh does)");
  }
  if (o.max_words < 3) throw Error("--max-words must be at least 3");
  const BrownCorpus corpus = read_brown(corpus_dir);
  std::vector<std::string> class_names;
  const std::vector<int> labels = read_genres(corpus_dir, corpus.files, class_names);
  const auto splits = file_splits(labels);
  const int per_file = o.max_sentences > 0 ? (o.max_sentences + int(corpus.files.size()) - 1) /
                                                 int(corpus.files.size())
                                           : 1 << 30;
  struct Pair {
    int file;
    std::string en, es;
  };
  std::vector<Pair> pairs;
  std::vector<int> taken(corpus.files.size(), 0);
  for (size_t i = 0; i < corpus.sentences.size(); ++i) {
    const int f = corpus.sentence_file[i];
    const int n = corpus.sentence_words[i];
    if (n < 3 || n > o.max_words || taken[f] >= per_file) continue;
    ++taken[f];
    pairs.push_back({f, detokenize_brown(corpus.sentences[i]), ""});
  }
  const fs::path partial = start_partial_directory(out);
  const fs::path en_file = partial / "source.en.txt", es_file = partial / "apertium.es.txt";
  std::string en_text;
  for (const auto& p : pairs) en_text += p.en + "\n";
  write_file_atomic(en_file, en_text);
  log(fmt::format("translating {} sentences with apertium -u eng-spa (about 300 a second)",
                  pairs.size()));
  const std::string cmd =
      fmt::format("apertium -u eng-spa '{}' '{}'", en_file.string(), es_file.string());
  if (std::system(cmd.c_str()) != 0) throw Error(fmt::format("'{}' failed", cmd));
  {
    std::istringstream in(read_file(es_file));
    std::string line;
    size_t k = 0;
    while (std::getline(in, line) && k < pairs.size()) {
      const size_t b = line.find_first_not_of(" \t"), e = line.find_last_not_of(" \t");
      pairs[k++].es = b == std::string::npos ? "" : line.substr(b, e - b + 1);
    }
    if (k != pairs.size())
      throw Error(fmt::format("{}: {} lines for {} sentences", es_file.string(), k, pairs.size()));
  }
  // One SentencePiece vocabulary for both languages, trained on the training pairs.
  const fs::path sp_input = partial / "sp_train.txt";
  std::string sp_text;
  for (const auto& p : pairs)
    if (splits[p.file] == "train") sp_text += p.en + "\n" + p.es + "\n";
  write_file_atomic(sp_input, sp_text);
  log(fmt::format("training a shared SentencePiece BPE vocabulary of {}", o.vocab_size));
  auto tok = SentencePieceTokenizer::train({sp_input.string()}, "bpe", o.vocab_size, partial);
  tok->save(partial / "tokenizer");
  TaskInfo info;
  info.task = "translation";
  info.tokenizer_vocab = tok->vocab_size();
  info.bos_id = info.tokenizer_vocab;
  info.eos_id = info.tokenizer_vocab + 1;
  info.vocab_size = info.tokenizer_vocab + 2;
  info.max_len = o.max_len;
  info.source = fmt::format(
      "Brown corpus ({}) sentences of 3..{} words, English -> Spanish by apertium -u eng-spa",
      corpus_dir.string(), o.max_words);
  std::map<std::string, std::vector<TaskSample>> by_split;
  long dropped = 0;
  for (const auto& p : pairs) {
    TaskSample s;
    s.file = corpus.files[p.file];
    s.text = p.en;
    s.tgt_text = p.es;
    s.ids = tok->encode(p.en);
    s.tgt = tok->encode(p.es);
    if (s.ids.empty() || s.tgt.empty() || int(s.ids.size()) >= o.max_len ||
        int(s.tgt.size()) >= o.max_len) {
      ++dropped;
      continue;
    }
    by_split[splits[p.file]].push_back(std::move(s));
  }
  for (const char* split : kSplits) {
    write_task_split(partial, split, by_split[split]);
    log(fmt::format("{:<5} {:>6} pairs", split, by_split[split].size()));
  }
  if (dropped)
    log(fmt::format("{} pairs dropped (longer than --max-len {} tokens)", dropped, o.max_len));
  write_task_info(partial, info);
  for (const auto& f : {en_file, es_file, sp_input}) fs::remove(f);
  sync_directory(partial);
  publish_directory(partial, out);
  log(fmt::format("{}: shared vocabulary {} + BOS EOS", out.string(), info.tokenizer_vocab));
  return info;
}

}  // namespace cohort
