// The CUDA MLP pair in bf16 and fp16 (src/backend/cuda/cuda_mlp.cu), by each of its
// routes: the GELU kernels against the separate ops, and cuBLASLt's GELU epilogues stage
// by stage against an exact host computation. Skipped, with a message, without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_memory.h"
#include "cuda_test_values.h"
#include "normwise_error.h"

namespace cohort {
namespace {

using cuda::DeviceBuffer;
using cuda_test::expect_close;
using cuda_test::Floats;

constexpr int N = 34;  // rows (B x T)

class CudaMlp : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device: the CUDA MLP tests need a GPU";
  }
  Floats random(size_t n, float scale = 1.0f) { return cuda_test::random_floats(rng, n, scale); }
  // n values drawn from {-2, ..., 2} times step.
  Floats steps(size_t n, float step) {
    std::uniform_int_distribution<int> small(-2, 2);
    Floats v(n);
    for (auto& x : v) x = float(small(rng)) * step;
    return v;
  }
  template <typename T>
  DeviceBuffer up(const std::vector<T>& v) {
    return cuda::upload(v);
  }
  Floats down(const DeviceBuffer& b, size_t n) { return cuda::download<float>(b, n); }
  // An MLP of 512 rows, C = 256, H = 1024 on the device (weights small enough that bf16
  // sums stay far from overflow): the inputs of the tests that compare two routes of it.
  struct WideMlp {
    static constexpr int M = 512, C = 256, H = 1024;
    size_t w_fc_size, w_proj_size;
    DeviceBuffer inp, w_fc, b_fc, w_proj, b_proj, dout;
  };
  WideMlp wide_mlp() {
    constexpr int M = WideMlp::M, C = WideMlp::C, H = WideMlp::H;
    const Floats inp = random(size_t(M) * C), w_fc = random(size_t(C) * H, 0.05f), b_fc = random(H),
                 w_proj = random(size_t(H) * C, 0.05f), b_proj = random(C),
                 dout = random(size_t(M) * C);
    return {w_fc.size(), w_proj.size(), up(inp),    up(w_fc),
            up(b_fc),    up(w_proj),    up(b_proj), up(dout)};
  }
  std::mt19937 rng{97};
};

const MatmulPrecision kSixteenBit[] = {MatmulPrecision::bf16, MatmulPrecision::fp16};

