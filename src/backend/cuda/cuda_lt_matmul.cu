// 16-bit products through cuBLASLt, for what its epilogues fuse into the GEMM:
// - the bias of a linear forward (add_bias read and wrote all of the output: 6% of a
//   GPT-2 step on an H100-class GPU, by ncu);
// - the MLP's GELU (cuda_mlp.cu): forward, bias + GELU with the GELU's input kept in 16
//   bits; backward, the GELU's gradient applied to the product that computes it;
// - opt-in (CudaTuning::bias_gradient_epilogues), a linear's bias gradient summed
//   by its weight-gradient product (BGRADA) instead of a column-sum pass.
// cuBLASLt's heuristic picks the algorithm once per shape, alignment and epilogue; the
// choice is kept (and so is its absence), so a step's products are the same every time.
// Measured (CudaTuning::measured_lt_algorithms): the fastest of the heuristic's
// first eight that gives its first's bits on the call's operands, and for the plain GEMMs
// (gemm(): cublasGemmEx otherwise) the fastest of cublasGemmEx and those eight that gives
// cublasGemmEx's bits; each shape is measured once, at its first call, so the choice
// never changes a result's bits. The H200's ncu had the GELU_AUX_BIAS and DGELU products
// at 470 to 500 TFLOP/s against 620 to 850 for cuBLAS's other GEMMs.
#include <cublasLt.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/cuda_lt_matmul.h"
#include "backend/cuda/cuda_memory.h"

namespace cohort::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;

// The largest power of two (up to 256) that divides the address.
int alignment(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  int align = 256;
  while (align > 1 && a % uintptr_t(align) != 0) align /= 2;
  return align;
}

// Descriptors live for one call (host-side objects; creating them costs microseconds).
struct Descriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  ~Descriptors() {
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

template <typename T>
void set(cublasLtMatmulDesc_t op, cublasLtMatmulDescAttributes_t attribute, const T& value) {
  COHORT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, attribute, &value, sizeof value));
}

const char* epilogue_name(LtEpilogue e) {
  switch (e) {
    case LtEpilogue::none:
      return "product";
    case LtEpilogue::bias:
      return "bias epilogue";
    case LtEpilogue::gelu_aux_bias:
      return "GELU_AUX_BIAS epilogue";
    case LtEpilogue::dgelu:
      return "DGELU epilogue";
    case LtEpilogue::bgrada:
      return "BGRADA epilogue";
  }
  return "epilogue";
}

cublasLtEpilogue_t lt_epilogue(LtEpilogue e) {
  switch (e) {
    case LtEpilogue::none:
      return CUBLASLT_EPILOGUE_DEFAULT;
    case LtEpilogue::bias:
      return CUBLASLT_EPILOGUE_BIAS;
    case LtEpilogue::gelu_aux_bias:
      return CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    case LtEpilogue::dgelu:
      return CUBLASLT_EPILOGUE_DGELU;
    case LtEpilogue::bgrada:
      return CUBLASLT_EPILOGUE_BGRADA;
  }
  return CUBLASLT_EPILOGUE_DEFAULT;
}

// The operation and layouts of p, its operands in the 16-bit type t. The bias and the
// GELU's input (aux) take D's type, cuBLASLt's default: fp32 beside an fp32 D, the
// 16-bit type beside a 16-bit one.
void describe(Descriptors& d, const LtProduct& p, cudaDataType_t t) {
  COHORT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  set(d.op, CUBLASLT_MATMUL_DESC_TRANSA, p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N);
  set(d.op, CUBLASLT_MATMUL_DESC_TRANSB, p.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N);
  set(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, lt_epilogue(p.epilogue));
  if (p.bias) set(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, p.bias);
  if (p.aux) {
    set(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, p.aux);
    set(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, int64_t(p.ld_aux));
  }
  // op(A) is m x k: A itself k x m when transposed.
  const int a_rows = p.trans_a ? p.k : p.m, a_cols = p.trans_a ? p.m : p.k;
  COHORT_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&d.a, t, uint64_t(a_rows), uint64_t(a_cols), p.lda));
  const int b_rows = p.trans_b ? p.n : p.k, b_cols = p.trans_b ? p.k : p.n;
  COHORT_CUBLAS_CHECK(
      cublasLtMatrixLayoutCreate(&d.b, t, uint64_t(b_rows), uint64_t(b_cols), p.ldb));
  COHORT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.d, p.d16 ? t : CUDA_R_32F, uint64_t(p.m),
                                                 uint64_t(p.n), p.ldd));
}

