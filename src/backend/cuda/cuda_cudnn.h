// cuDNN's graph API for the graphs of cudnn_attention_graph.h. libcudnn.so.9 is opened at
// run time (dlopen), not linked: the build, CI and every machine that never asks for a
// cuDNN route need no cuDNN library, and the one the GPU machine has (PyTorch's wheel)
// serves. The build needs cuDNN's headers only for their types; without them
// (COHORT_CUDNN_HEADERS undefined) every call here says so.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/cudnn_attention_graph.h"

namespace cohort::cuda {

// Whether cuDNN 9 loads here and gives a handle on the current device; if not, why.
bool cudnn_available(std::string* why);
// The loaded library's version (cudnnGetVersion: 91900 for 9.19.0); throws if none loads.
int64_t cudnn_version();
// Whether cuDNN 9's library loads here (no device needed); if not, why.
bool cudnn_library_available(std::string* why);
// Builds and finalizes the descriptors of the graph's tensors and operations, which needs
// cuDNN's library but no device: what a machine without a GPU can check of a graph's
// lowering (types, shapes, strides, attributes). Throws cohort::Error with cuDNN's message.
void cudnn_lower_operations(const cudnn_graph::Graph& graph);

// One graph's execution plan on the current device: the first of the engines cuDNN's
// heuristics rank for the graph that is deterministic (no NONDETERMINISTIC numerical note)
// and finalizes. Throws cohort::Error naming the step that failed, with cuDNN's message.
// With device_properties (a device's properties in cuDNN's JSON form,
// CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION; cuDNN 9.8 or later), the plan is built for
// that device without one, and cannot run: how a machine without a GPU checks that cuDNN
// has an engine for a graph.
class CudnnPlan {
 public:
  explicit CudnnPlan(const cudnn_graph::Graph& graph, const std::string& device_properties = "");
  ~CudnnPlan();
  CudnnPlan(const CudnnPlan&) = delete;
  CudnnPlan& operator=(const CudnnPlan&) = delete;

  size_t workspace_bytes() const;
  // The engine taken and the candidates passed over, for a benchmark's notes.
  const std::string& description() const;
  // Runs the plan on the legacy default stream (the backend's), with device memory for
  // each of the graph's non-virtual tensors by uid (scalars are the graph's own) and
  // workspace_bytes() of workspace (16-byte aligned).
  void execute(const std::vector<std::pair<int64_t, void*>>& tensors, void* workspace) const;

  struct State;  // its descriptors (cuda_cudnn.cc's, which cudnn_candidates shares)

 private:
  std::unique_ptr<State> s_;
};

// What became of one of the candidates cuDNN's heuristics rank for a graph.
struct CudnnCandidate {
  int64_t engine = -1;            // cuDNN's global engine index
  bool nondeterministic = false;  // noted so by cuDNN, and so not tried
  std::string failure;            // empty: its plan finalized; else cuDNN's status and message
  // It failed where the CUDA driver loads the kernels cuDNN compiled for it (as without a
  // GPU, with the toolkit's stub libcuda.so): everything before that succeeded.
  bool driver_failure = false;
  // Bytes: the finalized plan's, else the engine configuration's (-1: cuDNN gave none).
  int64_t workspace = 0;
};

// Every candidate cuDNN's heuristics rank for the graph, each tried (as CudnnPlan tries
// them until one finalizes); device_properties as for CudnnPlan. For tests.
std::vector<CudnnCandidate> cudnn_candidates(const cudnn_graph::Graph& graph,
                                             const std::string& device_properties);

}  // namespace cohort::cuda