// The GELU kernels' route against the separate ops on the same backend, whose GEMMs round
// the same fp32 values once: out, dinp and the weight gradients agree to the fp32 sums'
// 1e-5 + 1e-4 |want|; the fc bias gradient sums the 16-bit gradient instead of the fp32
// one, so each column agrees to its terms' 16-bit rounding: half an ulp (2^-9 of a term in
// bf16, 2^-12 in fp16) times the sum of the terms' magnitudes, doubled for the fp32 sums.
TEST_F(CudaMlp, GeluKernelsMatchTheSeparateOps) {
  constexpr int C = 40, H = 4 * C;
  for (const auto precision : kSixteenBit) {
    CudaBackend half(precision);
    half.tuning().gelu_epilogues = false;
    Floats inp = random(size_t(N) * C), w_fc = random(size_t(C) * H, 0.3f), b_fc = random(H),
           w_proj = random(size_t(H) * C, 0.2f), b_proj = random(C), dout = random(size_t(N) * C);
    auto d_inp = up(inp), d_wfc = up(w_fc), d_bfc = up(b_fc), d_wproj = up(w_proj),
         d_bproj = up(b_proj), d_dout = up(dout);
    Floats results[2][6];  // [pair, separate ops][out, dinp, dw_fc, db_fc, dw_proj, db_proj]
    Floats dpre;           // the separate ops' fp32 gradient of the pre-activation
    for (int separate = 0; separate < 2; ++separate) {
      auto d_out = up(Floats(size_t(N) * C)), d_hidden = up(Floats(size_t(N) * 2 * H + 4)),
           d_dhidden = up(Floats(size_t(N) * H + 1)), d_dinp = up(Floats(size_t(N) * C)),
           d_dwfc = up(Floats(w_fc.size(), 0.5f)), d_dbfc = up(Floats(H, 0.5f)),
           d_dwproj = up(Floats(w_proj.size(), 0.5f)), d_dbproj = up(Floats(C, 0.5f));
      // 16 bytes in: the GELU output's 16-bit copy is then 16-byte (not 256-byte) aligned,
      // as an activation plan may place it, and cuBLASLt must be told (cuda_lt_matmul.cu).
      float* hidden = d_hidden.as<float>() + 4;
      // dhidden 4 bytes in: a gradient buffer need not be 16-byte aligned.
      float* dhidden = d_dhidden.as<float>() + 1;
      if (separate) {
        half.Backend::mlp_forward(d_out.as<float>(), hidden, d_inp.as<float>(), d_wfc.as<float>(),
                                  d_bfc.as<float>(), d_wproj.as<float>(), d_bproj.as<float>(), N, C,
                                  H);
        half.Backend::mlp_backward(d_dinp.as<float>(), d_dwfc.as<float>(), d_dbfc.as<float>(),
                                   d_dwproj.as<float>(), d_dbproj.as<float>(), d_dout.as<float>(),
                                   d_inp.as<float>(), hidden, d_wfc.as<float>(),
                                   d_wproj.as<float>(), dhidden, N, C, H);
      } else {
        half.mlp_forward(d_out.as<float>(), hidden, d_inp.as<float>(), d_wfc.as<float>(),
                         d_bfc.as<float>(), d_wproj.as<float>(), d_bproj.as<float>(), N, C, H);
        half.mlp_backward(d_dinp.as<float>(), d_dwfc.as<float>(), d_dbfc.as<float>(),
                          d_dwproj.as<float>(), d_dbproj.as<float>(), d_dout.as<float>(),
                          d_inp.as<float>(), hidden, d_wfc.as<float>(), d_wproj.as<float>(),
                          dhidden, N, C, H);
        EXPECT_EQ(half.mlp_route(), "forward: GELU kernel; backward: GELU gradient kernel");
      }
      Floats* r = results[separate];
      r[0] = down(d_out, size_t(N) * C);
      r[1] = down(d_dinp, size_t(N) * C);
      r[2] = down(d_dwfc, w_fc.size());
      r[3] = down(d_dbfc, H);
      r[4] = down(d_dwproj, w_proj.size());
      r[5] = down(d_dbproj, C);
      if (separate) {
        dpre.resize(size_t(N) * H);
        half.memory().copy_to_host(dpre.data(), dhidden, dpre.size() * sizeof(float));
      }
    }
    const char* names[6] = {"out", "dinp", "dw_fc", "db_fc", "dw_proj", "db_proj"};
    for (int k : {0, 1, 2, 4, 5}) expect_close(results[0][k], results[1][k], names[k]);
    const double half_ulp = precision == MatmulPrecision::bf16 ? 0x1p-9 : 0x1p-12;
    for (int i = 0; i < H; ++i) {
      double magnitude = 0;
      for (int n = 0; n < N; ++n) magnitude += std::abs(dpre[size_t(n) * H + i]);
      ASSERT_NEAR(results[0][3][i], results[1][3][i], 2 * half_ulp * magnitude + 1e-5)
          << "db_fc " << i;
    }
  }
}

double gelu(double x) {
  return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}
double gelu_grad(double x) {
  const double th = std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * 0.7978845608028654 * (1 + 3 * 0.044715 * x * x);
}