constexpr int kMeasuredCandidates = 8;

// *differ = 1 where a and b differ anywhere (every writer writes the same 1: no atomics).
template <typename Word>
__global__ void mark_if_different(const Word* a, const Word* b, size_t n, int* differ) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    if (a[i] != b[i]) *differ = 1;
}

}  // namespace

struct LtMatmul::State {
  cublasLtHandle_t handle = nullptr;
  DeviceBuffer workspace{kWorkspaceBytes};
  DeviceBuffer trial, saved;         // while measuring: a candidate's D, and D before
  DeviceBuffer differ{sizeof(int)};  // mark_if_different's flag
  // Shape, transposes, epilogue, output type, whether D is read, and every pointer's
  // alignment -> the chosen algorithm, or none (the caller then takes its own route).
  std::map<std::array<int, 17>, std::optional<cublasLtMatmulAlgo_t>> algos;
  std::vector<std::string> notes;  // what cuBLASLt refused or measuring found, for lt_notes()
  State() { COHORT_CUBLAS_CHECK(cublasLtCreate(&handle)); }
  ~State() { cublasLtDestroy(handle); }

  // p (operands rounded) by algo into out, p.d's shape and type.
  cublasStatus_t run(const Descriptors& d, const LtProduct& p, const cublasLtMatmulAlgo_t& algo,
                     void* out) {
    return cublasLtMatmul(handle, d.op, &p.alpha, p.a16, d.a, p.b16, d.b, &p.beta, out, d.d, out,
                          d.d, &algo, workspace.as<void>(), kWorkspaceBytes, nullptr);
  }

