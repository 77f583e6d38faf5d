// 16-bit products through cuBLASLt, for what its epilogues fuse into the GEMM:
// - the bias of a linear forward (add_bias read and wrote all of the output: 6% of a
//   GPT-2 step on an H100-class GPU, by ncu);
// - the MLP's GELU (cuda_mlp.cu): forward, bias + GELU with the GELU's input kept in 16
//   bits; backward, the GELU's gradient applied to the product that computes it.
// cuBLASLt's heuristic picks the algorithm once per shape, alignment and epilogue; the
// choice is kept (and so is its absence), so a step's products are the same every time.
// Measured (CudaBackend::use_measured_lt_algorithms): the fastest of the heuristic's
// first eight that gives its first's bits on the call's operands. The H200's ncu had the
// GELU_AUX_BIAS and DGELU products at 470 to 500 TFLOP/s against 620 to 850 for cuBLAS's
// other GEMMs, with the heuristic's first choice.
#include <cublasLt.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_check.h"

namespace cohort {

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

const char* epilogue_name(CudaBackend::LtEpilogue e) {
  switch (e) {
    case CudaBackend::LtEpilogue::bias:
      return "bias epilogue";
    case CudaBackend::LtEpilogue::gelu_aux_bias:
      return "GELU_AUX_BIAS epilogue";
    case CudaBackend::LtEpilogue::dgelu:
      return "DGELU epilogue";
  }
  return "epilogue";
}

cublasLtEpilogue_t lt_epilogue(CudaBackend::LtEpilogue e) {
  switch (e) {
    case CudaBackend::LtEpilogue::bias:
      return CUBLASLT_EPILOGUE_BIAS;
    case CudaBackend::LtEpilogue::gelu_aux_bias:
      return CUBLASLT_EPILOGUE_GELU_AUX_BIAS;
    case CudaBackend::LtEpilogue::dgelu:
      return CUBLASLT_EPILOGUE_DGELU;
  }
  return CUBLASLT_EPILOGUE_DEFAULT;
}

// The operation and layouts of p, its operands in the 16-bit type t. The bias and the
// GELU's input (aux) take D's type, cuBLASLt's default: fp32 beside an fp32 D, the
// 16-bit type beside a 16-bit one.
void describe(Descriptors& d, const CudaBackend::LtProduct& p, cudaDataType_t t) {
  COHORT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  set(d.op, CUBLASLT_MATMUL_DESC_TRANSA, p.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N);
  set(d.op, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
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
  COHORT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.b, t, uint64_t(p.k), uint64_t(p.n), p.ldb));
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

struct CudaBackend::LtState {
  cublasLtHandle_t handle = nullptr;
  cuda::DeviceBuffer workspace{kWorkspaceBytes};
  cuda::DeviceBuffer trial;                // a candidate's output while measuring
  cuda::DeviceBuffer differ{sizeof(int)};  // mark_if_different's flag
  // Shape, transpose, epilogue, output type and every pointer's alignment -> the
  // heuristic's algorithm, or none (the caller then takes its unfused route).
  std::map<std::array<int, 15>, std::optional<cublasLtMatmulAlgo_t>> algos;
  std::vector<std::string> notes;  // what cuBLASLt refused or measuring found, for lt_notes()
  LtState() { COHORT_CUBLAS_CHECK(cublasLtCreate(&handle)); }
  ~LtState() { cublasLtDestroy(handle); }

  // p (operands rounded) by algo into out, p.d's shape and type.
  cublasStatus_t run(const Descriptors& d, const LtProduct& p, const cublasLtMatmulAlgo_t& algo,
                     void* out) {
    const float alpha = 1.0f, beta = 0.0f;
    return cublasLtMatmul(handle, d.op, &alpha, p.a16, d.a, p.b16, d.b, &beta, out, d.d, out, d.d,
                          &algo, workspace.as<void>(), kWorkspaceBytes, nullptr);
  }

