// Every CudaBackend op against the CpuBackend on the same inputs (awkward shapes, as
// cpu_ops_test.cc), forward and backward, dropout included; and determinism: the same
// call twice gives the same bits. Without a CUDA device every test is skipped with a
// message (CI builds and links this; scripts/gpu-check.sh runs it on a GPU).
//
// Tolerance: both sides compute in fp32 with different summation orders (cuBLAS without
// TF32; fixed-tree block reductions), so values agree to a few ulps of the sums' terms:
// |got - want| <= 1e-5 + 1e-4 |want|.
#include <cuda_fp16.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_cudnn.h"
#include "backend/cuda/cuda_memory.h"
#include "core/bf16.h"
#include "core/error.h"
#include "cuda_test_values.h"
#include "normwise_error.h"
#include "reference_ops.h"

namespace cohort {
namespace {

using cuda::DeviceBuffer;
using cuda_test::expect_close;
using cuda_test::Floats;
using cuda_test::fp16_bits_to_float;
using cuda_test::round_fp16;

constexpr int B = 2, T = 17, C = 40, NH = 5, V = 101, Vp = 128, N = B * T;

class CudaOps : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: the CUDA op tests need a GPU";
    gpu = std::make_unique<CudaBackend>();
  }
  Floats random(size_t n, float scale = 1.0f) { return cuda_test::random_floats(rng, n, scale); }
  template <typename T>
  DeviceBuffer up(const std::vector<T>& v) {
    return cuda::upload(v);
  }
  Floats down(const DeviceBuffer& b, size_t n) { return cuda::download<float>(b, n); }
  // LayerNorm forward and backward over N rows of width C against the CPU.
  void check_layernorm(int C, int N = cohort::N) {
    SCOPED_TRACE("row width " + std::to_string(C) + ", " + std::to_string(N) + " rows");
    Floats x = random(size_t(N) * C, 2.0f), w = random(C), b = random(C), y(x.size()), mean(N),
           rstd(N), dy = random(x.size()), dx(x.size(), 0.5f), dw(C, 0.5f), db(C, 0.5f);
    auto d_x = up(x), d_w = up(w), d_b = up(b), d_y = up(y), d_mean = up(mean), d_rstd = up(rstd),
         d_dy = up(dy), d_dx = up(dx), d_dw = up(dw), d_db = up(db);
    cpu.layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C);
    gpu->layernorm_forward(d_y.as<float>(), d_mean.as<float>(), d_rstd.as<float>(), d_x.as<float>(),
                           d_w.as<float>(), d_b.as<float>(), N, C);
    expect_close(down(d_y, y.size()), y, "layernorm forward");
    expect_close(down(d_rstd, N), rstd, "layernorm rstd");
    cpu.layernorm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(),
                           mean.data(), rstd.data(), N, C);
    gpu->layernorm_backward(d_dx.as<float>(), d_dw.as<float>(), d_db.as<float>(), d_dy.as<float>(),
                            d_x.as<float>(), d_w.as<float>(), d_mean.as<float>(),
                            d_rstd.as<float>(), N, C);
    expect_close(down(d_dx, dx.size()), dx, "layernorm dinp (accumulated)");
    // The weight and bias gradients sum N rows in another order than the CPU: their error
    // scales with the terms, not with a column's sum, which can cancel to near zero (an
    // H200 at N = 3001: 5e-5 on a bias gradient of -2e-3). So normwise, as an fp32 sum.
    EXPECT_LT(testing::normwise_error(down(d_dw, C), dw, 0, C, C), 1e-5) << "layernorm dweight";
    EXPECT_LT(testing::normwise_error(down(d_db, C), db, 0, C, C), 1e-5) << "layernorm dbias";

    // The residual add and the LayerNorm in one kernel: the two ops' values, bit for bit.
    Floats branch = random(x.size());
    auto d_branch = up(branch), d_sum = up(Floats(x.size())), d_res = up(Floats(x.size())),
         d_y2 = up(y), d_mean2 = up(mean), d_rstd2 = up(rstd);
    gpu->add(d_sum.as<float>(), d_x.as<float>(), d_branch.as<float>(), x.size());
    gpu->layernorm_forward(d_y.as<float>(), d_mean.as<float>(), d_rstd.as<float>(),
                           d_sum.as<float>(), d_w.as<float>(), d_b.as<float>(), N, C);
    gpu->add_layernorm_forward(d_res.as<float>(), d_y2.as<float>(), d_mean2.as<float>(),
                               d_rstd2.as<float>(), d_x.as<float>(), d_branch.as<float>(),
                               d_w.as<float>(), d_b.as<float>(), N, C);
    EXPECT_EQ(down(d_res, x.size()), down(d_sum, x.size())) << "residual";
    EXPECT_EQ(down(d_y2, x.size()), down(d_y, x.size())) << "layernorm of the residual";
    EXPECT_EQ(down(d_rstd2, N), down(d_rstd, N)) << "rstd of the residual";
  }

  // A route that passes values between ops in 16 bits (pass_gradient, pass_branch)
  // against the fp32 route's outputs: over 1024 channels nothing is passed, so the same
  // bits; else within 1e-2 normwise, and the first `moved` outputs not the same bits.
  static void expect_16_bit_route(const std::vector<Floats>& passed,
                                  const std::vector<Floats>& fp32_route,
                                  const std::vector<const char*>& names, int width, size_t moved) {
    for (size_t i = 0; i < names.size(); ++i) {
      if (width > 1024) {
        EXPECT_EQ(passed[i], fp32_route[i]) << names[i] << ": not passed in 16 bits";
      } else {
        const size_t n = passed[i].size();
        EXPECT_LT(testing::normwise_error(passed[i], fp32_route[i], 0, n, n), 1e-2)
            << names[i] << " from the 16-bit route";
        if (i < moved) {
          EXPECT_NE(passed[i], fp32_route[i]) << names[i] << ": passed rounded";
        }
      }
    }
  }

  CpuBackend cpu;
  std::unique_ptr<CudaBackend> gpu;
  std::mt19937 rng{4321};
};

TEST_F(CudaOps, LinearAndLmHead) {
  const int OC = 3 * C;
  Floats inp = random(size_t(N) * C), w = random(size_t(C) * OC, 0.3f), b = random(OC),
         dout = random(size_t(N) * OC), out(size_t(N) * OC), dinp(size_t(N) * C),
         dw(w.size(), 0.5f), db(OC, 0.5f);
  auto d_inp = up(inp), d_w = up(w), d_b = up(b), d_dout = up(dout), d_out = up(out),
       d_dinp = up(dinp), d_dw = up(dw), d_db = up(db);
  cpu.linear_forward(out.data(), inp.data(), w.data(), b.data(), N, C, OC);
  gpu->linear_forward(d_out.as<float>(), d_inp.as<float>(), d_w.as<float>(), d_b.as<float>(), N, C,
                      OC);
  expect_close(down(d_out, out.size()), out, "linear forward");
  cpu.linear_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C,
                      OC);
  gpu->linear_backward(d_dinp.as<float>(), d_dw.as<float>(), d_db.as<float>(), d_dout.as<float>(),
                       d_inp.as<float>(), d_w.as<float>(), N, C, OC);
  expect_close(down(d_dinp, dinp.size()), dinp, "linear dinp");
  expect_close(down(d_dw, dw.size()), dw, "linear dweight (accumulated)");
  expect_close(down(d_db, db.size()), db, "linear dbias (accumulated)");

  Floats x = random(size_t(N) * C), wte = random(size_t(Vp) * C, 0.3f), logits(size_t(N) * Vp),
         dl = random(size_t(N) * Vp), dx(size_t(N) * C), dwte(wte.size(), 0.25f);
  auto d_x = up(x), d_wte = up(wte), d_logits = up(logits), d_dl = up(dl), d_dx = up(dx),
       d_dwte = up(dwte);
  cpu.lm_head_forward(logits.data(), x.data(), wte.data(), N, C, Vp);
  gpu->lm_head_forward(d_logits.as<float>(), d_x.as<float>(), d_wte.as<float>(), N, C, Vp);
  expect_close(down(d_logits, logits.size()), logits, "lm_head forward");
  cpu.lm_head_backward(dx.data(), dwte.data(), dl.data(), x.data(), wte.data(), N, C, Vp);
  gpu->lm_head_backward(d_dx.as<float>(), d_dwte.as<float>(), d_dl.as<float>(), d_x.as<float>(),
                        d_wte.as<float>(), N, C, Vp);
  expect_close(down(d_dx, dx.size()), dx, "lm_head dx");
  expect_close(down(d_dwte, dwte.size()), dwte, "lm_head dwte");
}

