// The 16-bit linear forward as one cuBLASLt call: the bias is added in the GEMM's
// epilogue instead of by a second pass over the output (add_bias read and wrote all of
// it: 6% of a GPT-2 step on an H100-class GPU, by ncu). cuBLASLt's heuristic picks the
// algorithm once per shape and alignment; the choice is kept, so a step's products are
// the same every time.
#include <cublasLt.h>

#include <array>
#include <cstdint>
#include <map>

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
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  ~Descriptors() {
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

}  // namespace

struct CudaBackend::LtState {
  cublasLtHandle_t handle = nullptr;
  cuda::DeviceBuffer workspace{kWorkspaceBytes};
  // (m, n, k, lda, ldb, ldc, alignment of B, alignment of C) -> the heuristic's algorithm.
  std::map<std::array<int, 8>, cublasLtMatmulAlgo_t> algos;
  LtState() { COHORT_CUBLAS_CHECK(cublasLtCreate(&handle)); }
  ~LtState() { cublasLtDestroy(handle); }
};

void CudaBackend::LtDeleter::operator()(LtState* s) const { delete s; }

bool CudaBackend::gemm_bias(int m, int n, int k, const float* A, int lda, const float* B, int ldb,
                            const float* bias, float* C, int ldc, const void* b16) {
  // The epilogue reads the bias in vectors; an unaligned one takes the two-pass route.
  if (precision_ == MatmulPrecision::fp32 || alignment(bias) < 16) return false;
  if (!lt_) lt_.reset(new LtState());
  const cudaDataType_t t = precision_ == MatmulPrecision::bf16 ? CUDA_R_16BF : CUDA_R_16F;
  Descriptors d;
  COHORT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t no = CUBLAS_OP_N;
  COHORT_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &no, sizeof no));
  COHORT_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &no, sizeof no));
  const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;  // C[i][j] += bias[i]
  COHORT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                                     sizeof epilogue));
  COHORT_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
  const cudaDataType_t bias_type = CUDA_R_32F;
  COHORT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                     &bias_type, sizeof bias_type));
  COHORT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.a, t, uint64_t(m), uint64_t(k), lda));
  COHORT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.b, t, uint64_t(k), uint64_t(n), ldb));
  COHORT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.c, CUDA_R_32F, uint64_t(m), uint64_t(n), ldc));

  // The heuristic assumes 256-byte aligned operands unless told: B may be a caller's
  // 16-bit buffer (the MLP's GELU output) at a smaller alignment; A is always rounded
  // here, into scratch (cudaMalloc: 256).
  const int b_align = b16 ? alignment(b16) : 256, c_align = alignment(C);
  const std::array<int, 8> key{m, n, k, lda, ldb, ldc, b_align, c_align};
  auto found = lt_->algos.find(key);
  if (found == lt_->algos.end()) {
    cublasLtMatmulPreference_t pref = nullptr;
    COHORT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t ws = kWorkspaceBytes;
    const uint32_t b_bytes = uint32_t(b_align), c_bytes = uint32_t(c_align);
    cublasLtMatmulHeuristicResult_t result{};
    int count = 0;
    const cublasStatus_t st = [&] {
      cublasStatus_t s = cublasLtMatmulPreferenceSetAttribute(
          pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
      if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                 &b_bytes, sizeof b_bytes);
      if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                 &c_bytes, sizeof c_bytes);
      if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                 &c_bytes, sizeof c_bytes);
      if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulAlgoGetHeuristic(lt_->handle, d.op, d.a, d.b, d.c, d.c, pref, 1, &result,
                                           &count);
      return s;
    }();
    cublasLtMatmulPreferenceDestroy(pref);
    COHORT_CUBLAS_CHECK(st);
    if (count == 0) return false;  // no fused algorithm for this shape: two passes
    found = lt_->algos.emplace(key, result.algo).first;
  }
  // Rounded only now: a shape without a fused algorithm returns above, and gemm rounds.
  const void* a16 = rounded(0, A, size_t(lda) * k);
  if (!b16) b16 = rounded(1, B, size_t(ldb) * n);
  const float alpha = 1.0f, beta = 0.0f;
  COHORT_CUBLAS_CHECK(cublasLtMatmul(lt_->handle, d.op, &alpha, a16, d.a, b16, d.b, &beta, C, d.c,
                                     C, d.c, &found->second, lt_->workspace.as<void>(),
                                     kWorkspaceBytes, nullptr));
  return true;
}

}  // namespace cohort
