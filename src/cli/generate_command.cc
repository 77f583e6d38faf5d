// cohort generate: samples a continuation of a prompt from a checkpoint, printing
// text as it comes.
#include <fmt/format.h>

#include <filesystem>

#include "cli/backend_choice.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/threads.h"
#include "data/utf8.h"
#include "model/gpt.h"
#include "train/checkpoint.h"
#include "train/sampler.h"

namespace cohort {

namespace {

struct GenerateOptions {
  std::string checkpoint, prompt;
  int max_tokens = 100, threads = 0;
  SamplingOptions sampling;
  BackendFlags device;
};

int run_generate(const GenerateOptions& o) {
  check_backend_flags(o.device);
  set_thread_count(o.threads);
  if (o.max_tokens < 0) throw Error("--max-tokens must be >= 0");
  if (o.sampling.temperature < 0) throw Error("--temperature must be >= 0");
  if (!(o.sampling.top_p > 0 && o.sampling.top_p <= 1)) throw Error("--top-p must be in (0, 1]");
  if (o.sampling.top_k < 0) throw Error("--top-k must be >= 0");
  const auto ck_dir = resolve_checkpoint(o.checkpoint);
  const LoadedCheckpoint ck = load_checkpoint(ck_dir);
  if (!ck.tokenizer) {
    throw Error(fmt::format("{}: no tokenizer/ in the checkpoint (trained on --synthetic data?)",
                            ck_dir.string()));
  }
  if (ck.model.arch != "gpt") {
    throw Error(
        fmt::format("{}: an {} checkpoint; generate samples from a GPT (for an "
                    "encoder-decoder: cohort translate)",
                    ck_dir.string(), ck.model.arch));
  }
  std::vector<int32_t> ids = ck.tokenizer->encode(o.prompt);
  if (ids.empty()) throw Error("--prompt is empty after tokenization: give some text");
  const int ctx = ck.model.context_length, V = ck.model.vocab_size;

  const std::unique_ptr<Backend> backend = make_backend(o.device);
  Gpt model(ck.model, *backend);
  model.upload_params(ck.params.data());
  model.plan(1, ctx);

  const size_t prompt_len = ids.size();
  std::string printed = ck.tokenizer->decode(ids);
  fmt::print("{}", printed);
  std::fflush(stdout);
  for (int i = 0; i < o.max_tokens; ++i) {
    const int T = int(std::min<size_t>(ids.size(), size_t(ctx)));
    const int32_t* window = ids.data() + (ids.size() - T);
    model.forward(window, nullptr, 1, T, ForwardOptions{});
    const std::vector<float> last = model.copy_logits(size_t(T - 1), 1);
    ids.push_back(sample_token(last.data(), V, o.sampling, uint64_t(i)));
    // Print what is new and complete (a byte-level token may end inside a character).
    const std::string text = ck.tokenizer->decode(ids);
    const size_t ready = complete_utf8_prefix(text);
    if (ready > printed.size() && text.compare(0, printed.size(), printed) == 0) {
      fmt::print("{}", text.substr(printed.size(), ready - printed.size()));
      std::fflush(stdout);
      printed = text.substr(0, ready);
    }
  }
  fmt::print("\n");
  std::fflush(stdout);  // the text's end before stderr's summary, also in one log file
  fmt::print(stderr, "generated {} tokens after a {}-token prompt\n", ids.size() - prompt_len,
             prompt_len);
  return 0;
}

}  // namespace

void add_generate_command(CLI::App& root, int& exit_code) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* cmd = root.add_subcommand("generate", "Sample text from a checkpoint");
  cmd->add_option("--checkpoint", o->checkpoint,
                  "Checkpoint directory, or a run directory (its latest)")
      ->required();
  cmd->add_option("--prompt", o->prompt, "Text to continue")->required();
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", o->sampling.temperature, "Softmax temperature (0: greedy)")
      ->capture_default_str();
  cmd->add_option("--top-k", o->sampling.top_k, "Sample among the k most likely (0: all)")
      ->capture_default_str();
  cmd->add_option("--top-p", o->sampling.top_p, "Nucleus: smallest set with this probability")
      ->capture_default_str();
  cmd->add_option("--seed", o->sampling.seed, "Sampling seed")->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0: all)")->capture_default_str();
  add_backend_flags(cmd, o->device);
  cmd->callback([o, &exit_code]() { exit_code = run_generate(*o); });
}

}  // namespace cohort