// In bf16 the linear forward adds its bias in cuBLASLt's epilogue (cuda_lt_matmul.cu),
// or, for a bias not 16-byte aligned, in a second pass: both against the CPU, to bf16's
// rounding of the operands (each product of C = 40 terms: about 1e-2 of its size).
TEST_F(CudaOps, SixteenBitLinearAddsItsBiasInTheEpilogue) {
  CudaBackend half(MatmulPrecision::bf16);
  const int OC = 3 * C;
  Floats inp = random(size_t(N) * C), w = random(size_t(C) * OC, 0.3f), b = random(OC + 1, 5.0f),
         out(size_t(N) * OC);
  auto d_inp = up(inp), d_w = up(w), d_b = up(b), d_out = up(out);
  for (const int offset : {0, 1}) {  // offset 1: an unaligned bias
    cpu.linear_forward(out.data(), inp.data(), w.data(), b.data() + offset, N, C, OC);
    half.linear_forward(d_out.as<float>(), d_inp.as<float>(), d_w.as<float>(),
                        d_b.as<float>() + offset, N, C, OC);
    const Floats got = down(d_out, out.size());
    for (size_t i = 0; i < out.size(); ++i)
      ASSERT_NEAR(got[i], out[i], 2e-2 * (1.0f + std::abs(out[i])))
          << "bias offset " << offset << ", element " << i;
  }
}

// The 16-bit linear backward: the bias gradient's pass over dout also writes the 16-bit
// copy its two products read (cuda_column_sums.cuh), at widths with whole 16-byte rows
// and without, and for a dout 4 bytes off 16-byte alignment. Against the CPU: the bias
// gradient sums fp32 dout (fp32 tolerance); dinp and dweight to bf16's / fp16's rounding
// of the operands (as the forward's test); a second call gives the same bits.
TEST_F(CudaOps, SixteenBitLinearBackwardRoundsDoutInItsBiasGradientPass) {
  for (const auto precision : {MatmulPrecision::bf16, MatmulPrecision::fp16}) {
    CudaBackend half(precision);
    for (const int OC : {3 * C, 3 * C + 2})
      for (const int offset : {0, 1}) {
        SCOPED_TRACE("OC " + std::to_string(OC) + ", dout offset " + std::to_string(offset));
        Floats inp = random(size_t(N) * C), w = random(size_t(C) * OC, 0.3f),
               dout = random(size_t(N) * OC + offset), dinp(size_t(N) * C), dw(w.size(), 0.25f),
               db(OC, 0.25f);
        auto d_inp = up(inp), d_w = up(w), d_dout = up(dout), d_dinp = up(dinp), d_dw = up(dw),
             d_db = up(db);
        cpu.linear_backward(dinp.data(), dw.data(), db.data(), dout.data() + offset, inp.data(),
                            w.data(), N, C, OC);
        half.linear_backward(d_dinp.as<float>(), d_dw.as<float>(), d_db.as<float>(),
                             d_dout.as<float>() + offset, d_inp.as<float>(), d_w.as<float>(), N, C,
                             OC);
        expect_close(down(d_db, OC), db, "dbias");
        // Normwise: dweight sums N products of two rounded operands, and a column whose
        // sum cancels keeps the terms' error (an H200: 0.026 on a dweight of -0.20). Worst
        // of 400 float64 emulations of these shapes: bf16 4.1e-3, fp16 5.3e-4; bounds 3x.
        const double bound = precision == MatmulPrecision::bf16 ? 1.2e-2 : 1.5e-3;
        const Floats got_dinp = down(d_dinp, dinp.size()), got_dw = down(d_dw, dw.size());
        EXPECT_LT(testing::normwise_error(got_dinp, dinp, 0, dinp.size(), dinp.size()), bound)
            << "dinp";
        EXPECT_LT(testing::normwise_error(got_dw, dw, 0, dw.size(), dw.size()), bound) << "dweight";
        const Floats got_db = down(d_db, OC);
        d_dw = up(Floats(w.size(), 0.25f));
        d_db = up(Floats(OC, 0.25f));
        half.linear_backward(d_dinp.as<float>(), d_dw.as<float>(), d_db.as<float>(),
                             d_dout.as<float>() + offset, d_inp.as<float>(), d_w.as<float>(), N, C,
                             OC);
        EXPECT_EQ(down(d_dinp, dinp.size()), got_dinp) << "a second call's dinp";
        EXPECT_EQ(down(d_dw, dw.size()), got_dw) << "a second call's dweight";
        EXPECT_EQ(down(d_db, OC), got_db) << "a second call's dbias";
      }
  }
}

// parameters_updated: the GEMMs read a weight inside the parameters from their one 16-bit
// copy, the same values a rounding before the GEMM gives (bit for bit); an update rounds
// the new values; after the release a changed weight is rounded afresh, never read stale.
// With a bias the product is cuBLASLt's, which must be told that the weight's copy, 80
// bytes into the parameters' copy, is 16-byte aligned only (scratch is 256-aligned).
TEST_F(CudaOps, SixteenBitParameterCopyIsUsedUntilUpdatedOrReleased) {
  CudaBackend half(MatmulPrecision::bf16), fresh(MatmulPrecision::bf16);
  const int OC = 3 * C;
  const size_t w_at = 40;  // the weight sits inside the parameters, not at their start
  const size_t n_params = w_at + size_t(C) * OC + 24;
  Floats params = random(n_params, 0.3f), inp = random(size_t(N) * C), bias = random(OC);
  auto d_params = up(params), d_inp = up(inp), d_bias = up(bias),
       d_out = up(Floats(size_t(N) * OC));
  float* w = d_params.as<float>() + w_at;
  auto product = [&](CudaBackend& be) {
    be.linear_forward(d_out.as<float>(), d_inp.as<float>(), w, nullptr, N, C, OC);
    Floats both = down(d_out, size_t(N) * OC);
    be.linear_forward(d_out.as<float>(), d_inp.as<float>(), w, d_bias.as<float>(), N, C, OC);
    const Floats with_bias = down(d_out, size_t(N) * OC);
    both.insert(both.end(), with_bias.begin(), with_bias.end());
    return both;
  };
  auto change_weight = [&](float by) {
    for (size_t i = w_at; i < w_at + size_t(C) * OC; ++i) params[i] += by;
    half.memory().copy_from_host(d_params.as<float>(), params.data(), n_params * sizeof(float));
  };
  const Floats rounded_each_time = product(fresh);
  half.parameters_updated(d_params.as<float>(), n_params);
  EXPECT_EQ(product(half), rounded_each_time) << "from the parameters' 16-bit copy";
  change_weight(0.25f);
  half.parameters_updated(d_params.as<float>(), n_params);
  const Floats after_update = product(half);
  EXPECT_EQ(after_update, product(fresh)) << "after an update";
  EXPECT_NE(after_update, rounded_each_time);
  half.parameters_released(d_params.as<float>());
  change_weight(-0.5f);
  EXPECT_EQ(product(half), product(fresh)) << "after the release";
}

// AdamW over exactly parameters_updated's range writes the 16-bit copy as it updates them,
// and the next parameters_updated keeps it: the products read the updated values rounded
// once, not whatever the parameters hold by then (overwritten here against the contract,
// to show which copy is read). Over part of the range (a ZeRO-1 shard), or after a
// release, the next parameters_updated rounds them afresh.
TEST_F(CudaOps, AdamWWritesTheParameterCopyWhenItUpdatesThemAll) {
  for (const auto precision : {MatmulPrecision::bf16, MatmulPrecision::fp16}) {
    CudaBackend half(precision), fresh(precision);
    const int OC = 3 * C;
    const size_t w_at = 40, n = w_at + size_t(C) * OC + 24;
    Floats params = random(n, 0.3f), inp = random(size_t(N) * C);
    auto d_params = up(params), d_grads = up(random(n)), d_m = up(Floats(n)), d_v = up(Floats(n)),
         d_inp = up(inp), d_out = up(Floats(size_t(N) * OC));
    float* P = d_params.as<float>();
    auto product = [&](CudaBackend& be) {
      be.linear_forward(d_out.as<float>(), d_inp.as<float>(), P + w_at, nullptr, N, C, OC);
      return down(d_out, size_t(N) * OC);
    };
    const Backend::AdamWArgs a{1e-2f, 0.9f, 0.95f, 1e-8f, 0.0f, 0.271f, 0.0975f};
    const std::vector<Backend::AdamWSegment> all = {{0, 0.1f}, {w_at, 0.0f}}, one = {{0, 0.1f}};
    auto step = [&](size_t first, size_t count, const std::vector<Backend::AdamWSegment>& seg) {
      half.adamw_update_segments(P + first, d_grads.as<float>() + first, d_m.as<float>() + first,
                                 d_v.as<float>() + first, count, a, seg);
    };
    auto rounded_by_fresh = [&](const Floats& values) {
      half.memory().copy_from_host(P, values.data(), n * sizeof(float));
      fresh.parameters_updated(P, n);
      return product(fresh);
    };
    half.parameters_updated(P, n);
    step(0, n, all);
    const Floats updated = down(d_params, n);
    half.memory().copy_from_host(P, random(n).data(), n * sizeof(float));
    half.parameters_updated(P, n);
    const Floats from_adamw = product(half);
    EXPECT_EQ(from_adamw, rounded_by_fresh(updated)) << "the copy AdamW wrote";
    EXPECT_NE(from_adamw, rounded_by_fresh(params));

    half.parameters_updated(P, n);
    step(w_at, size_t(C) * OC, one);  // part of the range
    half.parameters_updated(P, n);
    EXPECT_EQ(product(half), rounded_by_fresh(down(d_params, n))) << "after a partial update";

    half.parameters_updated(P, n);
    step(0, n, all);
    half.parameters_released(P);
    const Floats written = random(n, 0.3f);
    half.memory().copy_from_host(P, written.data(), n * sizeof(float));
    half.parameters_updated(P, n);
    EXPECT_EQ(product(half), rounded_by_fresh(written)) << "after a release";
  }
}

