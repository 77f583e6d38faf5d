// The cuDNN attention graphs (cudnn_attention_graph.h) run through a CPU interpreter of
// their operations and compared with the CPU backend's attention: their layouts,
// transposes, mask, softmax statistics and backward formulas, on a machine without a
// GPU. What cuDNN itself makes of them is cuda_ops_test's (CudnnAttention, on a GPU).
#include "backend/cuda/cudnn_attention_graph.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_cudnn.h"
#include "core/error.h"
#include "cuda_test_values.h"
#include "reference_ops.h"

namespace cohort {
namespace {

using cudnn_graph::Graph;
using cudnn_graph::Op;
using cudnn_graph::OpKind;
using cudnn_graph::Pointwise;
using cudnn_graph::Reduction;
using cudnn_graph::Tensor;
using Floats = std::vector<float>;
using Index = std::array<int64_t, 4>;

int64_t offset(const Tensor& t, const Index& i) {
  int64_t o = 0;
  for (int d = 0; d < 4; ++d) o += (t.dims[d] == 1 ? 0 : i[d]) * t.strides[d];
  return o;
}

template <typename F>
void for_each_index(const Tensor& t, F f) {
  Index i{};
  for (i[0] = 0; i[0] < t.dims[0]; ++i[0])
    for (i[1] = 0; i[1] < t.dims[1]; ++i[1])
      for (i[2] = 0; i[2] < t.dims[2]; ++i[2])
        for (i[3] = 0; i[3] < t.dims[3]; ++i[3]) f(i);
}

// Runs a graph's ops in order on floats (every type held as a float; the 16-bit types
// unrounded, so the results are fp32 attention's). Device tensors are bound by uid;
// virtual ones get memory of their own, except a reshape's output, which views its input.
class Interpreter {
 public:
  explicit Interpreter(const Graph& g) : g_(g) {}
  void bind(int64_t uid, float* p) { memory_[uid] = p; }
  // Three uids at the thirds of a (B, T, 3C) buffer: q, k, v or their gradients.
  void bind_thirds(int64_t first, int64_t second, int64_t third, float* p, int C) {
    bind(first, p);
    bind(second, p + C);
    bind(third, p + 2 * C);
  }

  void run() {
    for (const Tensor& t : g_.tensors) {
      if (t.by_value) {
        scalars_[t.uid] = t.value;
        memory_[t.uid] = &scalars_[t.uid];
      }
    }
    for (const Op& op : g_.ops) {
      ASSERT_TRUE(written_.insert(op.y).second) << "tensor " << op.y << " written twice";
      const Tensor& y = g_.tensor(op.y);
      if (op.kind == OpKind::reshape) {
        ASSERT_TRUE(y.is_virtual) << "a reshape's output must be virtual";
        memory_[op.y] = in(op.x);
        continue;
      }
      if (y.is_virtual) {
        int64_t size = 1;
        for (int d = 0; d < 4; ++d) size += (y.dims[d] - 1) * y.strides[d];
        owned_[op.y].assign(size_t(size), NAN);
        memory_[op.y] = owned_[op.y].data();
      } else {
        ASSERT_TRUE(memory_.count(op.y)) << "device tensor " << op.y << " is not bound";
      }
      if (op.kind == OpKind::matmul) matmul(op, y);
      if (op.kind == OpKind::pointwise) pointwise(op, y);
      if (op.kind == OpKind::reduction) reduction(op, y);
    }
  }

 private:
  float* in(int64_t uid) {
    EXPECT_TRUE(memory_.count(uid)) << "tensor " << uid << " read before it was written";
    return memory_.count(uid) ? memory_[uid] : nullptr;
  }
  float at(int64_t uid, const Index& i) { return in(uid)[offset(g_.tensor(uid), i)]; }

  void matmul(const Op& op, const Tensor& y) {
    const Tensor &a = g_.tensor(op.x), &b = g_.tensor(op.b);
    ASSERT_EQ(a.dims[2], y.dims[2]) << "matmul rows";
    ASSERT_EQ(b.dims[3], y.dims[3]) << "matmul columns";
    ASSERT_EQ(a.dims[3], b.dims[2]) << "matmul inner size";
    float* out = memory_[op.y];
    for_each_index(y, [&](const Index& i) {
      double acc = 0;
      for (int64_t k = 0; k < a.dims[3]; ++k)
        acc += double(at(op.x, {i[0], i[1], i[2], k})) * at(op.b, {i[0], i[1], k, i[3]});
      out[offset(y, i)] = float(acc);
    });
  }

