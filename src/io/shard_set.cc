#include "io/shard_set.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"
#include "io/safetensors.h"

namespace cohort {

namespace fs = std::filesystem;

std::string shard_file_name(const std::string& prefix, int rank, int world) {
  return fmt::format("{}-rank-{}-of-{}.safetensors", prefix, rank, world);
}

std::string shard_index_name(const std::string& prefix) { return prefix + ".index.json"; }

void write_flat_shard(const fs::path& file, const ParameterLayout& layout, const float* values,
                      size_t begin, size_t end) {
  SafetensorsFile out;
  for (const auto& t : layout.tensors()) {
    const size_t lo = std::max(begin, t.offset), hi = std::min(end, t.offset + t.numel);
    if (lo < hi) out.put_floats_borrowed(t.name, {int64_t(hi - lo)}, values + (lo - begin));
  }
  out.metadata()["begin"] = std::to_string(begin);
  out.metadata()["end"] = std::to_string(end);
  out.write(file.string());
}

void write_flat_shard_index(const fs::path& index, const ParameterLayout& layout,
                            const std::vector<std::string>& files,
                            const std::vector<std::pair<size_t, size_t>>& ranges) {
  COHORT_CHECK(files.size() == ranges.size()) << "a range per file";
  nlohmann::json tensors = nlohmann::json::object();
  for (const auto& t : layout.tensors()) {
    nlohmann::json slices = nlohmann::json::array();
    for (size_t f = 0; f < files.size(); ++f) {
      const size_t lo = std::max(ranges[f].first, t.offset);
      const size_t hi = std::min(ranges[f].second, t.offset + t.numel);
      if (lo < hi) slices.push_back({{"file", f}, {"flat", {lo - t.offset, hi - t.offset}}});
    }
    tensors[t.name] = {{"shape", t.shape}, {"slices", slices}};
  }
  const nlohmann::json j{
      {"format", "cohort-shard-set"}, {"version", 1}, {"files", files}, {"tensors", tensors}};
  write_file_atomic(index, j.dump(1) + "\n");
}

namespace {

// A run of consecutive elements: tensor elements [at, at + n) come from the slice's
// values [from, from + n).
struct Run {
  size_t at, from, n;
};

// A slice's runs, checked against the tensor's shape; where: the index and the tensor.
std::vector<Run> slice_runs(const nlohmann::json& slice, const std::vector<int64_t>& shape,
                            size_t numel, const std::string& where) {
  if (slice.contains("flat")) {
    const auto r = slice.at("flat").get<std::vector<size_t>>();
    if (r.size() != 2 || r[0] >= r[1] || r[1] > numel)
      throw Error(
          fmt::format("{}: flat range {} outside [0, {})", where, slice["flat"].dump(), numel));
    return {{r[0], 0, r[1] - r[0]}};
  }
  const auto start = slice.at("start").get<std::vector<int64_t>>();
  const auto box = slice.at("shape").get<std::vector<int64_t>>();
  if (start.size() != shape.size() || box.size() != shape.size() || shape.empty())
    throw Error(fmt::format("{}: a block needs start and shape of rank {}", where, shape.size()));
  for (size_t d = 0; d < shape.size(); ++d)
    if (start[d] < 0 || box[d] <= 0 || start[d] + box[d] > shape[d])
      throw Error(fmt::format("{}: block start {} shape {} outside {}", where,
                              slice["start"].dump(), slice["shape"].dump(),
                              nlohmann::json(shape).dump()));
  // One run per row of the block's last dimension, in row-major order.
  std::vector<Run> runs;
  const size_t rank = shape.size(), row = size_t(box[rank - 1]);
  std::vector<int64_t> i(rank, 0);  // the row's index within the block (last dim 0)
  for (size_t from = 0;; from += row) {
    size_t at = 0;
    for (size_t d = 0; d < rank; ++d) at = at * size_t(shape[d]) + size_t(start[d] + i[d]);
    runs.push_back({at, from, row});
    size_t d = rank - 1;
    while (d > 0 && ++i[d - 1] == box[d - 1]) i[--d] = 0;
    if (d == 0) break;
  }
  return runs;
}

}  // namespace

void read_shard_set(const fs::path& index, const ParameterLayout& layout, float* out, size_t lo,
                    size_t hi) {
  const std::string where = index.string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(index));
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: not valid JSON: {}", where, e.what()));
  }
  if (j.value("format", "") != "cohort-shard-set" || j.value("version", 0) != 1)
    throw Error(fmt::format("{}: not a cohort shard set index (format, version 1)", where));
  std::vector<std::string> files;
  try {
    files = j.at("files").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: files: {}", where, e.what()));
  }
  // Per file, the runs to copy: (tensor, run) for the parts that meet [lo, hi).
  struct Copy {
    const ParameterTensor* tensor;
    Run run;
  };
  std::map<size_t, std::vector<Copy>> by_file;
  size_t covered = 0;
  for (const auto& t : layout.tensors()) {
    const std::string tw = fmt::format("{}: tensor '{}'", where, t.name);
    if (!j["tensors"].contains(t.name)) throw Error(fmt::format("{}: missing", tw));
    const auto& entry = j["tensors"][t.name];
    std::vector<int64_t> shape;
    try {
      shape = entry.at("shape").get<std::vector<int64_t>>();
      for (const auto& slice : entry.at("slices")) {
        const size_t f = slice.at("file").get<size_t>();
        if (f >= files.size()) throw Error(fmt::format("{}: file {} not in files", tw, f));
        for (const Run& r : slice_runs(slice, t.shape, t.numel, tw)) {
          const size_t a = std::max(lo, t.offset + r.at), b = std::min(hi, t.offset + r.at + r.n);
          if (a >= b) continue;
          by_file[f].push_back({&t, {a - t.offset, r.from + (a - t.offset - r.at), b - a}});
          covered += b - a;
        }
      }
    } catch (const nlohmann::json::exception& e) {
      throw Error(fmt::format("{}: {}", tw, e.what()));
    }
    if (shape != t.shape)
      throw Error(fmt::format("{}: shape {} in the index, the model's is {}", tw,
                              nlohmann::json(shape).dump(), nlohmann::json(t.shape).dump()));
  }
  if (covered != hi - lo)
    throw Error(
        fmt::format("{}: the slices cover {} of the {} values asked for: a shard set with "
                    "parts missing or overlapping",
                    where, covered, hi - lo));
  for (const auto& [f, copies] : by_file) {
    const fs::path path = index.parent_path() / files[f];
    const SafetensorsFile file = SafetensorsFile::read(path.string());
    for (const Copy& c : copies) {
      const SafeTensor& t = file.at(c.tensor->name);
      if (t.dtype != "F32")
        throw Error(
            fmt::format("{}: '{}' is {}, expected F32", path.string(), c.tensor->name, t.dtype));
      if ((c.run.from + c.run.n) * sizeof(float) > t.size())
        throw Error(fmt::format("{}: '{}' holds {} values; the index reads up to {}", path.string(),
                                c.tensor->name, t.numel(), c.run.from + c.run.n));
      std::memcpy(out + (c.tensor->offset + c.run.at - lo), t.data() + c.run.from * sizeof(float),
                  c.run.n * sizeof(float));
    }
  }
}

}  // namespace cohort