// hold_input: the forward's 16-bit copy of a held input is what the backward's product
// reads too (the same bits as a fresh rounding), kept until the next parameters_updated;
// after it the input is rounded afresh unless held again.
TEST_F(CudaOps, HeldInputKeepsItsCopyUntilTheNextStep) {
  CudaBackend half(MatmulPrecision::bf16), fresh(MatmulPrecision::bf16);
  const int OC = 2 * C;
  Floats inp = random(size_t(N) * C), w = random(size_t(C) * OC, 0.3f), params = random(64);
  auto d_inp = up(inp), d_w = up(w), d_params = up(params), d_out = up(Floats(size_t(N) * OC));
  auto product = [&](CudaBackend& be) {
    be.linear_forward(d_out.as<float>(), d_inp.as<float>(), d_w.as<float>(), nullptr, N, C, OC);
    return down(d_out, size_t(N) * OC);
  };
  auto change_input = [&](float by) {
    for (auto& v : inp) v += by;
    half.memory().copy_from_host(d_inp.as<float>(), inp.data(), inp.size() * sizeof(float));
  };
  half.parameters_updated(d_params.as<float>(), params.size());
  half.hold_input(d_inp.as<float>(), inp.size());
  const Floats held = product(half);
  EXPECT_EQ(held, product(fresh)) << "the held copy is a fresh rounding";
  change_input(0.5f);  // against the contract, to show which copy is read
  EXPECT_EQ(product(half), held) << "the held copy is reused within the step";
  half.parameters_updated(d_params.as<float>(), params.size());
  const Floats next_step = product(half);
  EXPECT_EQ(next_step, product(fresh)) << "after the step, no longer held";
  EXPECT_NE(next_step, held);
  half.hold_input(d_inp.as<float>(), inp.size());
  EXPECT_EQ(product(half), next_step) << "held again: rounded afresh";

  // Held before a LayerNorm computes it: the kernel writes the copy, the same bits.
  Floats x = random(inp.size(), 2.0f), g = random(C), bias = random(C);
  auto d_x = up(x), d_g = up(g), d_bias = up(bias), d_mean = up(Floats(N)), d_rstd = up(Floats(N));
  for (CudaBackend* be : {&half, &fresh}) {
    be->parameters_updated(d_params.as<float>(), params.size());
    if (be == &half) be->hold_input(d_inp.as<float>(), inp.size());
    be->layernorm_forward(d_inp.as<float>(), d_mean.as<float>(), d_rstd.as<float>(),
                          d_x.as<float>(), d_g.as<float>(), d_bias.as<float>(), N, C);
  }
  const Floats from_kernel_copy = product(half);
  EXPECT_EQ(from_kernel_copy, product(fresh)) << "the LayerNorm's 16-bit copy";
  EXPECT_NE(from_kernel_copy, next_step);

  // Held for products only: the LayerNorm writes the copy (the same bits) and its
  // statistics, and leaves the output itself as it was.
  const Floats fresh_stats = down(d_mean, N);
  const Floats before = random(inp.size());
  half.memory().copy_from_host(d_inp.as<float>(), before.data(), before.size() * sizeof(float));
  half.memory().copy_from_host(d_mean.as<float>(), Floats(N, NAN).data(), N * sizeof(float));
  half.parameters_updated(d_params.as<float>(), params.size());
  half.hold_product_input(d_inp.as<float>(), inp.size());
  half.layernorm_forward(d_inp.as<float>(), d_mean.as<float>(), d_rstd.as<float>(), d_x.as<float>(),
                         d_g.as<float>(), d_bias.as<float>(), N, C);
  EXPECT_EQ(down(d_inp, inp.size()), before) << "a products-only output is not written";
  EXPECT_EQ(down(d_mean, N), fresh_stats) << "its means are";
  EXPECT_EQ(product(half), from_kernel_copy) << "the products-only copy";
}

TEST_F(CudaOps, EmbeddingAndLayerNorm) {
  std::vector<int32_t> tok(N);
  for (auto& t : tok) t = int32_t(rng() % 7);  // repeated tokens share rows
  Floats wte = random(size_t(Vp) * C), wpe = random(size_t(T) * C), out(size_t(N) * C),
         dout = random(size_t(N) * C), dwte(wte.size()), dwpe(wpe.size());
  auto d_tok = up(tok), d_wte = up(wte), d_wpe = up(wpe), d_out = up(out), d_dout = up(dout),
       d_dwte = up(dwte), d_dwpe = up(dwpe);
  cpu.embedding_forward(out.data(), tok.data(), wte.data(), wpe.data(), B, T, C);
  gpu->embedding_forward(d_out.as<float>(), d_tok.as<int32_t>(), d_wte.as<float>(),
                         d_wpe.as<float>(), B, T, C);
  expect_close(down(d_out, out.size()), out, "embedding forward");
  cpu.embedding_backward(dwte.data(), dwpe.data(), dout.data(), tok.data(), B, T, C);
  gpu->embedding_backward(d_dwte.as<float>(), d_dwpe.as<float>(), d_dout.as<float>(),
                          d_tok.as<int32_t>(), B, T, C);
  // Each row of dwte and dwpe adds its positions in the CPU's order: the same bits.
  EXPECT_EQ(down(d_dwte, dwte.size()), dwte) << "embedding dwte";
  EXPECT_EQ(down(d_dwpe, dwpe.size()), dwpe) << "embedding dwpe";

  check_layernorm(C);
}

// pass_gradient: the product stores the LayerNorm's input gradient in 16 bits and the
// LayerNorm's backward reads it so, within 16-bit rounding of the fp32 route; over 1024
// channels (rows the kernels do not hold in registers) the gradient stays fp32, and the
// results are the fp32 route's bits.
TEST_F(CudaOps, PassedGradientReachesTheLayerNormInSixteenBits) {
  for (const int width : {768, 1100}) {
    SCOPED_TRACE("row width " + std::to_string(width));
    const int rows = 300, OC = 96;
    const Floats dout = random(size_t(rows) * OC), w = random(size_t(width) * OC, 0.1f),
                 inp = random(size_t(rows) * width), x = random(inp.size(), 2.0f),
                 g = random(width), bias = random(width);
    Floats y(x.size()), mean(rows), rstd(rows);
    cpu.layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), g.data(), bias.data(), rows,
                          width);
    auto d_dout = up(dout), d_w = up(w), d_inp = up(inp), d_x = up(x), d_g = up(g),
         d_mean = up(mean), d_rstd = up(rstd);
    auto run = [&](bool passed, bool switched_on = true) {
      CudaBackend half(MatmulPrecision::bf16);
      half.tuning().gradients_16_bit = switched_on;
      auto d_grad = up(Floats(inp.size())), d_dw = up(Floats(w.size())),
           d_dx = up(Floats(x.size(), 0.5f)), d_dg = up(Floats(width)), d_db = up(Floats(width));
      if (passed) half.pass_gradient(d_grad.as<float>(), inp.size());
      half.linear_backward(d_grad.as<float>(), d_dw.as<float>(), nullptr, d_dout.as<float>(),
                           d_inp.as<float>(), d_w.as<float>(), rows, width, OC);
      half.layernorm_backward(d_dx.as<float>(), d_dg.as<float>(), d_db.as<float>(),
                              d_grad.as<float>(), d_x.as<float>(), d_g.as<float>(),
                              d_mean.as<float>(), d_rstd.as<float>(), rows, width);
      return std::vector<Floats>{down(d_dx, x.size()), down(d_dg, width), down(d_db, width)};
    };
    const auto fp32_route = run(false), passed = run(true);
    EXPECT_EQ(run(true, false), fp32_route) << "passed with tuning().gradients_16_bit = false";
    expect_16_bit_route(passed, fp32_route, {"dinp", "dweight", "dbias"}, width, 3);
  }
}

