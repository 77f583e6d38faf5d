// cohort export: a checkpoint, whole or a shard set (fsdp), in a format other tools read.
// --format hf writes Hugging Face's layout: model.safetensors (or HF's own sharded files
// past --max-shard-size) with HF names and config.json, plus the tokenizer directory.
// The directory is written beside --out and renamed into place: never half-written.
#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file_io.h"
#include "io/model_safetensors.h"
#include "io/shard_set.h"
#include "model/model_config_json.h"
#include "model/model_layout.h"
#include "train/checkpoint.h"
#include "train/memory_plan.h"

namespace cohort {

namespace fs = std::filesystem;

namespace {

struct ExportOptions {
  std::string checkpoint, format = "hf", out, max_shard_size = "5G";
};

int run_export(const ExportOptions& o) {
  if (o.format != "hf")
    throw Error(fmt::format("--format {}: unknown format (expected hf)", o.format));
  const size_t max_shard = memory_limit_bytes(o.max_shard_size, "--max-shard-size");
  if (max_shard == 0) throw Error("--max-shard-size must be more than 0");
  const fs::path out(o.out);
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)))
    throw Error(fmt::format("--out {}: exists and is not an empty directory", out.string()));
  const fs::path dir = resolve_checkpoint(o.checkpoint);
  const bool sharded = fs::exists(dir / shard_index_name("model"));
  const LoadedCheckpoint ck = load_checkpoint(dir);
  const fs::path tmp = out.string() + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) throw Error(fmt::format("{}: cannot create: {}", tmp.string(), ec.message()));
  try {
    const auto files = write_hf_model_files(tmp, ck.model.arch, ck.model.vocab_size,
                                            model_layout(ck.model), ck.params.data(), max_shard);
    write_file_atomic(tmp / "config.json", gpt2_config_json(ck.model).dump(2) + "\n");
    if (fs::exists(dir / "tokenizer"))
      fs::copy(dir / "tokenizer", tmp / "tokenizer", fs::copy_options::recursive);
    sync_directory(tmp);
    fs::remove(out, ec);  // an empty directory, if any
    fs::rename(tmp, out);
    fmt::print("exported step {} of {}{} to {}: {}, config.json{}\n", ck.state.step, dir.string(),
               sharded ? " (a shard set, consolidated)" : "", out.string(),
               files.size() == 1 ? files[0]
                                 : fmt::format("{} files and {}", files.size() - 1, files.back()),
               fs::exists(out / "tokenizer") ? ", tokenizer/" : "");
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw Error(fmt::format("cannot write {}: {}", out.string(), e.what()));
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return 0;
}

}  // namespace

void add_export_command(CLI::App& root, int& exit_code) {
  auto o = std::make_shared<ExportOptions>();
  CLI::App* cmd = root.add_subcommand(
      "export",
      "Write a checkpoint (whole, or an fsdp shard set, consolidated) in another tool's "
      "format: hf = Hugging Face's model.safetensors and config.json");
  cmd->add_option("--checkpoint", o->checkpoint,
                  "Checkpoint directory, or a run directory (its latest checkpoint)")
      ->required();
  cmd->add_option("--format", o->format, "hf")->capture_default_str();
  cmd->add_option("--out", o->out, "Directory to create (must not exist, or be empty)")->required();
  cmd->add_option("--max-shard-size", o->max_shard_size,
                  "hf: split the weights into HF's sharded files past this size (K, M, G)")
      ->capture_default_str();
  cmd->callback([o, &exit_code]() { exit_code = run_export(*o); });
}

}  // namespace cohort