  void pointwise(const Op& op, const Tensor& y) {
    float* out = memory_[op.y];
    for_each_index(y, [&](const Index& i) {
      const float x = op.pointwise == Pointwise::gen_index ? 0.0f : at(op.x, i);
      const bool binary = op.b != 0;
      const float b = binary ? at(op.b, i) : 0.0f;
      float r = 0;
      switch (op.pointwise) {
        case Pointwise::add:
          r = x + b;
          break;
        case Pointwise::sub:
          r = x - b;
          break;
        case Pointwise::mul:
          r = x * b;
          break;
        case Pointwise::div:
          r = x / b;
          break;
        case Pointwise::exp:
          r = std::exp(x);
          break;
        case Pointwise::log:
          r = std::log(x);
          break;
        case Pointwise::identity:
          r = x;
          break;
        case Pointwise::gen_index:
          r = float(i[size_t(op.axis)]);
          break;
        case Pointwise::cmp_ge:
          r = x >= b ? 1.0f : 0.0f;
          break;
        case Pointwise::binary_select:
          r = at(op.t, i) != 0.0f ? x : b;
          break;
      }
      out[offset(y, i)] = r;
    });
  }

  void reduction(const Op& op, const Tensor& y) {
    const Tensor& x = g_.tensor(op.x);
    float* out = memory_[op.y];
    const float init = op.reduction == Reduction::max ? -INFINITY : 0.0f;
    for_each_index(y, [&](const Index& i) { out[offset(y, i)] = init; });
    for_each_index(x, [&](const Index& i) {
      Index j = i;
      for (int d = 0; d < 4; ++d)
        if (y.dims[d] == 1) {
          j[d] = 0;
        }
      float& r = out[offset(y, j)];
      const float v = at(op.x, i);
      r = op.reduction == Reduction::max ? std::max(r, v) : r + v;
    });
  }

  const Graph& g_;
  std::map<int64_t, float*> memory_;
  std::map<int64_t, Floats> owned_;
  std::map<int64_t, float> scalars_;
  std::set<int64_t> written_;
};

double max_error(const Floats& got, const Floats& want) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return INFINITY;
    err = std::max(err, double(std::abs(got[i] - want[i])));
    scale = std::max(scale, double(std::abs(want[i])));
  }
  return err / scale;
}

struct Shape {
  int B, T, C, NH;
};

class CudnnAttentionGraph : public ::testing::TestWithParam<Shape> {};