// pass_branch: the linear layer stores the residual branch in 16 bits (its bias added in
// cuBLASLt's epilogue, or without a bias by the GEMM) and the residual add + LayerNorm
// reads it so, within 16-bit rounding of the fp32 route; over 1024 channels the branch
// stays fp32, and the results are the fp32 route's bits.
TEST_F(CudaOps, PassedBranchReachesTheResidualAddInSixteenBits) {
  for (const int width : {768, 1100})
    for (const bool with_bias : {true, false}) {
      SCOPED_TRACE("row width " + std::to_string(width) + (with_bias ? ", bias" : ", no bias"));
      const int rows = 300, C = 96;
      const Floats inp = random(size_t(rows) * C), w = random(size_t(C) * width, 0.1f),
                   bias = random(width), stream = random(size_t(rows) * width, 2.0f),
                   g = random(width), b = random(width);
      auto d_inp = up(inp), d_w = up(w), d_bias = up(bias), d_stream = up(stream), d_g = up(g),
           d_b = up(b);
      auto run = [&](bool passed, bool switched_on = true) {
        CudaBackend half(MatmulPrecision::bf16);
        half.tuning().branches_16_bit = switched_on;
        auto d_branch = up(Floats(stream.size())), d_res = up(Floats(stream.size())),
             d_y = up(Floats(stream.size())), d_mean = up(Floats(rows)), d_rstd = up(Floats(rows));
        if (passed) half.pass_branch(d_branch.as<float>(), stream.size());
        half.linear_forward(d_branch.as<float>(), d_inp.as<float>(), d_w.as<float>(),
                            with_bias ? d_bias.as<float>() : nullptr, rows, C, width);
        half.add_layernorm_forward(d_res.as<float>(), d_y.as<float>(), d_mean.as<float>(),
                                   d_rstd.as<float>(), d_stream.as<float>(), d_branch.as<float>(),
                                   d_g.as<float>(), d_b.as<float>(), rows, width);
        return std::vector<Floats>{down(d_res, stream.size()), down(d_y, stream.size()),
                                   down(d_mean, rows), down(d_rstd, rows)};
      };
      const auto fp32_route = run(false), passed = run(true);
      EXPECT_EQ(run(true, false), fp32_route) << "passed with tuning().branches_16_bit = false";
      // The branch's values are about 0.3 (C = 96 terms of 0.1-scale weights), the
      // stream's 2: bf16's rounding of the branch moves the residual by ~1e-3 of it.
      expect_16_bit_route(passed, fp32_route, {"residual", "layernorm", "mean", "rstd"}, width, 2);
    }
}

// hold_gradient: the LayerNorm backward that updates the held gradient also writes its
// 16-bit copy and column sums, and the next product's backward takes them: the same
// products (bits) and bias gradient (another order of the same sums) as its own pass; a
// second LayerNorm backward on the gradient leaves nothing stale behind.
TEST_F(CudaOps, HeldGradientFeedsTheNextProductsBackward) {
  const int rows = 300, width = 768, OC = 96;
  const Floats x = random(size_t(rows) * width, 2.0f), g = random(width), dy = random(x.size()),
               start = random(x.size()), inp = random(size_t(rows) * OC),
               w = random(size_t(OC) * width, 0.1f);
  Floats y(x.size()), mean(rows), rstd(rows);
  cpu.layernorm_forward(y.data(), mean.data(), rstd.data(), x.data(), g.data(), g.data(), rows,
                        width);
  auto d_x = up(x), d_g = up(g), d_dy = up(dy), d_mean = up(mean), d_rstd = up(rstd),
       d_inp = up(inp), d_w = up(w);
  // mode 0: not held; 1: held; 2: held, then a second LayerNorm backward before the product.
  auto run = [&](int mode) {
    CudaBackend half(MatmulPrecision::bf16);
    auto d_grad = up(start), d_dg = up(Floats(width)), d_db = up(Floats(width)),
         d_dinp = up(Floats(inp.size())), d_dw = up(Floats(w.size())), d_bias = up(Floats(width));
    if (mode > 0) half.hold_gradient(d_grad.as<float>(), x.size());
    for (int i = 0; i < (mode == 2 ? 2 : 1); ++i)
      half.layernorm_backward(d_grad.as<float>(), d_dg.as<float>(), d_db.as<float>(),
                              d_dy.as<float>(), d_x.as<float>(), d_g.as<float>(),
                              d_mean.as<float>(), d_rstd.as<float>(), rows, width);
    // the held gradient as the next product's output gradient: (rows x width) from (rows x OC)
    half.linear_backward(d_dinp.as<float>(), d_dw.as<float>(), d_bias.as<float>(),
                         d_grad.as<float>(), d_inp.as<float>(), d_w.as<float>(), rows, OC, width);
    return std::vector<Floats>{down(d_grad, x.size()), down(d_dinp, inp.size()),
                               down(d_dw, w.size()), down(d_bias, width)};
  };
  const auto plain = run(0), held = run(1);
  EXPECT_EQ(held[0], plain[0]) << "the updated gradient";
  EXPECT_EQ(held[1], plain[1]) << "the product's input gradient, from the LayerNorm's copy";
  EXPECT_EQ(held[2], plain[2]) << "the product's weight gradient, from the LayerNorm's copy";
  EXPECT_LT(testing::normwise_error(held[3], plain[3], 0, width, width), 1e-6)
      << "the bias gradient, from the LayerNorm's column sums";
  const auto twice = run(2);
  const Floats plain_twice = [&] {
    CudaBackend half(MatmulPrecision::bf16);
    auto d_grad = up(start), d_dg = up(Floats(width)), d_db = up(Floats(width));
    for (int i = 0; i < 2; ++i)
      half.layernorm_backward(d_grad.as<float>(), d_dg.as<float>(), d_db.as<float>(),
                              d_dy.as<float>(), d_x.as<float>(), d_g.as<float>(),
                              d_mean.as<float>(), d_rstd.as<float>(), rows, width);
    return down(d_grad, x.size());
  }();
  EXPECT_EQ(twice[0], plain_twice) << "the gradient after two updates";
  Floats want_bias(width, 0.0f);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < width; ++c) want_bias[c] += plain_twice[size_t(r) * width + c];
  EXPECT_LT(testing::normwise_error(twice[3], want_bias, 0, width, width), 1e-5)
      << "the bias gradient after the second update, not the first's sums";
}

// Row widths for each of the kernels' register layouts (cuda_layernorm.cu: 8, 16, 24 and
// 32 values a lane, and the one that reads memory for rows over 1024), GPT-2's 768 among
// them.
TEST_F(CudaOps, LayerNormAtEveryRowWidthItsKernelsTake) {
  for (int width : {300, 768, 1000, 1100}) check_layernorm(width);
  // More rows than the one-pass backward's grid takes at once (264 blocks of 8 warps).
  check_layernorm(768, 3001);
}

TEST_F(CudaOps, GatherAndScatterRows) {
  const Floats in = random(size_t(N) * C);
  std::vector<int32_t> rows;
  for (int r = N - 1; r >= 0; r -= 3) rows.push_back(r);
  const int n = int(rows.size());
  Floats picked(size_t(n) * C), back = random(in.size());
  auto d_in = up(in), d_rows = up(rows), d_picked = up(picked), d_back = up(back);
  cpu.gather_rows(picked.data(), in.data(), rows.data(), n, C);
  gpu->gather_rows(d_picked.as<float>(), d_in.as<float>(), d_rows.as<int32_t>(), n, C);
  EXPECT_EQ(down(d_picked, picked.size()), picked);
  cpu.scatter_rows(back.data(), picked.data(), rows.data(), n, C);
  gpu->scatter_rows(d_back.as<float>(), d_picked.as<float>(), d_rows.as<int32_t>(), n, C);
  EXPECT_EQ(down(d_back, back.size()), back);
}

TEST_F(CudaOps, CausalAttentionWithDropoutIsDeterministic) {
  const DropoutKey key{0.2f, 77, 3, 2, 5};
  Floats qkv = random(size_t(N) * 3 * C), out(size_t(N) * C), att(size_t(B) * NH * T * T),
         dout = random(size_t(N) * C), dqkv(qkv.size()), scratch(att.size());
  auto d_qkv = up(qkv), d_out = up(out), d_att = up(att), d_dout = up(dout), d_dqkv = up(dqkv),
       d_scratch = up(scratch);
  cpu.attention_forward(out.data(), att.data(), qkv.data(), B, T, C, NH, key);
  gpu->attention_forward(d_out.as<float>(), d_att.as<float>(), d_qkv.as<float>(), B, T, C, NH, key);
  expect_close(down(d_out, out.size()), out, "attention forward (same dropout mask)");
  // The GPU keeps each score row's log-sum-exp instead of the probabilities.
  ASSERT_FALSE(gpu->attention_stores_probabilities());
  const Floats lse = down(d_att, size_t(B) * NH * T);
  const ref::Vec want = ref::attention_lse(ref::Vec(qkv.begin(), qkv.end()), B, T, C, NH);
  for (size_t row = 0; row < want.size(); ++row)
    ASSERT_NEAR(lse[row], want[row], 1e-5) << "log-sum-exp of row " << row << " of (B, NH, T)";
  cpu.attention_backward(dqkv.data(), scratch.data(), dout.data(), qkv.data(), att.data(),
                         out.data(), B, T, C, NH, key);
  gpu->attention_backward(d_dqkv.as<float>(), nullptr, d_dout.as<float>(), d_qkv.as<float>(),
                          d_att.as<float>(), d_out.as<float>(), B, T, C, NH, key);
  const Floats first = down(d_dqkv, dqkv.size());
  expect_close(first, dqkv, "attention dqkv");
  gpu->attention_backward(d_dqkv.as<float>(), nullptr, d_dout.as<float>(), d_qkv.as<float>(),
                          d_att.as<float>(), d_out.as<float>(), B, T, C, NH, key);
  EXPECT_EQ(down(d_dqkv, dqkv.size()), first) << "a second backward must give the same bits";
}

