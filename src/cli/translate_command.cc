// cohort translate: decodes with a seq2seq checkpoint (beam search or greedy). On a
// split of a translation dataset it scores corpus BLEU (sacreBLEU's default) against
// the dataset's references (Apertium's translations) and shows a few examples; with
// --input it translates lines of text.
#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/backend_choice.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/threads.h"
#include "core/timer.h"
#include "train/beam_search.h"
#include "train/bleu.h"
#include "train/task_checkpoint.h"

namespace cohort {

namespace {

struct TranslateOptions {
  std::string checkpoint, data, split = "test", input;
  BeamOptions beam;
  long limit = 0;
  int show = 5, threads = 0;
  BackendFlags device;
};

int run_translate(const TranslateOptions& o) {
  check_backend_flags(o.device);
  set_thread_count(o.threads);
  if (o.beam.beam < 1) throw Error("--beam must be at least 1");
  if (!(o.beam.length_penalty >= 0.0f)) throw Error("--length-penalty must be >= 0");
  const TaskCheckpoint t = open_task_checkpoint(o.checkpoint, o.data, o.input.empty());
  if (t.task != "translate") {
    throw Error(
        fmt::format("{}: an encoder checkpoint; translate needs an encoder-decoder "
                    "(train --task translate)",
                    t.dir.string()));
  }
  if (!t.ck.tokenizer) throw Error(fmt::format("{}: has no tokenizer/", t.dir.string()));
  const Tokenizer& tok = *t.ck.tokenizer;
  const std::unique_ptr<Backend> backend = make_backend(o.device);
  const auto owned = load_seq2seq(t, *backend);
  Seq2SeqModel& model = *owned;
  BeamOptions beam = o.beam;
  if (beam.max_len <= 0) beam.max_len = t.info.max_len;
  beam.max_len = std::min(beam.max_len, model.config().context_length);
  model.plan(beam.beam, t.info.max_len, beam.max_len);
  auto translate = [&](std::vector<int32_t> src) {
    if (int(src.size()) >= t.info.max_len) src.resize(t.info.max_len - 1);  // room for EOS
    const auto ids = beam_search(model, t.info, src, beam);
    return tok.decode(ids);
  };

  if (!o.input.empty()) {
    std::ifstream file;
    if (o.input != "-") {
      file.open(o.input);
      if (!file) throw Error(fmt::format("{}: cannot open", o.input));
    }
    std::istream& in = o.input == "-" ? std::cin : file;
    std::string line;
    while (std::getline(in, line)) {
      fmt::print("{}\n", line.empty() ? "" : translate(tok.encode(line)));
      std::fflush(stdout);
    }
    return 0;
  }

  auto samples = read_task_split(t.data_dir, o.split, t.info);
  if (o.limit > 0 && size_t(o.limit) < samples.size()) samples.resize(o.limit);
  std::vector<std::string> hyps, refs;
  Timer timer;
  const bool tty = isatty(fileno(stderr)) != 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    hyps.push_back(translate(samples[i].ids));
    refs.push_back(samples[i].tgt_text);
    if (tty && (i % 10 == 9 || i + 1 == samples.size())) {
      fmt::print(stderr, "\rtranslate {}: {}/{} sentences, {:.1f}/s\x1b[K", o.split, i + 1,
                 samples.size(), double(i + 1) / timer.seconds());
    }
  }
  if (tty) fmt::print(stderr, "\r\x1b[K");
  const BleuScore b = corpus_bleu(hyps, refs);
  for (int i = 0; i < o.show && size_t(i) < samples.size(); ++i) {
    fmt::print("EN:       {}\nApertium: {}\ncohort:   {}\n\n", samples[i].text, refs[i], hyps[i]);
  }
  const std::string how =
      beam.beam == 1 ? "greedy"
                     : fmt::format("beam {}, length penalty {}", beam.beam, beam.length_penalty);
  fmt::print(
      "split {}: {} sentences | BLEU {:.2f} ({:.1f}/{:.1f}/{:.1f}/{:.1f}, BP {:.3f}, hyp {} ref "
      "{} tokens) | {} | {:.1f} sentences/s\n",
      o.split, samples.size(), b.score, b.precisions[0], b.precisions[1], b.precisions[2],
      b.precisions[3], b.brevity_penalty, b.sys_len, b.ref_len, how,
      double(samples.size()) / timer.seconds());
  fmt::print("RESULT {}\n", nlohmann::json{{"split", o.split},
                                           {"sentences", samples.size()},
                                           {"bleu", b.score},
                                           {"precisions", b.precisions},
                                           {"brevity_penalty", b.brevity_penalty},
                                           {"beam", beam.beam},
                                           {"length_penalty", beam.length_penalty},
                                           {"checkpoint", t.dir.string()}}
                                .dump());
  return 0;
}

}  // namespace

void add_translate_command(CLI::App& root, int& exit_code) {
  auto o = std::make_shared<TranslateOptions>();
  CLI::App* cmd = root.add_subcommand(
      "translate",
      "Translate with an encoder-decoder checkpoint: corpus BLEU (sacreBLEU's default) on a "
      "dataset split, or lines of --input");
  cmd->add_option("--checkpoint", o->checkpoint,
                  "Checkpoint directory, or a run directory (its latest checkpoint)")
      ->required();
  cmd->add_option("--data", o->data, "Translation dataset (default: the one it trained on)");
  cmd->add_option("--split", o->split, "train | val | test")->capture_default_str();
  cmd->add_option("--input", o->input, "Translate the lines of this file ('-': stdin) instead");
  cmd->add_option("--beam", o->beam.beam, "Beam width (1: greedy)")->capture_default_str();
  cmd->add_option("--length-penalty", o->beam.length_penalty,
                  "GNMT length penalty alpha: score = log p / ((5 + len) / 6)^alpha")
      ->capture_default_str();
  cmd->add_option("--max-len", o->beam.max_len,
                  "Longest translation in tokens, EOS included (0: the dataset's max_len)")
      ->capture_default_str();
  cmd->add_option("--limit", o->limit, "Translate only the first N sentences (0: all)")
      ->capture_default_str();
  cmd->add_option("--show", o->show, "Examples to print")->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0: all)")->capture_default_str();
  add_backend_flags(cmd, o->device);
  cmd->callback([o, &exit_code]() { exit_code = run_translate(*o); });
}

}  // namespace cohort