TEST_P(CudnnAttentionGraph, ComputesTheCpuAttentionForwardAndBackward) {
  const auto [B, T, C, NH] = GetParam();
  const int N = B * T;
  std::mt19937 rng{77};
  Floats qkv = cuda_test::random_floats(rng, size_t(N) * 3 * C),
         dout = cuda_test::random_floats(rng, size_t(N) * C);
  CpuBackend cpu;
  Floats out(size_t(N) * C), att(size_t(B) * NH * T * T), dqkv(qkv.size()), scratch(att.size());
  cpu.attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH, DropoutKey{});
  cpu.attention_backward(dqkv.data(), scratch.data(), dout.data(), qkv.data(), att.data(),
                         out.data(), B, T, C, NH, DropoutKey{});
  const ref::Vec want_lse = ref::attention_lse(ref::Vec(qkv.begin(), qkv.end()), B, T, C, NH);
  const Floats lse(want_lse.begin(), want_lse.end());

  const cudnn_graph::AttentionShape shape{B, T, C, NH, cudnn_graph::DataType::bf16};
  const Graph forward = cudnn_graph::attention_forward_graph(shape);
  Floats got_out(out.size(), NAN), stats(lse.size(), NAN);
  Interpreter f(forward);
  f.bind_thirds(cudnn_graph::kQ, cudnn_graph::kK, cudnn_graph::kV, qkv.data(), C);
  f.bind(cudnn_graph::kO, got_out.data());
  f.bind(cudnn_graph::kStats, stats.data());
  f.run();
  if (HasFatalFailure()) return;
  const double out_error = max_error(got_out, out), stats_error = max_error(stats, lse);
  EXPECT_LT(out_error, 1e-5) << "O";
  EXPECT_LT(stats_error, 1e-5) << "Stats";

  const Graph backward = cudnn_graph::attention_backward_graph(shape);
  Floats got(dqkv.size(), NAN), row_dot(lse.size(), NAN);
  Interpreter g(backward);
  g.bind_thirds(cudnn_graph::kQ, cudnn_graph::kK, cudnn_graph::kV, qkv.data(), C);
  g.bind(cudnn_graph::kO, got_out.data());
  g.bind(cudnn_graph::kDO, dout.data());
  g.bind(cudnn_graph::kStats, stats.data());
  g.bind_thirds(cudnn_graph::kDQ, cudnn_graph::kDK, cudnn_graph::kDV, got.data(), C);
  g.bind(cudnn_graph::kRowDot, row_dot.data());
  g.run();
  if (HasFatalFailure()) return;
  // Each third of a row separately: q's, k's and v's gradients have their own scales.
  double errors[3];
  for (int part = 0; part < 3; ++part) {
    Floats a, w;
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c) {
        a.push_back(got[size_t(n) * 3 * C + part * C + c]);
        w.push_back(dqkv[size_t(n) * 3 * C + part * C + c]);
      }
    errors[part] = max_error(a, w);
    EXPECT_LT(errors[part], 1e-5) << "the gradient of part " << part << " (q, k, v)";
  }
  std::printf("B=%d T=%d C=%d NH=%d: O %.1e, Stats %.1e, dq %.1e, dk %.1e, dv %.1e\n", B, T, C, NH,
              out_error, stats_error, errors[0], errors[1], errors[2]);
}

// Head sizes 64 (GPT-2's) and small ones; T neither a multiple of 64 nor of 16.
INSTANTIATE_TEST_SUITE_P(Shapes, CudnnAttentionGraph,
                         ::testing::Values(Shape{2, 19, 12, 3}, Shape{1, 33, 128, 2},
                                           Shape{3, 8, 8, 1}));

TEST(CudnnAttentionGraph, EveryVirtualTensorIsWrittenOnceAndUidsAreUnique) {
  const cudnn_graph::AttentionShape shape{2, 64, 128, 2, cudnn_graph::DataType::fp16};
  for (const Graph& g : {cudnn_graph::attention_forward_graph(shape),
                         cudnn_graph::attention_backward_graph(shape)}) {
    std::set<int64_t> uids, outputs;
    for (const Tensor& t : g.tensors) EXPECT_TRUE(uids.insert(t.uid).second) << t.uid;
    for (const Op& op : g.ops) EXPECT_TRUE(outputs.insert(op.y).second) << op.y;
    for (const Tensor& t : g.tensors) {
      if (t.is_virtual) {
        EXPECT_TRUE(outputs.count(t.uid)) << "virtual " << t.uid << " never written";
      }
    }
  }
}

// cuDNN's library (no device) finalizes every tensor and operation descriptor of both
// graphs, in both 16-bit types: the attribute types, shapes and strides it checks.
TEST(CudnnAttentionGraph, CudnnFinalizesEveryOperationOfBothGraphs) {
  std::string why;
  if (!cuda::cudnn_library_available(&why)) GTEST_SKIP() << why;
  for (const auto io : {cudnn_graph::DataType::bf16, cudnn_graph::DataType::fp16}) {
    const cudnn_graph::AttentionShape shape{16, 1024, 768, 12, io};
    EXPECT_NO_THROW(cuda::cudnn_lower_operations(cudnn_graph::attention_forward_graph(shape)));
    EXPECT_NO_THROW(cuda::cudnn_lower_operations(cudnn_graph::attention_backward_graph(shape)));
  }
}