// Flash attention over several key and query tiles (T = 150: two full tiles of 64 and a
// partial one; HS = 64, GPT-2's head size), against the CPU's T x T attention.
TEST_F(CudaOps, FlashAttentionAcrossTilesMatchesTheCpu) {
  const int Bb = 2, Tt = 150, Cc = 128, NHh = 2, Nn = Bb * Tt;
  for (const DropoutKey key : {DropoutKey{}, DropoutKey{0.1f, 9, 4, 1, 6}}) {
    Floats qkv = random(size_t(Nn) * 3 * Cc), out(size_t(Nn) * Cc), att(size_t(Bb) * NHh * Tt * Tt),
           dout = random(size_t(Nn) * Cc), dqkv(qkv.size()), scratch(att.size());
    auto d_qkv = up(qkv), d_out = up(out),
         d_lse = up(Floats(gpu->attention_state_floats(Bb, Tt, Cc, NHh))), d_dout = up(dout),
         d_dqkv = up(dqkv);
    cpu.attention_forward(out.data(), att.data(), qkv.data(), Bb, Tt, Cc, NHh, key);
    gpu->attention_forward(d_out.as<float>(), d_lse.as<float>(), d_qkv.as<float>(), Bb, Tt, Cc, NHh,
                           key);
    expect_close(down(d_out, out.size()), out, "flash attention forward");
    cpu.attention_backward(dqkv.data(), scratch.data(), dout.data(), qkv.data(), att.data(),
                           out.data(), Bb, Tt, Cc, NHh, key);
    gpu->attention_backward(d_dqkv.as<float>(), nullptr, d_dout.as<float>(), d_qkv.as<float>(),
                            d_lse.as<float>(), d_out.as<float>(), Bb, Tt, Cc, NHh, key);
    expect_close(down(d_dqkv, dqkv.size()), dqkv, "flash attention dqkv");
  }
}

// bf16 and fp16 take the tensor-core kernels (cuda_flash_attention_tc.cuh) at head sizes
// 32, 64 and 128, with or without attention dropout. Their inputs, P and dS are rounded to
// 16 bits, so they are held to a normwise bound, max |got - cpu| / max |cpu| per tensor:
// 3.1x (bf16) and 3.5x (fp16) the worst that tests/reference/measure_tc_attention_error.py
// emulates (bf16: out 3.1e-3, dq 5.5e-3, dk 8.0e-3, dv 4.7e-3; fp16: 3.6e-4 .. 7.2e-4).
// T = 150 has a partial tile; T = 1024 (GPT-2's) walks 16 tiles; attention dropout 0.1
// draws the CPU's masks, which the reference applies too. Two heads of 64 (C = 128), and
// at T = 150 four heads of 32 (C = 128, the demo config's) and two of 128 (C = 256), where
// the forward's variants fall back to the 64-row kernel.
struct TensorCoreAttentionCase {
  int T;
  float dropout;
  int C = 128, NH = 2;
};
class CudaTensorCoreAttention : public CudaOps,
                                public ::testing::WithParamInterface<TensorCoreAttentionCase> {};

