// Shard sets: flat ranges written by 3 "ranks" read back whole and in any window; blocks of
// a tensor's dimensions (tensor parallelism's slicing) read back onto the flat layout; a
// missing part or a wrong shape is an error naming the index and the tensor.
#include "io/shard_set.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/error.h"
#include "io/safetensors.h"

namespace cohort {
namespace {

namespace fs = std::filesystem;

ParameterLayout layout() {
  ParameterLayout l;
  l.add("a", {3, 4});
  l.add("b", {5});
  l.add("c", {2, 3, 2});
  return l;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("cohort_shard_set_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<float> iota_values(size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 1.0f);
  return v;
}

// The flat buffer split at `cuts` into files, as fsdp's ranks write it.
void write_flat(const fs::path& dir, const ParameterLayout& l, const std::vector<float>& v,
                const std::vector<size_t>& cuts) {
  std::vector<std::string> files;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    files.push_back(shard_file_name("model", int(i), int(cuts.size() - 1)));
    ranges.emplace_back(cuts[i], cuts[i + 1]);
    write_flat_shard(dir / files.back(), l, v.data() + cuts[i], cuts[i], cuts[i + 1]);
  }
  write_flat_shard_index(dir / shard_index_name("model"), l, files, ranges);
}

TEST(ShardSet, FlatRangesReadBackWholeAndInAnyWindow) {
  const ParameterLayout l = layout();
  const auto v = iota_values(l.total());
  const fs::path dir = fresh_dir("flat");
  write_flat(dir, l, v, {0, 7, 13, l.total()});  // cuts inside a and inside c
  std::vector<float> whole(l.total(), -1.0f);
  read_shard_set(dir / "model.index.json", l, whole.data(), 0, l.total());
  EXPECT_EQ(whole, v);
  for (size_t lo = 0; lo < l.total(); lo += 5) {  // another rank count's shards
    const size_t hi = std::min(l.total(), lo + 9);
    std::vector<float> part(hi - lo);
    read_shard_set(dir / "model.index.json", l, part.data(), lo, hi);
    EXPECT_EQ(part, std::vector<float>(v.begin() + long(lo), v.begin() + long(hi))) << lo;
  }
}

TEST(ShardSet, BlocksOfDimensionsReadOntoTheFlatLayout) {
  // a (3, 4) cut into column blocks [0, 1) and [1, 4); b whole; c (2, 3, 2) cut along dim 1.
  const ParameterLayout l = layout();
  const auto v = iota_values(l.total());
  const fs::path dir = fresh_dir("blocks");
  auto block = [&](const std::string& name, std::vector<int64_t> start,
                   std::vector<int64_t> shape) {
    const ParameterTensor& t = l.at(name);
    std::vector<float> out;
    const int64_t rows = shape.size() == 3 ? shape[0] * shape[1] : shape[0];
    for (int64_t r = 0; r < rows; ++r) {
      // Row r of the block, as an index into the tensor's leading dimensions.
      size_t at = 0;
      if (shape.size() == 2) at = size_t(start[0] + r) * size_t(t.shape[1]) + size_t(start[1]);
      if (shape.size() == 3)
        at = (size_t(start[0] + r / shape[1]) * size_t(t.shape[1]) +
              size_t(start[1] + r % shape[1])) *
                 size_t(t.shape[2]) +
             size_t(start[2]);
      for (int64_t k = 0; k < shape.back(); ++k) out.push_back(v[t.offset + at + size_t(k)]);
    }
    return out;
  };
  SafetensorsFile f0, f1;
  const auto a0 = block("a", {0, 0}, {3, 1}), a1 = block("a", {0, 1}, {3, 3});
  const auto c0 = block("c", {0, 0, 0}, {2, 2, 2}), c1 = block("c", {0, 2, 0}, {2, 1, 2});
  f0.put_floats("a", {3, 1}, a0.data());
  f1.put_floats("a", {3, 3}, a1.data());
  f0.put_floats("b", {5}, v.data() + l.at("b").offset);
  f0.put_floats("c", {2, 2, 2}, c0.data());
  f1.put_floats("c", {2, 1, 2}, c1.data());
  f0.write((dir / "model-rank-0-of-2.safetensors").string());
  f1.write((dir / "model-rank-1-of-2.safetensors").string());
  const nlohmann::json index{
      {"format", "cohort-shard-set"},
      {"version", 1},
      {"files", {"model-rank-0-of-2.safetensors", "model-rank-1-of-2.safetensors"}},
      {"tensors",
       {{"a",
         {{"shape", {3, 4}},
          {"slices",
           {{{"file", 0}, {"start", {0, 0}}, {"shape", {3, 1}}},
            {{"file", 1}, {"start", {0, 1}}, {"shape", {3, 3}}}}}}},
        {"b", {{"shape", {5}}, {"slices", {{{"file", 0}, {"flat", {0, 5}}}}}}},
        {"c",
         {{"shape", {2, 3, 2}},
          {"slices",
           {{{"file", 0}, {"start", {0, 0, 0}}, {"shape", {2, 2, 2}}},
            {{"file", 1}, {"start", {0, 2, 0}}, {"shape", {2, 1, 2}}}}}}}}}};
  std::ofstream(dir / "model.index.json") << index.dump();
  std::vector<float> whole(l.total(), -1.0f);
  read_shard_set(dir / "model.index.json", l, whole.data(), 0, l.total());
  EXPECT_EQ(whole, v);
}

TEST(ShardSet, AMissingPartOrAWrongShapeIsNamed) {
  const ParameterLayout l = layout();
  const auto v = iota_values(l.total());
  const fs::path dir = fresh_dir("bad");
  write_flat(dir, l, v, {0, 10, l.total()});
  std::vector<float> out(l.total());
  const fs::path index = dir / "model.index.json";
  // A model with another shape for b.
  ParameterLayout other;
  other.add("a", {3, 4});
  other.add("b", {6});
  other.add("c", {2, 3, 2});
  std::vector<float> other_out(other.total());
  try {
    read_shard_set(index, other, other_out.data(), 0, other.total());
    FAIL() << "a wrong shape was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'b': shape [5] in the index, the model's is [6]"),
              std::string::npos)
        << e.what();
  }
  // An index that lost a slice.
  nlohmann::json j = nlohmann::json::parse(std::ifstream(index));
  j["tensors"]["a"]["slices"].erase(0);
  std::ofstream(index) << j.dump();
  try {
    read_shard_set(index, l, out.data(), 0, l.total());
    FAIL() << "a shard set with a part missing was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parts missing"), std::string::npos) << e.what();
  }
  // A file gone.
  write_flat(dir, l, v, {0, 10, l.total()});
  fs::remove(dir / "model-rank-1-of-2.safetensors");
  EXPECT_THROW(read_shard_set(index, l, out.data(), 0, l.total()), Error);
}

}  // namespace
}  // namespace cohort
