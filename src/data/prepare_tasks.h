// The samples behind the encoder and encoder-decoder tasks, from the Brown corpus
// (task_dataset.h describes what is written):
//   genre        passages of up to max_len - 1 words (whole sentences of one file), each
//                labelled with its file's genre from cats.txt (15 genres); a word
//                tokenizer trained on the training passages, plus [CLS] [MASK] [PAD].
//   translation  English sentences and their Spanish translation by Apertium
//                (`apertium -u eng-spa`, a rule-based system in Debian); a SentencePiece
//                BPE vocabulary shared by both languages, plus BOS and EOS.
// Files are split 80/10/10 within each genre (split_of_file), so no file's text is
// in two splits.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "data/task_dataset.h"

namespace cohort {

struct GenreOptions {
  int max_len = 128;   // [CLS] + up to max_len - 1 words
  int min_words = 16;  // shorter passages (a file's tail) are dropped
  int min_count = 2;   // word tokenizer: words seen at least this often in train
};

struct TranslationOptions {
  std::string engine = "apertium";
  int max_words = 30;     // sentences of 3..max_words words
  int max_sentences = 0;  // 0: all; else the first ones of every file, evenly
  int vocab_size = 8000;  // SentencePiece BPE, both languages
  int max_len = 96;       // tokens per side (longer pairs are dropped), BOS/EOS included
};

using LogFn = std::function<void(const std::string&)>;

TaskInfo prepare_genre(const std::filesystem::path& corpus, const GenreOptions& options,
                       const std::filesystem::path& out, const LogFn& log);
TaskInfo prepare_translation(const std::filesystem::path& corpus, const TranslationOptions& options,
                             const std::filesystem::path& out, const LogFn& log);

// Brown's tokenized text read as prose: `` and '' become " (attached to the quoted
// words), and no space before , . ; : ? ! ) or after (.
std::string detokenize_brown(const std::string& sentence);

}  // namespace cohort