// The route through cuBLASLt's epilogues (where this cuBLASLt offers them; else the GELU
// kernels, and the test says which it ran), stage by stage. The inputs make every sum
// exact: inp and dout in {0, +-1/2, +-1}, the weights in {0, +-1/4, +-1/2}, b_fc in
// multiples of 1/8, C = 16; so each pre-activation is a multiple of 1/8 of magnitude at
// most 9 (exact in bf16 and fp16, kept or not), and each dact (the GELU output's
// gradient) a multiple of 1/8, exact in the fp32 accumulator. Then:
// - the kept pre-activation equals its exact value;
// - each GELU output (16-bit) is within one 16-bit ulp of GPT-2's tanh GELU of it, plus
//   what an error of 2^-10 in the tanh gives (twice a fast hardware tanh's 2^-11, in case
//   cuBLASLt uses one): 0.5 |pre| 2^-10, under one bf16 ulp of an output above 1/4;
// - each stored gradient is within one ulp of gelu'(pre) dact, plus what that tanh error
//   gives: |d gelu' / d tanh| 2^-10 |dact|, with |d gelu' / d tanh| at most
//   0.5 + |x| sqrt(2/pi) (1 + 3 0.044715 x^2);
// - out, dinp and the weight and bias gradients are the fp32 sums of those stored 16-bit
//   values (read back from the GPU) to 1e-5 + 1e-4 |want|;
// - a second forward and backward give the same bits.
// The backward runs by the DGELU epilogue, and again by the kernel reading the 16-bit
// pre-activation (epilogues turned off between the forward and the backward).
TEST_F(CudaMlp, GeluEpiloguesComputeTheTanhGeluOfTheSixteenBitSum) {
  constexpr int C = 16, H = 64;
  const size_t n = size_t(N) * H;
  const Floats inp = steps(size_t(N) * C, 0.5f), w_fc = steps(size_t(C) * H, 0.25f),
               w_proj = steps(size_t(H) * C, 0.25f), dout = steps(size_t(N) * C, 0.5f),
               b_proj = random(C);
  Floats b_fc(H);
  for (auto& b : b_fc) b = float(int(rng() % 17) - 8) / 8.0f;
  for (const auto precision : kSixteenBit) {
    const bool bf16 = precision == MatmulPrecision::bf16;
    const double ulp = bf16 ? 0x1p-8 : 0x1p-11;  // of a value in [1, 2): bounds the rounding
    for (const bool dgelu_epilogue : {true, false}) {
      SCOPED_TRACE(std::string(bf16 ? "bf16" : "fp16") +
                   (dgelu_epilogue ? ", DGELU epilogue" : ", gradient kernel"));
      CudaBackend half(precision);
      auto d_inp = up(inp), d_wfc = up(w_fc), d_bfc = up(b_fc), d_wproj = up(w_proj),
           d_bproj = up(b_proj), d_dout = up(dout), d_out = up(Floats(size_t(N) * C)),
           d_hidden = up(Floats(2 * n)), d_dhidden = up(Floats(n)),
           d_dinp = up(Floats(size_t(N) * C)), d_dwfc = up(Floats(w_fc.size(), 0.5f)),
           d_dbfc = up(Floats(H, 0.5f)), d_dwproj = up(Floats(w_proj.size(), 0.5f)),
           d_dbproj = up(Floats(C, 0.5f));
      float* hidden = d_hidden.as<float>();
      auto step = [&] {
        half.tuning().gelu_epilogues = true;
        half.mlp_forward(d_out.as<float>(), hidden, d_inp.as<float>(), d_wfc.as<float>(),
                         d_bfc.as<float>(), d_wproj.as<float>(), d_bproj.as<float>(), N, C, H);
        half.tuning().gelu_epilogues = dgelu_epilogue;
        half.mlp_backward(d_dinp.as<float>(), d_dwfc.as<float>(), d_dbfc.as<float>(),
                          d_dwproj.as<float>(), d_dbproj.as<float>(), d_dout.as<float>(),
                          d_inp.as<float>(), hidden, d_wfc.as<float>(), d_wproj.as<float>(),
                          d_dhidden.as<float>(), N, C, H);
      };
      step();
      const std::string route = half.mlp_route();
      std::printf("[ route    ] %s, %s: %s%s%s\n", bf16 ? "bf16" : "fp16",
                  dgelu_epilogue ? "epilogues on" : "epilogues off for the backward", route.c_str(),
                  half.lt_notes().empty() ? "" : "; ", half.lt_notes().c_str());
      const bool kept16 = route.rfind("forward: cuBLASLt", 0) == 0;
      const auto raw = cuda::download<uint16_t>(d_hidden, 4 * n);  // hidden as 16-bit words
      const auto raw32 = down(d_hidden, n);
      auto word = [&](size_t i) { return double(cuda_test::bits16_to_float(bf16, raw[i])); };
      Floats act(n), dpre(n);
      for (int r = 0; r < N; ++r)
        for (int j = 0; j < H; ++j) {
          const size_t i = size_t(r) * H + j;
          double pre = b_fc[j], dact = 0;
          for (int c = 0; c < C; ++c)
            pre += double(inp[size_t(r) * C + c]) * w_fc[size_t(c) * H + j];
          for (int c = 0; c < C; ++c)
            dact += double(dout[size_t(r) * C + c]) * w_proj[size_t(j) * C + c];
          ASSERT_EQ(kept16 ? word(i) : double(raw32[i]), pre) << "pre-activation " << i;
          act[i] = float(word(2 * n + i));
          dpre[i] = float(word(3 * n + i));
          const double g = gelu(pre), dg = gelu_grad(pre) * dact;
          const double by_tanh =
              0.5 + std::abs(pre) * 0.7978845608028654 * (1 + 3 * 0.044715 * pre * pre);
          ASSERT_NEAR(act[i], g, ulp * std::abs(g) + 0x1p-11 * std::abs(pre) + 0x1p-24)
              << "GELU of " << pre;
          ASSERT_NEAR(dpre[i], dg,
                      ulp * std::abs(dg) + 0x1p-10 * by_tanh * std::abs(dact) + 0x1p-24)
              << "GELU gradient at " << pre << ", dact " << dact;
        }
      Floats out(size_t(N) * C), dinp(size_t(N) * C), dw_fc(w_fc.size(), 0.5f), db_fc(H, 0.5f),
          dw_proj(w_proj.size(), 0.5f), db_proj(C, 0.5f);
      for (int r = 0; r < N; ++r)
        for (int c = 0; c < C; ++c) {
          double o = b_proj[c], d = 0;
          for (int j = 0; j < H; ++j) {
            o += double(act[size_t(r) * H + j]) * w_proj[size_t(j) * C + c];
            d += double(dpre[size_t(r) * H + j]) * w_fc[size_t(c) * H + j];
          }
          out[size_t(r) * C + c] = float(o);
          dinp[size_t(r) * C + c] = float(d);
        }
      for (int j = 0; j < H; ++j) {
        double bsum = 0;
        for (int r = 0; r < N; ++r) bsum += dpre[size_t(r) * H + j];
        db_fc[j] += float(bsum);
        for (int c = 0; c < C; ++c) {
          double fc = 0, proj = 0;
          for (int r = 0; r < N; ++r) {
            fc += double(inp[size_t(r) * C + c]) * dpre[size_t(r) * H + j];
            proj += double(act[size_t(r) * H + j]) * dout[size_t(r) * C + c];
          }
          dw_fc[size_t(c) * H + j] += float(fc);
          dw_proj[size_t(j) * C + c] += float(proj);
        }
      }
      for (int c = 0; c < C; ++c) {
        double s = 0;
        for (int r = 0; r < N; ++r) s += dout[size_t(r) * C + c];
        db_proj[c] += float(s);
      }
      const Floats got_out = down(d_out, out.size()), got_dinp = down(d_dinp, dinp.size());
      expect_close(got_out, out, "out");
      expect_close(got_dinp, dinp, "dinp");
      expect_close(down(d_dwfc, dw_fc.size()), dw_fc, "dw_fc (accumulated)");
      expect_close(down(d_dbfc, H), db_fc, "db_fc (accumulated)");
      expect_close(down(d_dwproj, dw_proj.size()), dw_proj, "dw_proj (accumulated)");
      expect_close(down(d_dbproj, C), db_proj, "db_proj (accumulated)");

      step();
      EXPECT_EQ(cuda::download<uint16_t>(d_hidden, 4 * n), raw) << "a second step's hidden state";
      EXPECT_EQ(down(d_out, out.size()), got_out) << "a second step's out";
      EXPECT_EQ(down(d_dinp, dinp.size()), got_dinp) << "a second step's dinp";
    }
  }
}