TEST_P(CudaTensorCoreAttention, MatchesTheCpuWithinSixteenBitRounding) {
  const int Bb = 2, Tt = GetParam().T, Cc = GetParam().C, NHh = GetParam().NH, Nn = Bb * Tt;
  const DropoutKey drop{GetParam().dropout, 99, 3, 4, 5};
  const auto normwise = testing::normwise_error;
  for (const auto& [precision, bound] :
       {std::pair{MatmulPrecision::bf16, 2.5e-2}, std::pair{MatmulPrecision::fp16, 2.5e-3}}) {
    CudaBackend half(precision);
    Floats qkv = random(size_t(Nn) * 3 * Cc), out(size_t(Nn) * Cc), att(size_t(Bb) * NHh * Tt * Tt),
           dout = random(size_t(Nn) * Cc), dqkv(qkv.size()), scratch(att.size());
    // The log-sum-exps, then the forward's 16-bit q, k, v for the backward.
    ASSERT_GT(half.attention_state_floats(Bb, Tt, Cc, NHh), size_t(Bb) * NHh * Tt);
    auto d_qkv = up(qkv), d_out = up(out),
         d_lse = up(Floats(half.attention_state_floats(Bb, Tt, Cc, NHh))), d_dout = up(dout),
         d_dqkv = up(dqkv);
    cpu.attention_forward(out.data(), att.data(), qkv.data(), Bb, Tt, Cc, NHh, drop);
    half.attention_forward(d_out.as<float>(), d_lse.as<float>(), d_qkv.as<float>(), Bb, Tt, Cc, NHh,
                           drop);
    const double out_err = normwise(down(d_out, out.size()), out, 0, out.size(), out.size());
    cpu.attention_backward(dqkv.data(), scratch.data(), dout.data(), qkv.data(), att.data(),
                           out.data(), Bb, Tt, Cc, NHh, drop);
    half.attention_backward(d_dqkv.as<float>(), nullptr, d_dout.as<float>(), d_qkv.as<float>(),
                            d_lse.as<float>(), d_out.as<float>(), Bb, Tt, Cc, NHh, drop);
    const Floats got = down(d_dqkv, dqkv.size());
    const double dq = normwise(got, dqkv, 0, Cc, 3 * Cc), dk = normwise(got, dqkv, Cc, Cc, 3 * Cc),
                 dv = normwise(got, dqkv, 2 * Cc, Cc, 3 * Cc);
    std::printf(
        "tensor-core attention %s T=%d head size %d dropout %.1f: out %.2e dq %.2e dk %.2e dv "
        "%.2e (bound %.1e)\n",
        precision == MatmulPrecision::bf16 ? "bf16" : "fp16", Tt, Cc / NHh, drop.p, out_err, dq, dk,
        dv, bound);
    EXPECT_LT(out_err, bound) << "forward";
    EXPECT_LT(dq, bound) << "dq";
    EXPECT_LT(dk, bound) << "dk";
    EXPECT_LT(dv, bound) << "dv";
    half.attention_backward(d_dqkv.as<float>(), nullptr, d_dout.as<float>(), d_qkv.as<float>(),
                            d_lse.as<float>(), d_out.as<float>(), Bb, Tt, Cc, NHh, drop);
    EXPECT_EQ(down(d_dqkv, dqkv.size()), got) << "a second backward must give the same bits";
    // The dK/dV kernel on whole query tiles instead of halves (without dropout; with it
    // both calls take whole tiles): the same bits.
    half.tuning().split_attention_dkv = false;
    half.attention_backward(d_dqkv.as<float>(), nullptr, d_dout.as<float>(), d_qkv.as<float>(),
                            d_lse.as<float>(), d_out.as<float>(), Bb, Tt, Cc, NHh, drop);
    EXPECT_EQ(down(d_dqkv, dqkv.size()), got) << "the one-part dK/dV kernel's bits";
    // The forward by the other kernels (64 query rows a block instead of 128, and 64
    // pipelined across key tiles, without dropout; with dropout every call takes the
    // 64-row kernel): the same bits.
    const Floats first_out = down(d_out, out.size()), first_state = down(d_lse, d_lse.bytes() / 4);
    for (const auto kernel : {cuda::AttentionForward::pipelined, cuda::AttentionForward::rows64}) {
      const char* name = kernel == cuda::AttentionForward::rows64 ? "64-row" : "pipelined";
      half.tuning().attention_forward = kernel;
      half.attention_forward(d_out.as<float>(), d_lse.as<float>(), d_qkv.as<float>(), Bb, Tt, Cc,
                             NHh, drop);
      EXPECT_EQ(down(d_out, out.size()), first_out) << "the " << name << " forward's output";
      EXPECT_EQ(down(d_lse, d_lse.bytes() / 4), first_state)
          << "the " << name << " forward's state";
    }
    // With a quarter of its exponentials by a polynomial (other bits): as close to the
    // CPU's output as the others, a second call's bits the same. Then the 64-row kernel
    // again, for what follows.
    half.tuning().attention_forward = cuda::AttentionForward::pipelined_poly;
    half.attention_forward(d_out.as<float>(), d_lse.as<float>(), d_qkv.as<float>(), Bb, Tt, Cc, NHh,
                           drop);
    const Floats poly_out = down(d_out, out.size());
    EXPECT_LT(normwise(poly_out, out, 0, out.size(), out.size()), bound) << "pipelined-poly";
    half.attention_forward(d_out.as<float>(), d_lse.as<float>(), d_qkv.as<float>(), Bb, Tt, Cc, NHh,
                           drop);
    EXPECT_EQ(down(d_out, out.size()), poly_out) << "a second pipelined-poly forward's bits";
    half.tuning().attention_forward = cuda::AttentionForward::rows64;
    half.attention_forward(d_out.as<float>(), d_lse.as<float>(), d_qkv.as<float>(), Bb, Tt, Cc, NHh,
                           drop);
    // Held before the forward (as the GPT holds it), the output's 16-bit copy is the
    // kernel's: a product reading it gives a fresh rounding's bits.
    CudaBackend fresh(precision);
    const Floats params = random(16), w = random(size_t(Cc) * 8, 0.3f);
    auto d_params = up(params), d_w = up(w), d_y = up(Floats(size_t(Nn) * 8));
    half.parameters_updated(d_params.as<float>(), params.size());
    half.hold_input(d_out.as<float>(), out.size());
    half.attention_forward(d_out.as<float>(), d_lse.as<float>(), d_qkv.as<float>(), Bb, Tt, Cc, NHh,
                           drop);
    auto product = [&](CudaBackend& be) {
      be.linear_forward(d_y.as<float>(), d_out.as<float>(), d_w.as<float>(), nullptr, Nn, Cc, 8);
      return down(d_y, size_t(Nn) * 8);
    };
    EXPECT_EQ(product(half), product(fresh)) << "the attention's 16-bit copy of its output";

    // The projection and the attention as one pair (qkv_attention_forward): the GEMM may
    // write q, k, v in 16 bits into the state only (qkv then stays as it was: NaN here,
    // and the test says which route ran); the output, and the backward from that state,
    // against the CPU's two ops, to the same bounds.
    const Floats inp = random(size_t(Nn) * Cc), w_qkv = random(size_t(Cc) * 3 * Cc, 0.09f),
                 b_qkv = random(3 * Cc, 0.3f);
    auto d_inp = up(inp), d_wqkv = up(w_qkv), d_bqkv = up(b_qkv),
         d_nan = up(Floats(qkv.size(), NAN));
    Floats qkv2(qkv.size()), out2(out.size()), dqkv2(qkv.size());
    cpu.linear_forward(qkv2.data(), inp.data(), w_qkv.data(), b_qkv.data(), Nn, Cc, 3 * Cc);
    cpu.attention_forward(out2.data(), att.data(), qkv2.data(), Bb, Tt, Cc, NHh, drop);
    cpu.attention_backward(dqkv2.data(), scratch.data(), dout.data(), qkv2.data(), att.data(),
                           out2.data(), Bb, Tt, Cc, NHh, drop);
    half.qkv_attention_forward(d_out.as<float>(), d_lse.as<float>(), d_nan.as<float>(),
                               d_inp.as<float>(), d_wqkv.as<float>(), d_bqkv.as<float>(), Bb, Tt,
                               Cc, NHh, drop);
    const bool in_state_only = std::isnan(down(d_nan, 1)[0]);
    std::printf("qkv_attention_forward %s: q, k, v %s%s%s\n",
                precision == MatmulPrecision::bf16 ? "bf16" : "fp16",
                in_state_only ? "in the state only (the GEMM wrote them in 16 bits)"
                              : "through fp32 qkv (no 16-bit GEMM for the shape)",
                half.lt_notes().empty() ? "" : "; ", half.lt_notes().c_str());
    EXPECT_LT(normwise(down(d_out, out2.size()), out2, 0, out2.size(), out2.size()), bound)
        << "forward from the projection";
    half.attention_backward(d_dqkv.as<float>(), nullptr, d_dout.as<float>(), d_nan.as<float>(),
                            d_lse.as<float>(), d_out.as<float>(), Bb, Tt, Cc, NHh, drop);
    const Floats got2 = down(d_dqkv, dqkv2.size());
    for (int part = 0; part < 3; ++part)
      EXPECT_LT(normwise(got2, dqkv2, part * Cc, Cc, 3 * Cc), bound)
          << "backward from the projection's state, part " << part;
    // The branch's backward (attention_branch_backward) from dy, the projection's output
    // gradient, against the CPU's three ops. On the tensor-core route dO comes from the
    // projection's GEMM in 16 bits, D from it and the forward's 16-bit output, and q's, k's
    // and v's gradients go to the qkv projection's products in 16 bits.
    const Floats dy = random(out.size()), w_proj = random(size_t(Cc) * Cc, 0.09f);
    Floats dattn3(out.size()), dqkv3(qkv.size()), dinp3(inp.size()), dwq3(w_qkv.size(), 0.25f),
        dbq3(b_qkv.size(), 0.25f), dwp3(w_proj.size(), 0.25f), dbp3(Cc, 0.25f);
    cpu.linear_backward(dattn3.data(), dwp3.data(), dbp3.data(), dy.data(), out2.data(),
                        w_proj.data(), Nn, Cc, Cc);
    cpu.attention_backward(dqkv3.data(), scratch.data(), dattn3.data(), qkv2.data(), att.data(),
                           out2.data(), Bb, Tt, Cc, NHh, drop);
    cpu.linear_backward(dinp3.data(), dwq3.data(), dbq3.data(), dqkv3.data(), inp.data(),
                        w_qkv.data(), Nn, Cc, 3 * Cc);
    const std::vector<const Floats*> want = {&dinp3, &dwq3, &dbq3, &dwp3, &dbp3};
    const char* names[] = {"input", "qkv weight", "qkv bias", "projection weight",
                           "projection bias"};
    auto d_dy = up(dy), d_wproj = up(w_proj), d_dattn = up(Floats(out.size()));
    auto branch_backward = [&](const char* what) {
      std::vector<DeviceBuffer> g;
      g.push_back(up(Floats(inp.size(), NAN)));
      for (size_t i = 1; i < want.size(); ++i) g.push_back(up(Floats(want[i]->size(), 0.25f)));
      half.attention_branch_backward(
          g[0].as<float>(), g[1].as<float>(), g[2].as<float>(), g[3].as<float>(), g[4].as<float>(),
          d_dattn.as<float>(), d_dqkv.as<float>(), nullptr, d_dy.as<float>(), d_nan.as<float>(),
          d_lse.as<float>(), d_out.as<float>(), d_inp.as<float>(), d_wqkv.as<float>(),
          d_wproj.as<float>(), Bb, Tt, Cc, NHh, drop);
      std::vector<Floats> got;
      for (size_t i = 0; i < want.size(); ++i) {
        got.push_back(down(g[i], want[i]->size()));
        EXPECT_LT(normwise(got[i], *want[i], 0, got[i].size(), got[i].size()), bound)
            << what << ": the branch's " << names[i] << " gradient";
      }
      return got;
    };
    const auto from_written_output = branch_backward("output written");
    // The forward again with its output held for products only (hold_product_input): the
    // kernel writes only the 16-bit copy, the same bits, so the backward's bits are the
    // same; the fp32 route's backward, which would read the output, refuses.
    half.parameters_updated(d_params.as<float>(), params.size());
    half.memory().copy_from_host(d_out.as<float>(), Floats(out.size(), NAN).data(),
                                 out.size() * sizeof(float));
    half.hold_product_input(d_out.as<float>(), out.size());
    half.qkv_attention_forward(d_out.as<float>(), d_lse.as<float>(), d_nan.as<float>(),
                               d_inp.as<float>(), d_wqkv.as<float>(), d_bqkv.as<float>(), Bb, Tt,
                               Cc, NHh, drop);
    EXPECT_TRUE(std::isnan(down(d_out, 1)[0])) << "a products-only output is not written";
    EXPECT_THROW(
        half.attention_backward(d_dqkv.as<float>(), nullptr, d_dout.as<float>(), d_nan.as<float>(),
                                d_lse.as<float>(), d_out.as<float>(), Bb, Tt, Cc, NHh, drop),
        Error);
    EXPECT_EQ(branch_backward("output's copy only"), from_written_output)
        << "the branch's backward from the output's copy alone";

    // cuDNN's fused attention (cuda_cudnn_attention.h), without dropout and where cuDNN
    // loads: the same roundings as the kernels (16-bit q, k, v, dO, P and dS), so the same
    // bounds. Its forward (output written, so widened from its 16-bit copy) and, from its
    // state, the kernels' backward (the log-sum-exps in the kernels' units); the branch's
    // backward by cuDNN after its forward, twice (deterministic: the same bits), and after
    // the kernels' forward.
    std::string why;
    if (drop.active() || !cuda::cudnn_available(&why)) {
      std::printf("cuDNN attention: not run (%s)\n", drop.active() ? "dropout" : why.c_str());
      continue;
    }
    const char* prec = precision == MatmulPrecision::bf16 ? "bf16" : "fp16";
    half.tuning().attention_forward = cuda::AttentionForward::cudnn;
    half.parameters_updated(d_params.as<float>(), params.size());
    half.qkv_attention_forward(d_out.as<float>(), d_lse.as<float>(), d_nan.as<float>(),
                               d_inp.as<float>(), d_wqkv.as<float>(), d_bqkv.as<float>(), Bb, Tt,
                               Cc, NHh, drop);
    const double cudnn_out = normwise(down(d_out, out2.size()), out2, 0, out2.size(), out2.size());
    half.attention_backward(d_dqkv.as<float>(), nullptr, d_dout.as<float>(), d_nan.as<float>(),
                            d_lse.as<float>(), d_out.as<float>(), Bb, Tt, Cc, NHh, drop);
    const Floats after_cudnn = down(d_dqkv, dqkv2.size());
    std::printf(
        "cuDNN attention %s T=%d: out %.2e; the kernels' backward from its state: dq "
        "%.2e dk %.2e dv %.2e (bound %.1e)\n",
        prec, Tt, cudnn_out, normwise(after_cudnn, dqkv2, 0, Cc, 3 * Cc),
        normwise(after_cudnn, dqkv2, Cc, Cc, 3 * Cc),
        normwise(after_cudnn, dqkv2, 2 * Cc, Cc, 3 * Cc), bound);
    EXPECT_LT(cudnn_out, bound) << "cuDNN's forward";
    for (int part = 0; part < 3; ++part)
      EXPECT_LT(normwise(after_cudnn, dqkv2, part * Cc, Cc, 3 * Cc), bound)
          << "the kernels' backward from cuDNN's forward, part " << part;
    half.tuning().cudnn_attention_backward = true;
    half.tuning().cudnn_backward_samples = 0;
    const auto by_cudnn = branch_backward("cuDNN forward and backward");
    EXPECT_EQ(branch_backward("cuDNN again"), by_cudnn) << "cuDNN's backward repeats its bits";
    half.tuning().cudnn_attention_backward = true;  // a sample a call: each at its part's offsets
    half.tuning().cudnn_backward_samples = 1;
    branch_backward("cuDNN's backward a sample a call");
    half.tuning().cudnn_attention_backward = true;
    half.tuning().cudnn_backward_samples = 0;
    half.tuning().attention_forward = cuda::AttentionForward::rows128;
    half.parameters_updated(d_params.as<float>(), params.size());
    half.hold_product_input(d_out.as<float>(), out.size());
    half.qkv_attention_forward(d_out.as<float>(), d_lse.as<float>(), d_nan.as<float>(),
                               d_inp.as<float>(), d_wqkv.as<float>(), d_bqkv.as<float>(), Bb, Tt,
                               Cc, NHh, drop);
    branch_backward("the kernels' forward, cuDNN's backward");
    std::printf("%s", half.cudnn_attention_notes().c_str());
  }
}
INSTANTIATE_TEST_SUITE_P(Shapes, CudaTensorCoreAttention,
                         ::testing::Values(TensorCoreAttentionCase{150, 0.0f},
                                           TensorCoreAttentionCase{1024, 0.0f},
                                           TensorCoreAttentionCase{150, 0.1f},
                                           TensorCoreAttentionCase{150, 0.0f, 128, 4},
                                           TensorCoreAttentionCase{150, 0.1f, 128, 4},
                                           TensorCoreAttentionCase{150, 0.0f, 256, 2},
                                           TensorCoreAttentionCase{150, 0.1f, 256, 2}));

