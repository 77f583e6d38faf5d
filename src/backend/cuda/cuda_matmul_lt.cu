// 16-bit products through cuBLASLt, for what its epilogues fuse into the GEMM:
// - the bias of a linear forward (add_bias read and wrote all of the output: 6% of a
//   GPT-2 step on an H100-class GPU, by ncu);
// - the MLP's GELU (cuda_mlp.cu): forward, bias + GELU with the GELU's input kept in 16
//   bits; backward, the GELU's gradient applied to the product that computes it.
// cuBLASLt's heuristic picks the algorithm once per shape, alignment and epilogue; the
// choice is kept (and so is its absence), so a step's products are the same every time.
#include <cublasLt.h>
#include <fmt/format.h>

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

}  // namespace

struct CudaBackend::LtState {
  cublasLtHandle_t handle = nullptr;
  cuda::DeviceBuffer workspace{kWorkspaceBytes};
  // Shape, transpose, epilogue, output type and every pointer's alignment -> the
  // heuristic's algorithm, or none (the caller then takes its unfused route).
  std::map<std::array<int, 15>, std::optional<cublasLtMatmulAlgo_t>> algos;
  std::vector<std::string> notes;  // what cuBLASLt refused, for lt_notes()
  LtState() { COHORT_CUBLAS_CHECK(cublasLtCreate(&handle)); }
  ~LtState() { cublasLtDestroy(handle); }
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
    cublasLtMatmulHeuristicResult_t result{};
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
        s = cublasLtMatmulAlgoGetHeuristic(lt_->handle, d.op, d.a, d.b, d.d, d.d, pref, 1, &result,
                                           &count);
      return s;
    }();
    cublasLtMatmulPreferenceDestroy(pref);
    // Whatever cuBLASLt refuses (an epilogue it does not offer for these types, a shape
    // without an algorithm) is an absence: the caller's unfused route computes the same
    // product. The refusal is noted for lt_notes().
    std::optional<cublasLtMatmulAlgo_t> algo;
    if (st == CUBLAS_STATUS_SUCCESS && count > 0)
      algo = result.algo;
    else
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