// tuning().measured_lt_algorithms: each cuBLASLt product (the bias, GELU_AUX_BIAS and DGELU
// epilogues) takes the fastest of the heuristic's candidates that gives the first's bits
// on its operands, and each plain GEMM (the backward's, with beta = 1 for the weight
// gradients) the fastest of cublasGemmEx and the candidates that give cublasGemmEx's bits,
// so every output has the default route's bits; the notes say what the measurement found.
TEST_F(CudaMlp, MeasuredLtAlgorithmsGiveTheHeuristicsBits) {
  constexpr int M = WideMlp::M, C = WideMlp::C, H = WideMlp::H;
  const WideMlp mlp = wide_mlp();
  const DeviceBuffer &d_inp = mlp.inp, &d_wfc = mlp.w_fc, &d_bfc = mlp.b_fc, &d_wproj = mlp.w_proj,
                     &d_bproj = mlp.b_proj, &d_dout = mlp.dout;
  auto run = [&](bool measured) {
    CudaBackend half(MatmulPrecision::bf16);
    half.tuning().measured_lt_algorithms = measured;
    auto d_out = up(Floats(size_t(M) * C)), d_lin = up(Floats(size_t(M) * H)),
         d_hidden = up(Floats(size_t(2) * M * H)), d_dhidden = up(Floats(size_t(M) * H)),
         d_dinp = up(Floats(size_t(M) * C)), d_dwfc = up(Floats(mlp.w_fc_size)),
         d_dbfc = up(Floats(H)), d_dwproj = up(Floats(mlp.w_proj_size)), d_dbproj = up(Floats(C));
    half.linear_forward(d_lin.as<float>(), d_inp.as<float>(), d_wfc.as<float>(), d_bfc.as<float>(),
                        M, C, H);
    half.mlp_forward(d_out.as<float>(), d_hidden.as<float>(), d_inp.as<float>(), d_wfc.as<float>(),
                     d_bfc.as<float>(), d_wproj.as<float>(), d_bproj.as<float>(), M, C, H);
    half.mlp_backward(d_dinp.as<float>(), d_dwfc.as<float>(), d_dbfc.as<float>(),
                      d_dwproj.as<float>(), d_dbproj.as<float>(), d_dout.as<float>(),
                      d_inp.as<float>(), d_hidden.as<float>(), d_wfc.as<float>(),
                      d_wproj.as<float>(), d_dhidden.as<float>(), M, C, H);
    if (measured) std::printf("[ measured ] %s\n", half.lt_notes().c_str());
    return std::vector<Floats>{down(d_lin, size_t(M) * H),       down(d_out, size_t(M) * C),
                               down(d_dinp, size_t(M) * C),      down(d_dwfc, mlp.w_fc_size),
                               down(d_dbfc, size_t(H)),          down(d_dwproj, mlp.w_proj_size),
                               down(d_hidden, size_t(2) * M * H)};
  };
  const auto heuristic = run(false), measured = run(true);
  const char* names[] = {"linear", "mlp out", "dinp", "dw_fc", "db_fc", "dw_proj", "hidden"};
  for (size_t i = 0; i < heuristic.size(); ++i)
    EXPECT_TRUE(heuristic[i] == measured[i]) << names[i] << ": not the heuristic route's bits";
}