TEST_F(CudaOps, CrossAttentionWithPaddingAndDropout) {
  const int Tq = 7, Tk = 15;
  const DropoutKey key{0.1f, 5, 1, 9, 0};
  std::vector<int32_t> len = {9, 15};
  Floats q = random(size_t(B) * Tq * C), kv = random(size_t(B) * Tk * 2 * C),
         out(size_t(B) * Tq * C), att(size_t(B) * NH * Tq * Tk), dout = random(out.size()),
         dq(q.size()), dkv(kv.size()), scratch(att.size());
  auto d_q = up(q), d_kv = up(kv), d_out = up(out), d_att = up(att), d_dout = up(dout),
       d_dq = up(dq), d_dkv = up(dkv), d_scratch = up(scratch), d_len = up(len);
  cpu.mha_forward(out.data(), att.data(), q.data(), kv.data(), kv.data() + C, C, 2 * C, B, Tq, Tk,
                  C, NH, false, len.data(), key);
  gpu->mha_forward(d_out.as<float>(), d_att.as<float>(), d_q.as<float>(), d_kv.as<float>(),
                   d_kv.as<float>() + C, C, 2 * C, B, Tq, Tk, C, NH, false, d_len.as<int32_t>(),
                   key);
  expect_close(down(d_out, out.size()), out, "mha forward");
  cpu.mha_backward(dq.data(), dkv.data(), dkv.data() + C, scratch.data(), dout.data(), q.data(),
                   kv.data(), kv.data() + C, att.data(), C, 2 * C, B, Tq, Tk, C, NH, false,
                   len.data(), key);
  gpu->mha_backward(d_dq.as<float>(), d_dkv.as<float>(), d_dkv.as<float>() + C,
                    d_scratch.as<float>(), d_dout.as<float>(), d_q.as<float>(), d_kv.as<float>(),
                    d_kv.as<float>() + C, d_att.as<float>(), C, 2 * C, B, Tq, Tk, C, NH, false,
                    d_len.as<int32_t>(), key);
  expect_close(down(d_dq, dq.size()), dq, "mha dq");
  expect_close(down(d_dkv, dkv.size()), dkv, "mha dk|dv");
}

TEST_F(CudaOps, ElementwiseDropoutAndSumSquares) {
  const size_t n = size_t(N) * 4 * C;
  Floats x = random(n, 2.0f), y(n), dy = random(n), dx(n);
  auto d_x = up(x), d_y = up(y), d_dy = up(dy), d_dx = up(dx);
  cpu.gelu_forward(y.data(), x.data(), n);
  gpu->gelu_forward(d_y.as<float>(), d_x.as<float>(), n);
  expect_close(down(d_y, n), y, "gelu forward");
  cpu.gelu_backward(dx.data(), x.data(), dy.data(), n);
  gpu->gelu_backward(d_dx.as<float>(), d_x.as<float>(), d_dy.as<float>(), n);
  expect_close(down(d_dx, n), dx, "gelu backward");
  cpu.tanh_forward(y.data(), x.data(), n);
  gpu->tanh_forward(d_y.as<float>(), d_x.as<float>(), n);
  expect_close(down(d_y, n), y, "tanh forward");
  cpu.add(dx.data(), x.data(), dy.data(), n);
  gpu->add(d_dx.as<float>(), d_x.as<float>(), d_dy.as<float>(), n);
  expect_close(down(d_dx, n), dx, "add");
  const DropoutKey key{0.3f, 11, 4, 6, 3};
  cpu.dropout(x.data(), B, n / B, key);
  gpu->dropout(d_x.as<float>(), B, n / B, key);
  expect_close(down(d_x, n), x, "dropout (the same mask)");
  EXPECT_NEAR(gpu->sum_squares(d_x.as<float>(), n), cpu.sum_squares(x.data(), n),
              1e-9 * cpu.sum_squares(x.data(), n));
}

