// Shard sets: one checkpoint's tensors written in slices by several ranks, read back onto
// any other slicing (docs/checkpoints.md). Each rank's file, NAME-rank-R-of-N.safetensors,
// holds its slices, each under its tensor's name; NAME.index.json records every tensor's
// full shape and which file holds which part:
//   {"format": "cohort-shard-set", "version": 1, "files": [...],
//    "tensors": {"h.0.attn.c_attn.weight": {"shape": [C, 3C],
//                "slices": [{"file": 0, "flat": [begin, end]},          (a flat range)
//                           {"file": 1, "start": [0, C], "shape": [C, C]}]}}}  (a block)
// fsdp writes flat ranges of the flat buffer (a rank's shard cuts tensors anywhere);
// tensor parallelism writes blocks of a tensor's dimensions. A loader reads any of them.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/parameter_layout.h"

namespace cohort {

// "model-rank-2-of-4.safetensors" for prefix "model".
std::string shard_file_name(const std::string& prefix, int rank, int world);
// "model.index.json".
std::string shard_index_name(const std::string& prefix);

// Writes `file` holding flat [begin, end) of the layout's buffer: each tensor's part as a
// 1-D slice under its name. values: the floats [begin, end), host memory.
void write_flat_shard(const std::filesystem::path& file, const ParameterLayout& layout,
                      const float* values, size_t begin, size_t end);

// Writes the index of a flat shard set: files[i] holds flat ranges[i] of the layout's buffer.
// The ranges must tile [0, layout.total()).
void write_flat_shard_index(const std::filesystem::path& index, const ParameterLayout& layout,
                            const std::vector<std::string>& files,
                            const std::vector<std::pair<size_t, size_t>>& ranges);

// Fills out with flat [lo, hi) of the layout's buffer from the shard set `index` names
// (files beside it), whatever slicing wrote it; reads only the files that hold part of the
// range. Every tensor of the layout must be there with its shape, and the range covered
// exactly once. Throws cohort::Error naming the file and the tensor.
void read_shard_set(const std::filesystem::path& index, const ParameterLayout& layout, float* out,
                    size_t lo, size_t hi);

}  // namespace cohort