  // Which route p takes: the fastest (best of three runs after one) of the reference (the
  // caller's route, or without one the heuristic's first candidate) and the candidates
  // whose output has the reference's bits. Returns the candidate's index, or -1 for the
  // caller's route. Each run writes p.d (the reference's) or the trial buffer, from D as
  // it was where beta reads it, and the epilogue's aux where it has one; p.d is left as
  // it was for the caller's run of the chosen, which writes them all again. A note tells
  // what was found.
  int measure(const Descriptors& d, const LtProduct& p,
              const std::vector<cublasLtMatmulHeuristicResult_t>& candidates,
              const std::function<bool(void*)>& reference) {
    const size_t n = size_t(p.ldd) * size_t(p.n), bytes = n * (p.d16 ? 2 : 4);
    if (trial.bytes() < bytes) trial = DeviceBuffer(bytes);
    const bool reads_d = p.beta != 0.0f;
    if (reads_d) {
      if (saved.bytes() < bytes) saved = DeviceBuffer(bytes);
      COHORT_CUDA_CHECK(cudaMemcpy(saved.as<void>(), p.d, bytes, cudaMemcpyDeviceToDevice));
    }
    auto reset = [&](void* out) {  // D as it was, where the product reads it
      if (reads_d)
        COHORT_CUDA_CHECK(cudaMemcpyAsync(out, saved.as<void>(), bytes, cudaMemcpyDeviceToDevice));
    };
    // Route r: -1 the caller's, else candidate r; the reference is the first that runs.
    const int first = reference ? -1 : 0;
    auto runs = [&](int r, void* out) {
      return r < 0 ? reference(out)
                   : run(d, p, candidates[size_t(r)].algo, out) == CUBLAS_STATUS_SUCCESS;
    };
    cudaEvent_t start = nullptr, stop = nullptr;
    COHORT_CUDA_CHECK(cudaEventCreate(&start));
    COHORT_CUDA_CHECK(cudaEventCreate(&stop));
    // us[r + 1]: route r's best time; same[r + 1]: its output has the reference's bits.
    std::vector<float> us(candidates.size() + 1, INFINITY);
    std::vector<bool> same(candidates.size() + 1, false);
    for (int r = first; r < int(candidates.size()); ++r) {
      void* out = r == first ? p.d : trial.as<void>();
      reset(out);
      if (!runs(r, out)) {
        if (r == first) break;  // nothing to compare with: the first route stands
        continue;
      }
      if (r != first) {
        int differs = 0;
        COHORT_CUDA_CHECK(cudaMemsetAsync(differ.as<int>(), 0, sizeof(int)));
        if (p.d16)
          mark_if_different<<<1024, 256>>>(static_cast<const uint16_t*>(p.d), trial.as<uint16_t>(),
                                           n, differ.as<int>());
        else
          mark_if_different<<<1024, 256>>>(static_cast<const uint32_t*>(p.d), trial.as<uint32_t>(),
                                           n, differ.as<int>());
        COHORT_CUDA_LAUNCHED();
        COHORT_CUDA_CHECK(
            cudaMemcpy(&differs, differ.as<int>(), sizeof differs, cudaMemcpyDeviceToHost));
        same[size_t(r + 1)] = !differs;
      } else {
        same[size_t(r + 1)] = true;
      }
      float best = INFINITY;
      for (int rep = 0; rep < 3; ++rep) {
        reset(out);
        COHORT_CUDA_CHECK(cudaEventRecord(start));
        (void)runs(r, out);
        COHORT_CUDA_CHECK(cudaEventRecord(stop));
        COHORT_CUDA_CHECK(cudaEventSynchronize(stop));
        float ms = 0.0f;
        COHORT_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
        best = std::min(best, 1e3f * ms);
      }
      us[size_t(r + 1)] = best;
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    reset(p.d);
    // Every route that ran is timed (the note shows them all); only the reference's bits
    // can be chosen.
    int chosen = first;
    for (int r = first; r < int(candidates.size()); ++r)
      if (same[size_t(r + 1)] && us[size_t(r + 1)] < us[size_t(chosen + 1)]) chosen = r;
    if (!(us[size_t(first + 1)] < INFINITY)) return first;
    std::string routes;
    for (int r = first; r < int(candidates.size()); ++r)
      if (us[size_t(r + 1)] < INFINITY)
        routes += fmt::format("{}{} {:.1f}{}", routes.empty() ? "" : ", ",
                              r < 0 ? std::string("cublasGemmEx") : fmt::format("#{}", r),
                              us[size_t(r + 1)], same[size_t(r + 1)] ? "" : " (other bits)");
    notes.push_back(
        fmt::format("measured {} {}{} m={} n={} k={}{}: {} us; chosen {}",
                    epilogue_name(p.epilogue), p.trans_a ? 't' : 'n', p.trans_b ? 't' : 'n', p.m,
                    p.n, p.k, p.beta != 0.0f ? " beta 1" : "", routes,
                    chosen < 0 ? std::string("cublasGemmEx") : fmt::format("#{}", chosen)));
    return chosen;
  }
};

LtMatmul::LtMatmul() = default;
LtMatmul::~LtMatmul() = default;

bool LtMatmul::run(LtProduct p, bool bf16, bool measured,
                   const std::function<bool(void*)>& reference) {
  if (!state_) state_ = std::make_unique<State>();
  State* lt_ = state_.get();
  const cudaDataType_t t = bf16 ? CUDA_R_16BF : CUDA_R_16F;

  const std::array<int, 17> key{p.m,
                                p.n,
                                p.k,
                                p.lda,
                                p.ldb,
                                p.ldd,
                                p.trans_a,
                                int(p.epilogue),
                                p.d16,
                                p.ld_aux,
                                alignment(p.a16),
                                alignment(p.b16),
                                alignment(p.d),
                                p.bias ? alignment(p.bias) : 0,
                                p.aux ? alignment(p.aux) : 0,
                                p.trans_b,
                                p.beta != 0.0f};
  auto found = lt_->algos.find(key);
  // A shape already known to take the caller's route costs no descriptors (measured mode
  // asks here for every GEMM).
  if (found != lt_->algos.end() && !found->second) return false;
  Descriptors d;
  describe(d, p, t);
  if (found == lt_->algos.end()) {
    cublasLtMatmulPreference_t pref = nullptr;
    COHORT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t ws = kWorkspaceBytes;
    const uint32_t a_bytes = uint32_t(key[10]), b_bytes = uint32_t(key[11]),
                   d_bytes = uint32_t(key[12]);
    const int wanted = measured ? kMeasuredCandidates : 1;
    std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(wanted));
    int count = 0;
    const cublasStatus_t st = [&] {
      cublasStatus_t s = cublasLtMatmulPreferenceSetAttribute(
          pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
      const std::pair<cublasLtMatmulPreferenceAttributes_t, const uint32_t*> aligned[] = {
          {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &a_bytes},
          {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &b_bytes},
          {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &d_bytes},
          {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &d_bytes}};
      for (const auto& [attribute, bytes] : aligned)
        if (s == CUBLAS_STATUS_SUCCESS)
          s = cublasLtMatmulPreferenceSetAttribute(pref, attribute, bytes, sizeof *bytes);
      if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulAlgoGetHeuristic(lt_->handle, d.op, d.a, d.b, d.d, d.d, pref, wanted,
                                           results.data(), &count);
      return s;
    }();
    cublasLtMatmulPreferenceDestroy(pref);
    // Whatever cuBLASLt refuses (an epilogue it does not offer for these types, a shape
    // without an algorithm) is an absence: the caller's unfused route computes the same
    // product. The refusal is noted for lt_notes().
    // With a reference, the caller's route unless a measured candidate gives its bits.
    std::optional<cublasLtMatmulAlgo_t> algo;
    if (st == CUBLAS_STATUS_SUCCESS && count > 0) {
      results.resize(size_t(count));
      // Measured only where the output is dense (ldd = m), so that its bits compare whole,
      // and not with BGRADA: the comparison sees D only, and a candidate whose bias
      // gradient had other bits would make the result depend on timing.
      const bool measurable =
          p.ldd == p.m && p.epilogue != LtEpilogue::bgrada && (reference || count > 1);
      const int chosen = measurable ? lt_->measure(d, p, results, reference) : reference ? -1 : 0;
      if (chosen >= 0) algo = results[size_t(chosen)].algo;
    } else if (!reference)
      lt_->notes.push_back(fmt::format("cuBLASLt offers no {} for m={} n={} k={} (status {})",
                                       epilogue_name(p.epilogue), p.m, p.n, p.k, int(st)));
    found = lt_->algos.emplace(key, algo).first;
  }
  if (!found->second) return false;
  const cublasStatus_t run = lt_->run(d, p, *found->second, p.d);
  if (run != CUBLAS_STATUS_SUCCESS) {  // refused before it ran: noted, and not asked again
    lt_->notes.push_back(
        fmt::format("cuBLASLt refused its {} algorithm for m={} n={} k={} (status {})",
                    epilogue_name(p.epilogue), p.m, p.n, p.k, int(run)));
    found->second.reset();
    return false;
  }
  return true;
}

std::string LtMatmul::notes() const {
  std::string all;
  if (state_)
    for (const std::string& note : state_->notes) all += (all.empty() ? "" : "; ") + note;
  return all;
}

}  // namespace cohort::cuda
