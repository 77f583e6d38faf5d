#include "train/checkpoint.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/file_io.h"
#include "core/fnv.h"
#include "core/memory_space.h"
#include "io/model_safetensors.h"
#include "io/safetensors.h"
#include "io/shard_set.h"
#include "model/model_config_json.h"
#include "model/model_layout.h"

namespace cohort {

namespace fs = std::filesystem;

namespace {

// Files under dir, relative, sorted; MANIFEST itself excluded.
std::vector<std::string> files_under(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), dir).string();
    if (rel != "MANIFEST") out.push_back(rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A file's FNV-1a hash and size, read in pieces: a checkpoint's files can be as large as
// the optimizer state, which must not be held twice.
std::pair<std::string, uint64_t> file_fingerprint(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot read", path.string()));
  std::vector<char> piece(size_t(8) << 20);
  uint64_t h = kFnv1a64Start, size = 0;
  while (in) {
    in.read(piece.data(), std::streamsize(piece.size()));
    const auto got = size_t(in.gcount());
    h = fnv1a64_update(h, piece.data(), got);
    size += got;
  }
  if (in.bad()) throw Error(fmt::format("{}: read failed", path.string()));
  return {fmt::format("{:016x}", h), size};
}

void write_manifest(const fs::path& dir) {
  std::string text;
  for (const auto& rel : files_under(dir)) {
    const auto [hash, size] = file_fingerprint(dir / rel);
    text += fmt::format("{} {} {}\n", hash, size, rel);
  }
  write_file_atomic(dir / "MANIFEST", text);
}

void verify_manifest(const fs::path& dir) {
  const fs::path manifest = dir / "MANIFEST";
  if (!fs::exists(manifest)) {
    throw Error(fmt::format("{}: missing: an incomplete checkpoint", manifest.string()));
  }
  const std::string text = read_file(manifest);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    const size_t a = line.find(' '), b = line.find(' ', a + 1);
    if (a == std::string::npos || b == std::string::npos) {
      throw Error(fmt::format("{}: malformed line '{}'", manifest.string(), line));
    }
    const std::string hash = line.substr(0, a), rel = line.substr(b + 1);
    const fs::path file = dir / rel;
    if (!fs::exists(file))
      throw Error(fmt::format("{}: missing (listed in MANIFEST)", file.string()));
    const auto [got_hash, got_size] = file_fingerprint(file);
    if (std::to_string(got_size) != line.substr(a + 1, b - a - 1) || got_hash != hash) {
      throw Error(fmt::format("{}: size or checksum differs from MANIFEST: the file is damaged",
                              file.string()));
    }
  }
}

nlohmann::json state_json(const TrainingState& s) {
  nlohmann::json j{{"step", s.step},           {"loader_sample", s.loader_sample},
                   {"seed", s.seed},           {"lr", s.lr},
                   {"best_step", s.best_step}, {"evals_since_best", s.evals_since_best}};
  j["best_val_loss"] = std::isfinite(s.best_val_loss) ? nlohmann::json(s.best_val_loss) : nullptr;
  if (s.world > 0) j["world"] = s.world;
  return j;
}

TrainingState state_from_json(const nlohmann::json& j) {
  TrainingState s;
  s.step = j.at("step").get<long>();
  s.loader_sample = j.at("loader_sample").get<uint64_t>();
  s.seed = j.at("seed").get<uint64_t>();
  s.lr = j.at("lr").get<float>();
  s.best_step = j.at("best_step").get<long>();
  s.evals_since_best = j.at("evals_since_best").get<int>();
  if (!j.at("best_val_loss").is_null()) s.best_val_loss = j["best_val_loss"].get<double>();
  if (j.contains("world")) s.world = j["world"].get<int>();
  return s;
}

void point_to(const fs::path& checkpoints, const char* name, const std::string& target) {
  write_file_atomic(checkpoints / name, target + "\n");
}

std::string read_pointer(const fs::path& file) {
  std::string s = read_file(file);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The complete checkpoints under `checkpoints` (step-N, not step-N.tmp), oldest first.
std::vector<std::pair<long, fs::path>> checkpoints_by_step(const fs::path& checkpoints) {
  const std::regex name(R"(step-(\d+))");
  std::vector<std::pair<long, fs::path>> found;
  for (const auto& e : fs::directory_iterator(checkpoints)) {
    std::smatch m;
    const std::string f = e.path().filename().string();
    if (e.is_directory() && std::regex_match(f, m, name))
      found.emplace_back(std::stol(m[1]), e.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

void prune(const fs::path& checkpoints, int keep_last) {
  const auto found = checkpoints_by_step(checkpoints);
  std::string best;
  if (fs::exists(checkpoints / "best")) best = read_pointer(checkpoints / "best");
  const long excess = long(found.size()) - std::max(1, keep_last);
  for (long i = 0; i < excess; ++i) {
    if (found[i].second.filename().string() == best) continue;
    std::error_code ec;
    fs::remove_all(found[i].second, ec);
  }
}

}  // namespace

fs::path save_checkpoint(const fs::path& run_dir, const CheckpointContents& c, int keep_last,
                         bool is_best, Communicator& comm) {
  const fs::path checkpoints = run_dir / "checkpoints";
  const std::string name = fmt::format("step-{}", c.state.step);
  const fs::path final_dir = checkpoints / name, tmp = checkpoints / (name + ".tmp");
  const bool lead = comm.rank() == 0;
  const bool sharded =
      c.optimizer != nullptr &&
      (c.optimizer_is_part || c.optimizer->end() - c.optimizer->begin() != c.layout->total());
  std::error_code ec;
  if (lead) {
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    if (ec) throw Error(fmt::format("{}: cannot create: {}", tmp.string(), ec.message()));
  }
  comm.barrier();  // the directory exists
  // A failed write (a full disk, a file-size limit) leaves `latest` where it was.
  auto failed = [&](const Error& e) {
    std::string previous = "none";
    if (fs::exists(checkpoints / "latest")) previous = read_pointer(checkpoints / "latest");
    if (lead) fs::remove_all(tmp, ec);
    return Error(fmt::format("cannot write checkpoint {}: {}; the previous checkpoint ({}) is "
                             "intact",
                             final_dir.string(), e.what(), previous),
                 e.exit_code());
  };
  if (c.optimizer != nullptr && (sharded || lead)) {
    try {
      SafetensorsFile opt;
      const auto state = c.optimizer->state();
      std::vector<std::vector<float>> scratch(state.size());  // device buffers' host copies
      for (size_t i = 0; i < state.size(); ++i) {
        const auto& buf = state[i];
        opt.put_floats_borrowed(buf.name, {int64_t(buf.size)},
                                host_readable(*buf.space, buf.data, buf.size, scratch[i]));
      }
      opt.metadata()["steps_taken"] = std::to_string(c.optimizer->steps_taken());
      opt.metadata()["begin"] = std::to_string(c.optimizer->begin());
      opt.metadata()["end"] = std::to_string(c.optimizer->end());
      opt.write((tmp / (sharded ? fmt::format("optimizer-rank-{}-of-{}.safetensors", comm.rank(),
                                              comm.world())
                                : std::string("optimizer.safetensors")))
                    .string());
    } catch (const Error& e) {
      throw failed(e);
    }
  }
  if (c.params_sharded) {
    try {
      std::vector<float> scratch;
      const size_t n = c.params_end - c.params_begin;
      write_flat_shard(tmp / shard_file_name("model", comm.rank(), comm.world()), *c.layout,
                       host_readable(*c.params_space, c.params + c.params_begin, n, scratch),
                       c.params_begin, c.params_end);
    } catch (const Error& e) {
      throw failed(e);
    }
  }
  // Every rank's range of the shard set, for rank 0's index.
  const std::vector<std::string> ranges = comm.all_gather_strings(
      c.params_sharded ? fmt::format("{} {}", c.params_begin, c.params_end) : std::string());
  comm.barrier();  // every shard is written
  if (!lead) {
    comm.barrier();  // rank 0 has renamed the checkpoint into place
    return final_dir;
  }
  try {
    if (c.params_sharded) {
      std::vector<std::string> files;
      std::vector<std::pair<size_t, size_t>> tiles;
      for (size_t r = 0; r < ranges.size(); ++r) {
        size_t b = 0, e = 0;
        std::sscanf(ranges[r].c_str(), "%zu %zu", &b, &e);
        files.push_back(shard_file_name("model", int(r), comm.world()));
        tiles.emplace_back(b, e);
      }
      write_flat_shard_index(tmp / shard_index_name("model"), *c.layout, files, tiles);
    } else {
      std::vector<float> scratch;
      write_model_safetensors(tmp / "model.safetensors", c.model->arch, c.model->vocab_size,
                              *c.layout,
                              host_readable(*c.params_space, c.params, c.layout->total(), scratch));
    }
    nlohmann::json config = gpt2_config_json(*c.model);
    config["cohort_run_config"] = c.run_config_toml;
    write_file_atomic(tmp / "config.json", config.dump(2) + "\n");
    write_file_atomic(tmp / "state.json", state_json(c.state).dump(2) + "\n");
    if (c.tokenizer_dir != nullptr) {
      fs::copy(*c.tokenizer_dir, tmp / "tokenizer", fs::copy_options::recursive);
    }
    write_manifest(tmp);
    sync_directory(tmp);
  } catch (const Error& e) {
    throw failed(e);
  } catch (const fs::filesystem_error& e) {
    throw failed(Error(e.what()));
  }
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec)
    throw Error(fmt::format("{}: cannot rename into place: {}", final_dir.string(), ec.message()));
  sync_directory(checkpoints);
  point_to(checkpoints, "latest", name);
  if (is_best) point_to(checkpoints, "best", name);
  prune(checkpoints, keep_last);
  comm.barrier();
  return final_dir;
}

fs::path resolve_checkpoint(const fs::path& path) {
  if (fs::exists(path / "model.safetensors") || fs::exists(path / "MANIFEST")) return path;
  // RUN_DIR/checkpoints/latest or best: the pointer file names the checkpoint.
  if (fs::is_regular_file(path) && (path.filename() == "latest" || path.filename() == "best")) {
    const fs::path target = path.parent_path() / read_pointer(path);
    if (!fs::is_directory(target)) {
      throw Error(
          fmt::format("{}: names {}, which does not exist", path.string(), target.string()));
    }
    return target;
  }
  for (const fs::path& dir : {path, path / "checkpoints"}) {
    if (fs::exists(dir / "latest")) {
      const fs::path target = dir / read_pointer(dir / "latest");
      if (!fs::is_directory(target)) {
        throw Error(fmt::format("{}: names {}, which does not exist", (dir / "latest").string(),
                                target.string()));
      }
      return target;
    }
  }
  if (!fs::exists(path))
    throw Error(fmt::format("{}: no such checkpoint or run directory", path.string()));
  throw Error(fmt::format("{}: not a checkpoint (no model.safetensors) and no checkpoints/latest",
                          path.string()));
}

LoadedCheckpoint load_checkpoint(const fs::path& dir, const std::optional<ParamRange>& range) {
  verify_manifest(dir);
  LoadedCheckpoint ck;
  ck.dir = dir;
  const fs::path config_path = dir / "config.json";
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(read_file(config_path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", config_path.string(), e.what()));
  }
  ck.model = model_config_from_json(config, config_path.string());
  if (config.contains("cohort_run_config") && !config["cohort_run_config"].is_string()) {
    throw Error(fmt::format("{}: cohort_run_config must be a string", config_path.string()));
  }
  ck.run_config_toml = config.value("cohort_run_config", "");
  const ParameterLayout layout = model_layout(ck.model);
  const auto [lo, hi] = range.value_or(ParamRange{0, layout.total()});
  if (lo > hi || hi > layout.total())
    throw Error(fmt::format("{}: parameters [{}, {}) asked of a model of {}", dir.string(), lo, hi,
                            layout.total()));
  ck.params_begin = lo;
  if (!fs::exists(dir / "model.safetensors") && fs::exists(dir / shard_index_name("model"))) {
    ck.params.resize(hi - lo);
    read_shard_set(dir / shard_index_name("model"), layout, ck.params.data(), lo, hi);
  } else {
    ck.params.resize(layout.total());
    read_model_safetensors(dir / "model.safetensors", ck.model.arch, ck.model.vocab_size, layout,
                           ck.params.data());
    if (lo != 0 || hi != layout.total()) {
      ck.params.erase(ck.params.begin() + long(hi), ck.params.end());
      ck.params.erase(ck.params.begin(), ck.params.begin() + long(lo));
      ck.params.shrink_to_fit();
    }
  }
  const fs::path state_path = dir / "state.json";
  try {
    ck.state = state_from_json(nlohmann::json::parse(read_file(state_path)));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: {}", state_path.string(), e.what()));
  }
  if (fs::exists(dir / "tokenizer")) {
    ck.tokenizer = load_tokenizer(dir / "tokenizer");
    // The encoder and seq2seq tasks add special ids after the tokenizer's (task.json).
    const bool specials_after = ck.model.arch != "gpt";
    if (specials_after ? ck.tokenizer->vocab_size() > ck.model.vocab_size
                       : ck.tokenizer->vocab_size() != ck.model.vocab_size) {
      throw Error(fmt::format("{}: tokenizer has {} ids but the model's vocab_size is {}",
                              (dir / "tokenizer").string(), ck.tokenizer->vocab_size(),
                              ck.model.vocab_size));
    }
  }
  return ck;
}

void load_optimizer_state(const fs::path& dir, Optimizer& optimizer) {
  std::vector<fs::path> files;
  if (fs::exists(dir / "optimizer.safetensors")) {
    files.push_back(dir / "optimizer.safetensors");
  } else {
    const std::regex shard(R"(optimizer-rank-\d+-of-\d+\.safetensors)");
    for (const auto& e : fs::directory_iterator(dir)) {
      if (std::regex_match(e.path().filename().string(), shard)) files.push_back(e.path());
    }
    if (files.empty()) {
      throw Error(
          fmt::format("{}: no optimizer.safetensors or optimizer-rank-*.safetensors: "
                      "cannot resume the optimizer",
                      dir.string()));
    }
  }
  const size_t ob = optimizer.begin(), oe = optimizer.end();
  size_t covered = 0;
  long steps = -1;
  for (const auto& path : files) {
    const std::string where = path.string();
    const SafetensorsFile file = SafetensorsFile::read(where);
    const auto& meta = file.metadata();
    auto field = [&](const char* key) -> std::string {
      auto it = meta.find(key);
      if (it == meta.end()) throw Error(fmt::format("{}: metadata lacks {}", where, key));
      return it->second;
    };
    steps = std::stol(field("steps_taken"));
    // Files from before shards existed hold the whole buffer without begin/end.
    const size_t fb = meta.count("begin") ? std::stoul(field("begin")) : 0;
    const size_t lo = std::max(fb, ob);
    bool first = true;
    for (const auto& buf : optimizer.state()) {
      if (!file.contains(buf.name)) {
        throw Error(
            fmt::format("{}: missing tensor '{}' (a different optimizer?)", where, buf.name));
      }
      // F32 straight from the file's bytes (no second copy of a state buffer); others widened.
      const SafeTensor& t = file.at(buf.name);
      std::vector<float> widened;
      if (t.dtype != "F32") widened = file.floats(buf.name);
      const auto* values =
          t.dtype == "F32" ? reinterpret_cast<const float*>(t.data()) : widened.data();
      const size_t count = t.dtype == "F32" ? t.size() / sizeof(float) : widened.size();
      const size_t fe = fb + count, hi = std::min(fe, oe);
      if (meta.count("end") && std::stoul(field("end")) != fe) {
        throw Error(fmt::format("{}: '{}' holds {} values, metadata says [{}, {})", where, buf.name,
                                count, fb, field("end")));
      }
      if (lo >= hi) break;
      buf.space->copy_from_host(buf.data + (lo - ob), values + (lo - fb),
                                (hi - lo) * sizeof(float));
      if (first) covered += hi - lo;
      first = false;
    }
  }
  if (covered != oe - ob) {
    throw Error(fmt::format("{}: the optimizer files cover {} of this rank's {} values",
                            dir.string(), covered, oe - ob));
  }
  optimizer.set_steps_taken(steps);
}

LoadedCheckpoint load_newest_good_checkpoint(const fs::path& run_dir,
                                             const std::function<void(const std::string&)>& warn,
                                             const std::optional<ParamRange>& range) {
  const fs::path checkpoints = run_dir / "checkpoints";
  std::vector<fs::path> candidates;
  try {
    candidates.push_back(resolve_checkpoint(checkpoints));
  } catch (const Error& e) {
    if (!fs::is_directory(checkpoints)) throw;
    warn(e.what());
  }
  const auto by_step = checkpoints_by_step(checkpoints);
  for (auto it = by_step.rbegin(); it != by_step.rend(); ++it) {
    if (candidates.empty() || !fs::equivalent(it->second, candidates.front()))
      candidates.push_back(it->second);
  }
  if (candidates.empty()) {
    throw Error(fmt::format("{}: no checkpoint to resume from", checkpoints.string()));
  }
  for (const fs::path& dir : candidates) {
    try {
      return load_checkpoint(dir, range);
    } catch (const Error& e) {
      warn(fmt::format("{} (skipping {})", e.what(), dir.filename().string()));
    }
  }
  throw Error(
      fmt::format("{}: none of the {} checkpoints loads", checkpoints.string(), candidates.size()));
}

}  // namespace cohort