// tuning().bias_gradient_epilogues: the fc bias gradient (summed from the 16-bit gradient of the
// pre-activation) by the weight-gradient product's BGRADA epilogue instead of the column-sum
// kernel. Both sum the same 16-bit terms in fp32, in other orders, so db_fc and dw_fc agree
// normwise to fp32 sums of 512 terms (1e-5; a wrong operand or a sum that overwrites
// instead of adding is off by far more: the buffers start at 0.5); what the route does not
// touch keeps its bits; a second step gives the same bits.
TEST_F(CudaMlp, BiasGradientEpilogueSumsTheSixteenBitGradient) {
  constexpr int M = WideMlp::M, C = WideMlp::C, H = WideMlp::H;
  const WideMlp mlp = wide_mlp();
  const DeviceBuffer &d_inp = mlp.inp, &d_wfc = mlp.w_fc, &d_bfc = mlp.b_fc, &d_wproj = mlp.w_proj,
                     &d_bproj = mlp.b_proj, &d_dout = mlp.dout;
  for (const auto precision : kSixteenBit) {
    SCOPED_TRACE(precision == MatmulPrecision::bf16 ? "bf16" : "fp16");
    std::string route;
    auto run = [&](bool epilogue) {
      CudaBackend half(precision);
      half.tuning().bias_gradient_epilogues = epilogue;
      auto d_out = up(Floats(size_t(M) * C)), d_hidden = up(Floats(size_t(2) * M * H)),
           d_dhidden = up(Floats(size_t(M) * H)), d_dinp = up(Floats(size_t(M) * C)),
           d_dwfc = up(Floats(mlp.w_fc_size, 0.5f)), d_dbfc = up(Floats(H, 0.5f)),
           d_dwproj = up(Floats(mlp.w_proj_size, 0.5f)), d_dbproj = up(Floats(C, 0.5f));
      std::vector<Floats> steps;
      for (int step = 0; step < 2; ++step) {
        half.mlp_forward(d_out.as<float>(), d_hidden.as<float>(), d_inp.as<float>(),
                         d_wfc.as<float>(), d_bfc.as<float>(), d_wproj.as<float>(),
                         d_bproj.as<float>(), M, C, H);
        half.mlp_backward(d_dinp.as<float>(), d_dwfc.as<float>(), d_dbfc.as<float>(),
                          d_dwproj.as<float>(), d_dbproj.as<float>(), d_dout.as<float>(),
                          d_inp.as<float>(), d_hidden.as<float>(), d_wfc.as<float>(),
                          d_wproj.as<float>(), d_dhidden.as<float>(), M, C, H);
        for (const Floats& x :
             {down(d_dinp, size_t(M) * C), down(d_dwfc, mlp.w_fc_size), down(d_dbfc, size_t(H)),
              down(d_dwproj, mlp.w_proj_size), down(d_dbproj, size_t(C))})
          steps.push_back(x);
        d_dwfc = up(Floats(mlp.w_fc_size, 0.5f));
        d_dwproj = up(Floats(mlp.w_proj_size, 0.5f));
        d_dbfc = up(Floats(H, 0.5f));
        d_dbproj = up(Floats(C, 0.5f));
      }
      if (epilogue) route = std::string(half.bias_gradient_route()) + "; " + half.lt_notes();
      return steps;
    };
    const auto kernel = run(false), epilogue = run(true);
    std::printf("[ route    ] %s\n", route.c_str());
    if (route.rfind("cuBLASLt BGRADA epilogue", 0) != 0)
      GTEST_SKIP() << "this cuBLASLt offers no BGRADA product here: " << route;
    const char* names[] = {"dinp", "dw_fc", "db_fc", "dw_proj", "db_proj"};
    for (size_t i = 0; i < 5; ++i) {
      SCOPED_TRACE(names[i]);
      EXPECT_TRUE(epilogue[i + 5] == epilogue[i]) << "a second step's bits";
      if (i == 1 || i == 2)
        EXPECT_LT(
            testing::normwise_error(epilogue[i], kernel[i], 0, kernel[i].size(), kernel[i].size()),
            1e-5);
      else
        EXPECT_TRUE(epilogue[i] == kernel[i]) << "not the kernel route's bits";
    }
  }
}

}  // namespace
}  // namespace cohort