  // Which of the candidates (the heuristic's, in its order) p takes: the fastest (best of
  // three runs after one) whose output has candidate 0's bits. Each writes p.d or the
  // trial buffer, and the epilogue's aux where it has one; the caller's run after this
  // one writes them with the chosen. A note tells what was found.
  size_t measure(const Descriptors& d, const LtProduct& p,
                 const std::vector<cublasLtMatmulHeuristicResult_t>& candidates) {
    const size_t n = size_t(p.ldd) * size_t(p.n), bytes = n * (p.d16 ? 2 : 4);
    if (trial.bytes() < bytes) trial = cuda::DeviceBuffer(bytes);
    cudaEvent_t start = nullptr, stop = nullptr;
    COHORT_CUDA_CHECK(cudaEventCreate(&start));
    COHORT_CUDA_CHECK(cudaEventCreate(&stop));
    std::vector<float> us(candidates.size(), INFINITY);
    int same = 0;
    for (size_t i = 0; i < candidates.size(); ++i) {
      void* out = i == 0 ? p.d : trial.as<void>();
      if (run(d, p, candidates[i].algo, out) != CUBLAS_STATUS_SUCCESS) {
        if (i == 0) break;  // nothing to compare with: the heuristic's choice stands
        continue;
      }
      if (i > 0) {
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
        if (differs) continue;
      }
      ++same;
      float best = INFINITY;
      for (int r = 0; r < 3; ++r) {
        COHORT_CUDA_CHECK(cudaEventRecord(start));
        (void)run(d, p, candidates[i].algo, out);
        COHORT_CUDA_CHECK(cudaEventRecord(stop));
        COHORT_CUDA_CHECK(cudaEventSynchronize(stop));
        float ms = 0.0f;
        COHORT_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
        best = std::min(best, 1e3f * ms);
      }
      us[i] = best;
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    const size_t chosen = size_t(std::min_element(us.begin(), us.end()) - us.begin());
    if (us[chosen] < INFINITY)
      notes.push_back(fmt::format(
          "measured {} m={} n={} k={}: {} candidates, {} with the first's bits; #{} at {:.1f} us "
          "against #0 at {:.1f} us",
          epilogue_name(p.epilogue), p.m, p.n, p.k, candidates.size(), same, chosen, us[chosen],
          us[0]));
    return us[chosen] < INFINITY ? chosen : 0;
  }
};

void CudaBackend::LtDeleter::operator()(LtState* s) const { delete s; }

bool CudaBackend::lt_matmul(LtProduct p) {
  // The epilogue reads the bias in vectors; an unaligned one takes the unfused route.
  if (precision_ == MatmulPrecision::fp32 || (p.bias && alignment(p.bias) < 16)) return false;
  if (!lt_) lt_.reset(new LtState());
  // Operands are rounded first: their addresses decide the algorithm. A weight's copy
  // lies inside the parameters' 16-bit copy, at its offset there, so it may be less
  // than 256-byte aligned, as may a caller's 16-bit buffer; scratch is 256-aligned.
  if (!p.a16) p.a16 = rounded(0, p.a32, size_t(p.lda) * (p.trans_a ? p.m : p.k));
  if (!p.b16) p.b16 = rounded(1, p.b32, size_t(p.ldb) * p.n);
  const cudaDataType_t t = precision_ == MatmulPrecision::bf16 ? CUDA_R_16BF : CUDA_R_16F;
  Descriptors d;
  describe(d, p, t);

  const std::array<int, 15> key{p.m,
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
                                p.aux ? alignment(p.aux) : 0};
  auto found = lt_->algos.find(key);
  if (found == lt_->algos.end()) {
    cublasLtMatmulPreference_t pref = nullptr;
    COHORT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t ws = kWorkspaceBytes;
    const uint32_t a_bytes = uint32_t(key[10]), b_bytes = uint32_t(key[11]),
                   d_bytes = uint32_t(key[12]);
    const int wanted = measured_lt_algorithms_ ? kMeasuredCandidates : 1;
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
    std::optional<cublasLtMatmulAlgo_t> algo;
    if (st == CUBLAS_STATUS_SUCCESS && count > 0) {
      results.resize(size_t(count));
      // Measured only where the output is dense (ldd = m), so that its bits compare whole.
      const size_t chosen = count > 1 && p.ldd == p.m ? lt_->measure(d, p, results) : 0;
      algo = results[chosen].algo;
    } else
      lt_->notes.push_back(fmt::format("cuBLASLt offers no {} for m={} n={} k={} (status {})",
                                       epilogue_name(p.epilogue), p.m, p.n, p.k, int(st)));
    found = lt_->algos.emplace(key, algo).first;
  }
  if (!found->second) return false;
  const float alpha = 1.0f, beta = 0.0f;
  const cublasStatus_t run =
      cublasLtMatmul(lt_->handle, d.op, &alpha, p.a16, d.a, p.b16, d.b, &beta, p.d, d.d, p.d, d.d,
                     &*found->second, lt_->workspace.as<void>(), kWorkspaceBytes, nullptr);
  if (run != CUBLAS_STATUS_SUCCESS) {  // refused before it ran: noted, and not asked again
    lt_->notes.push_back(
        fmt::format("cuBLASLt refused its {} algorithm for m={} n={} k={} (status {})",
                    epilogue_name(p.epilogue), p.m, p.n, p.k, int(run)));
    found->second.reset();
    return false;
  }
  return true;
}

std::string CudaBackend::lt_notes() const {
  std::string all;
  if (lt_)
    for (const std::string& note : lt_->notes) all += (all.empty() ? "" : "; ") + note;
  return all;
}

}  // namespace cohort