// Training's fused LM head (cuda_lm_head_loss.cu) in bf16 and fp16, stage by stage
// against an exact host emulation. x is in {0, +-1/2, +-1} and wte in {0, +-1/4, +-1/2},
// so every product is a multiple of 1/8 and each logit, a sum of C = 40 of them, a
// multiple of 1/8 of magnitude at most 20: exact in fp32 in any order, and in bf16 and fp16
// (8 significant bits suffice), whatever rounding the GEMM's 16-bit output uses. Then: the loss
// within fp32 softmax rounding (1e-5); each stored (softmax - onehot) * scale within one 16-bit ulp
// of its exact value (the GPU's fp32 softmax may round the other way at a tie's edge), padding
// exactly 0; dx and dwte from those stored values within the fp32 sums' 1e-5 + 1e-4 |want|.
TEST_F(CudaOps, FusedLmHeadLossMatchesItsSixteenBitEmulation) {
  std::uniform_int_distribution<int> small(-2, 2), target(0, V - 1);
  Floats x(size_t(N) * C), wte(size_t(Vp) * C);
  for (auto& v : x) v = small(rng) / 2.0f;
  for (auto& v : wte) v = small(rng) / 4.0f;
  std::vector<int32_t> targets(N);
  for (auto& t : targets) t = target(rng);
  const float dloss = 0.37f;
  for (const bool bf16 : {true, false}) {
    SCOPED_TRACE(bf16 ? "bf16" : "fp16");
    CudaBackend half(bf16 ? MatmulPrecision::bf16 : MatmulPrecision::fp16);
    auto round = [&](float v) { return bf16 ? bf16_to_float(float_to_bf16(v)) : round_fp16(v); };
    const double store = bf16 ? 1.0 : 1024.0;
    auto d_x = up(x), d_wte = up(wte), d_targets = up(targets), d_losses = up(Floats(N)),
         d_logits = up(Floats(size_t(N) * Vp)), d_dx = up(Floats(size_t(N) * C)),
         d_dwte = up(Floats(wte.size(), 0.25f));
    half.lm_head_loss_forward(d_losses.as<float>(), d_logits.as<float>(), d_x.as<float>(),
                              d_wte.as<float>(), d_targets.as<int32_t>(), N, C, V, Vp);
    const Floats losses = down(d_losses, N);
    const auto stored = cuda::download<uint16_t>(d_logits, size_t(N) * Vp);
    Floats g(stored.size());  // the stored gradients, as floats
    for (size_t i = 0; i < g.size(); ++i)
      g[i] = bf16 ? bf16_to_float(stored[i]) : fp16_bits_to_float(stored[i]);
    for (int n = 0; n < N; ++n) {
      std::vector<double> z(V);
      double zmax = -INFINITY, sum = 0;
      for (int v = 0; v < V; ++v) {
        double e = 0;
        for (int c = 0; c < C; ++c) e += double(x[size_t(n) * C + c]) * wte[size_t(v) * C + c];
        z[v] = round(float(e));
        zmax = std::max(zmax, z[v]);
      }
      for (int v = 0; v < V; ++v) sum += std::exp(z[v] - zmax);
      const double lse = zmax + std::log(sum), loss = lse - z[targets[n]];
      ASSERT_NEAR(losses[n], loss, 1e-5 * (1 + loss)) << "loss of row " << n;
      for (int v = 0; v < Vp; ++v) {
        const float got = g[size_t(n) * Vp + v];
        if (v >= V) {
          ASSERT_EQ(got, 0.0f) << "padding, row " << n << " column " << v;
          continue;
        }
        const double want = (std::exp(z[v] - lse) - (v == targets[n])) * store;
        // One ulp of the 16-bit value (fp16 down to its subnormals' 2^-24).
        const double ulp = std::abs(want) * (bf16 ? 0x1p-7 : 0x1p-10) + 0x1p-24;
        ASSERT_NEAR(got, want, ulp) << "stored gradient, row " << n << " column " << v;
      }
    }
    half.lm_head_loss_forward(d_losses.as<float>(), d_logits.as<float>(), d_x.as<float>(),
                              d_wte.as<float>(), d_targets.as<int32_t>(), N, C, V, Vp);
    EXPECT_EQ(cuda::download<uint16_t>(d_logits, stored.size()), stored) << "a second forward";
    half.tuning().shared_lm_loss_rows = false;  // the same bits with the rows in registers
    half.lm_head_loss_forward(d_losses.as<float>(), d_logits.as<float>(), d_x.as<float>(),
                              d_wte.as<float>(), d_targets.as<int32_t>(), N, C, V, Vp);
    EXPECT_EQ(cuda::download<uint16_t>(d_logits, stored.size()), stored) << "rows in registers";
    EXPECT_EQ(down(d_losses, N), losses) << "their losses";
    half.tuning().shared_lm_loss_rows = true;

    half.lm_head_loss_backward(d_dx.as<float>(), d_dwte.as<float>(), d_logits.as<float>(),
                               d_x.as<float>(), d_wte.as<float>(), d_targets.as<int32_t>(), dloss,
                               N, C, V, Vp);
    const double alpha = dloss / store;
    Floats dx(size_t(N) * C), dwte(wte.size(), 0.25f);
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c) {
        double s = 0;
        for (int v = 0; v < Vp; ++v) s += double(g[size_t(n) * Vp + v]) * wte[size_t(v) * C + c];
        dx[size_t(n) * C + c] = float(alpha * s);
      }
    for (int v = 0; v < Vp; ++v)
      for (int c = 0; c < C; ++c) {
        double s = 0;
        for (int n = 0; n < N; ++n) s += double(g[size_t(n) * Vp + v]) * x[size_t(n) * C + c];
        dwte[size_t(v) * C + c] += float(alpha * s);
      }
    expect_close(down(d_dx, dx.size()), dx, "fused LM head dx");
    expect_close(down(d_dwte, dwte.size()), dwte, "fused LM head dwte (accumulated)");
  }
}

TEST_F(CudaOps, CrossEntropiesAndOptimizers) {
  Floats z = random(size_t(N) * Vp, 3.0f), losses(N), probs(z.size()), row_scale = random(N);
  std::vector<int32_t> tg(N);
  for (auto& t : tg) t = int32_t(rng() % V);
  tg[3] = -1;  // ignored
  auto d_z = up(z), d_losses = up(losses), d_probs = up(probs), d_tg = up(tg),
       d_scale = up(row_scale);
  cpu.masked_cross_entropy_forward(losses.data(), probs.data(), z.data(), tg.data(), N, V, Vp,
                                   0.1f);
  gpu->masked_cross_entropy_forward(d_losses.as<float>(), d_probs.as<float>(), d_z.as<float>(),
                                    d_tg.as<int32_t>(), N, V, Vp, 0.1f);
  expect_close(down(d_losses, N), losses, "masked smoothed cross-entropy");
  expect_close(down(d_probs, probs.size()), probs, "softmax");
  cpu.masked_cross_entropy_backward(probs.data(), probs.data(), tg.data(), row_scale.data(), N, V,
                                    Vp, 0.1f);
  gpu->masked_cross_entropy_backward(d_probs.as<float>(), d_probs.as<float>(), d_tg.as<int32_t>(),
                                     d_scale.as<float>(), N, V, Vp, 0.1f);
  expect_close(down(d_probs, probs.size()), probs, "cross-entropy dlogits");

  // In place of the logits (training's plan): the same losses and softmax.
  Floats want_losses(N), want_probs(z.size());
  cpu.softmax_cross_entropy_forward(want_losses.data(), want_probs.data(), z.data(), tg.data() + 4,
                                    N - 4, V, Vp);
  auto d_inplace = up(z);
  gpu->softmax_cross_entropy_forward(d_losses.as<float>(), d_inplace.as<float>(),
                                     d_inplace.as<float>(), d_tg.as<int32_t>() + 4, N - 4, V, Vp);
  expect_close(down(d_losses, size_t(N - 4)), Floats(want_losses.begin(), want_losses.end() - 4),
               "cross-entropy in place: losses");
  expect_close(down(d_inplace, size_t(N - 4) * Vp),
               Floats(want_probs.begin(), want_probs.begin() + long(N - 4) * Vp),
               "cross-entropy in place: softmax");

  const size_t n = 5000;
  Floats p = random(n), g = random(n), m(n), v(n);
  auto d_p = up(p), d_g = up(g), d_m = up(m), d_v = up(v);
  Backend::AdamWArgs a{1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 0.1f, 0.05f};
  for (int step = 0; step < 3; ++step) {
    a.grad_scale = step == 2 ? 0.37f : 1.0f;  // clipping's factor, as the update reads g
    cpu.adamw_update(p.data(), g.data(), m.data(), v.data(), n, a);
    gpu->adamw_update(d_p.as<float>(), d_g.as<float>(), d_m.as<float>(), d_v.as<float>(), n, a);
  }
  expect_close(down(d_p, n), p, "adamw params");
  expect_close(down(d_v, n), v, "adamw second moment");
}

// AdamW over a step's segments in one launch: the same bits as one adamw_update a
// segment, with 16-byte accesses and without (one float off alignment), after the table
// changes (it is re-uploaded), and past the table's capacity (1100 segments: the
// per-segment route).
TEST_F(CudaOps, AdamWSegmentsGiveThePerTensorBits) {
  const Backend::AdamWArgs a{1e-2f, 0.9f, 0.95f, 1e-8f, 0.0f, 0.271f, 0.0975f, 0.6f};
  const std::vector<std::vector<Backend::AdamWSegment>> tables = {
      {{0, 0.1f}, {5, 0.0f}, {6, 0.1f}, {400, 0.0f}, {401, 0.1f}, {1000, 0.0f}},
      {{0, 0.0f}, {3, 0.1f}, {700, 0.0f}},
      [] {
        std::vector<Backend::AdamWSegment> many;
        for (size_t i = 0; i < 1100; ++i) many.push_back({2 * i, i % 2 ? 0.1f : 0.0f});
        return many;
      }()};
  for (const auto& segments : tables)
    for (const size_t offset : {size_t(0), size_t(1)}) {
      const size_t n = segments.size() > 100 ? 2203 : 1003;
      SCOPED_TRACE(std::to_string(segments.size()) + " segments, offset " + std::to_string(offset));
      const Floats p = random(n + offset), g = random(n + offset), m = random(n + offset, 0.1f);
      Floats v = random(n + offset, 0.01f);
      for (auto& x : v) x = std::abs(x);
      DeviceBuffer d_p[2] = {up(p), up(p)}, d_m[2] = {up(m), up(m)}, d_v[2] = {up(v), up(v)};
      auto d_g = up(g);
      auto at = [&](DeviceBuffer& b) { return b.as<float>() + offset; };
      gpu->adamw_update_segments(at(d_p[0]), at(d_g), at(d_m[0]), at(d_v[0]), n, a, segments);
      gpu->Backend::adamw_update_segments(at(d_p[1]), at(d_g), at(d_m[1]), at(d_v[1]), n, a,
                                          segments);
      EXPECT_EQ(down(d_p[0], n + offset), down(d_p[1], n + offset)) << "parameters";
      EXPECT_EQ(down(d_m[0], n + offset), down(d_m[1], n + offset)) << "first moments";
      EXPECT_EQ(down(d_v[0], n + offset), down(d_v[1], n + offset)) << "second moments";
    }
}

}  // namespace
}  // namespace cohort