// An H200's properties in cuDNN's JSON form (CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION),
// written from what the lent machines reported (132 multiprocessors, 60 MB of L2, 143771
// MiB, SM 1980 MHz, memory 3201 MHz; driver 580 for CUDA 13.0) and Hopper's limits.
constexpr const char* kH200 = R"({
  "deviceVer": 900, "driverVer": 13000, "cudaDeviceId": 0, "deviceName": "NVIDIA H200",
  "totalGlobalMem": 150754820096, "multiProcessorCount": 132, "l2CacheSize": 62914560,
  "smClockRateKHz": 1980000, "memClockRateKHz": 3201000, "warpSize": 32,
  "maxGridSize": [2147483647, 65535, 65535], "maxBlockSize": [1024, 1024, 64],
  "maxThreadsPerBlock": 1024, "maxThreadsPerSM": 2048, "maxCtasPerSM": 32,
  "regsPerBlock": 65536, "maxRegistersPerSM": 65536, "maxSharedMemoryPerBlock": 49152,
  "maxSharedMemoryPerBlockOptin": 232448, "reservedSharedMemoryPerBlock": 1024,
  "pciDeviceId": 0, "isTccDriver": 0, "supportCoopLaunch": 1})";

// A CUDA driver for cuDNN to load the kernels it compiles: the machine's, or where it has
// none (CI), the toolkit's stub libcuda.so, loaded under the driver's name first. With the
// stub, cuDNN's heuristics run and each candidate's kernels compile; loading them then
// fails (CUDA_ERROR_STUB_LIBRARY), which is all the stub cannot do.
// A driver without a device (it could only fail in its own ways) gives none: the stub
// can no longer take its name.
const char* load_a_driver() {
  if (void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL)) {
    using Init = int (*)(unsigned);
    using Count = int (*)(int*);
    const auto init = reinterpret_cast<Init>(dlsym(driver, "cuInit"));
    const auto count = reinterpret_cast<Count>(dlsym(driver, "cuDeviceGetCount"));
    int devices = 0;
    const bool usable = init && count && init(0) == 0 && count(&devices) == 0 && devices > 0;
    return usable ? "the CUDA driver" : nullptr;
  }
  if (dlopen(COHORT_CUDA_STUBS_DIR "/libcuda.so", RTLD_NOW | RTLD_GLOBAL))
    return "the CUDA toolkit's stub driver";
  return nullptr;
}

// For an H200's properties, without one: cuDNN's heuristics rank a deterministic engine
// for each graph at GPT-2 124M's shape (B=16, T=1024, C=768, NH=12), in both 16-bit types,
// whose plan finalizes, or fails only at loading its compiled kernels into a stub driver.
// That is, cuDNN's fused attention takes these graphs; its results are cuda_ops_test's.
TEST(CudnnAttentionGraph, CudnnHasADeterministicEngineForBothGraphsOnAnH200) {
  std::string why;
  if (!cuda::cudnn_library_available(&why)) GTEST_SKIP() << why;
  const char* driver = load_a_driver();
  if (!driver)
    GTEST_SKIP() << "no CUDA driver with a device, nor (without a driver) the toolkit's stub "
                    "in " COHORT_CUDA_STUBS_DIR;
  std::printf("cuDNN's kernels loaded by %s\n", driver);
  for (const auto io : {cudnn_graph::DataType::bf16, cudnn_graph::DataType::fp16}) {
    const cudnn_graph::AttentionShape shape{16, 1024, 768, 12, io};
    for (const bool backward : {false, true}) {
      const auto graph = backward ? cudnn_graph::attention_backward_graph(shape)
                                  : cudnn_graph::attention_forward_graph(shape);
      const std::string what =
          fmt::format("{} {}", io == cudnn_graph::DataType::bf16 ? "bf16" : "fp16",
                      backward ? "backward" : "forward");
      std::vector<cuda::CudnnCandidate> tried;
      ASSERT_NO_THROW(tried = cuda::cudnn_candidates(graph, kH200)) << what;
      int usable = 0;
      for (const auto& c : tried) {
        std::printf("%s: engine %lld, workspace %.1f MB: %s\n", what.c_str(),
                    static_cast<long long>(c.engine), double(c.workspace) / 1e6,
                    c.nondeterministic  ? "nondeterministic"
                    : c.failure.empty() ? "finalized"
                                        : c.failure.c_str());
        usable += !c.nondeterministic && (c.failure.empty() || c.driver_failure);
      }
      EXPECT_GT(usable, 0) << what << ": no deterministic engine compiles";
    }
  }
}

TEST(CudnnAttentionGraph, RejectsAChannelCountThatIsNotAMultipleOfTheHeads) {
  EXPECT_THROW(cudnn_graph::attention_forward_graph({1, 4, 10, 3, cudnn_graph::DataType::bf16}),
               Error);
}

}  // namespace
}  // namespace cohort
