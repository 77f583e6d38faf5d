// cohort's GPT-2 training step timed like bench/gpu/gpt2_torch.py times PyTorch's: the
// step cohort train runs (Trainer::step: forward, backward, the strategy's exchange,
// global-norm clip 1.0, AdamW lr 6e-4, betas 0.9/0.95, wd 0.1) on random tokens; best
// and median of --steps after 3 warm-up steps; tokens/s and MFU
// against --peak-tflops with flops/token = 6 N + 12 L C T (N without the position table).
// fp16 runs through the dynamic loss scaler. --backend cpu with a small model is the
// smoke test CI runs (tests: bench_gpt2_smoke); scripts/gpu-check.sh runs the real one.
//
//   gpt2_cohort_bench --backend cuda --precision bf16 --batch 16 --seq 1024 --steps 10
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_flash_attention_tc.h"
#include "core/error.h"
#include "core/philox.h"
#include "data/batch_source.h"
#include "dist/communicator.h"
#include "dist/strategy.h"
#include "gradient_agreement.h"
#include "model/gpt.h"
#include "optim/loss_scaler.h"
#include "optim/lr_schedule.h"
#include "train/trainer.h"
#ifdef COHORT_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace cohort {
namespace {

struct Args {
  std::string backend = "cuda", precision = "bf16";
  int batch = 16, seq = 1024, steps = 10, layers = 12, heads = 12, embd = 768, vocab = 50257;
  double peak_tflops = 989.0;
  bool gelu_epilogues = true;
  std::string attention_forward = "128";
  bool split_attention_dkv = true;
  bool gradients_16_bit = true;
  bool branches_16_bit = true;
  bool measured_lt_algorithms = false;
  bool bias_gradient_epilogues = false;
  bool cudnn_attention_backward = false;
  int cudnn_backward_samples = 0;  // 0: the whole batch a call
  bool compare_fp32 = false;
  bool shared_lm_loss_rows = true;
};

const char* kUsage =
    "usage: gpt2_cohort_bench [--backend cuda|cpu] [--precision fp32|bf16|fp16] [--batch B]\n"
    "         [--seq T] [--steps N] [--layers L] [--heads NH] [--embd C] [--vocab V]\n"
    "         [--peak-tflops P] [--gelu-epilogues on|off]\n"
    "         [--attention-forward 128|64|pipelined|pipelined-poly|cudnn]\n"
    "         [--attention-backward kernels|cudnn] [--cudnn-backward-samples N]\n"
    "         [--attention-dkv-parts 2|1]\n"
    "         [--gradients-16-bit on|off] [--branches-16-bit on|off]\n"
    "         [--lm-loss-rows registers|shared] [--lt-algorithms heuristic|measured]\n"
    "         [--bias-gradients kernel|epilogue] [--compare-fp32 on|off]\n"
    "Defaults: cuda, bf16, GPT-2 124M (L=12, NH=12, C=768, V=50257), B=16, T=1024, 10 steps,\n"
    "peak 989 TFLOP/s (H100/H200 SXM dense bf16). --precision applies to the CUDA matmuls;\n"
    "--gelu-epilogues off runs the 16-bit MLP's GELU kernels instead of cuBLASLt's epilogues;\n"
    "--attention-forward 64 the tensor-core attention's forward with 64 query rows a block\n"
    "instead of 128, pipelined with 64 and each key tile's scores computed beside the last\n"
    "tile's softmax, pipelined-poly that with a quarter of the exponentials by a polynomial\n"
    "on the FMA pipe, cudnn cuDNN's fused attention (cuda_cudnn_attention.h; libcudnn.so.9\n"
    "on LD_LIBRARY_PATH); --attention-backward cudnn takes cuDNN's deterministic fused\n"
    "backward instead of the kernels, --cudnn-backward-samples N that backward N samples a\n"
    "call (its dP workspace in L2: CudnnAttention::use_backward_samples); --attention-dkv-parts\n"
    "1 the kernels' dK/dV on whole query tiles;\n"
    "--gradients-16-bit off keeps the LayerNorms' input and output gradients in fp32 only\n"
    "(Backend::pass_gradient, hold_gradient); --branches-16-bit off keeps the residual branches'\n"
    "outputs in fp32 (Backend::pass_branch); --lm-loss-rows registers keeps the fused LM-head\n"
    "loss's rows in registers instead of shared memory; --lt-algorithms measured gives each\n"
    "16-bit GEMM the fastest of its default route and cuBLASLt's candidates that has the\n"
    "default's bits (CudaTuning::measured_lt_algorithms); --bias-gradients epilogue sums\n"
    "the qkv and MLP-input projections' bias gradients in their weight-gradient products'\n"
    "cuBLASLt BGRADA epilogue instead of a column-sum kernel\n"
    "(CudaTuning::bias_gradient_epilogues). --compare-fp32 on first prints how far the\n"
    "first step's gradients are from an fp32 run's on the same weights and batch (relative L2).\n";

double positive_real(const std::string& k, const std::string& v) {
  double x = 0;
  try {
    size_t used = 0;
    x = std::stod(v, &used);
    if (used != v.size() || !(x > 0) || !std::isfinite(x)) throw std::invalid_argument(v);
  } catch (const std::exception&) {
    throw Error(fmt::format("{} {}: expected a positive number", k, v));
  }
  return x;
}

// --attention-forward's values and the kernels they name (cuda_flash_attention_tc.h, a
// host header: the options parse in a build without CUDA too).
constexpr std::pair<const char*, cuda::AttentionForward> kForwardKernels[] = {
    {"128", cuda::AttentionForward::rows128},
    {"64", cuda::AttentionForward::rows64},
    {"pipelined", cuda::AttentionForward::pipelined},
    {"pipelined-poly", cuda::AttentionForward::pipelined_poly},
    {"cudnn", cuda::AttentionForward::cudnn}};

const cuda::AttentionForward* forward_kernel_named(const std::string& v) {
  for (const auto& [name, kernel] : kForwardKernels)
    if (v == name) return &kernel;
  return nullptr;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) throw Error(fmt::format("{} needs a value\n{}", k, kUsage));
    const std::string v = argv[++i];
    auto num = [&](int& out) {
      try {
        size_t used = 0;
        out = std::stoi(v, &used);
        if (used != v.size() || out <= 0) throw std::invalid_argument(v);
      } catch (const std::exception&) {
        throw Error(fmt::format("{} {}: expected a positive integer", k, v));
      }
    };
    // A two-way switch: true for its first value, false for its second.
    auto choice = [&](const char* first, const char* second) {
      if (v != first && v != second)
        throw Error(fmt::format("{} {}: expected {} or {}", k, v, first, second));
      return v == first;
    };
    if (k == "--backend")
      a.backend = v;
    else if (k == "--precision")
      a.precision = v;
    else if (k == "--batch")
      num(a.batch);
    else if (k == "--seq")
      num(a.seq);
    else if (k == "--steps")
      num(a.steps);
    else if (k == "--layers")
      num(a.layers);
    else if (k == "--heads")
      num(a.heads);
    else if (k == "--embd")
      num(a.embd);
    else if (k == "--vocab")
      num(a.vocab);
    else if (k == "--peak-tflops")
      a.peak_tflops = positive_real(k, v);
    else if (k == "--gelu-epilogues")
      a.gelu_epilogues = choice("on", "off");
    else if (k == "--attention-forward")
      if (forward_kernel_named(v))
        a.attention_forward = v;
      else
        throw Error(
            fmt::format("{} {}: expected 128, 64, pipelined, pipelined-poly or cudnn", k, v));
    else if (k == "--attention-backward")
      a.cudnn_attention_backward = choice("cudnn", "kernels");
    else if (k == "--cudnn-backward-samples")
      num(a.cudnn_backward_samples);
    else if (k == "--attention-dkv-parts")
      a.split_attention_dkv = choice("2", "1");
    else if (k == "--gradients-16-bit")
      a.gradients_16_bit = choice("on", "off");
    else if (k == "--branches-16-bit")
      a.branches_16_bit = choice("on", "off");
    else if (k == "--lt-algorithms")
      a.measured_lt_algorithms = choice("measured", "heuristic");
    else if (k == "--bias-gradients")
      a.bias_gradient_epilogues = choice("epilogue", "kernel");
    else if (k == "--lm-loss-rows")
      a.shared_lm_loss_rows = choice("shared", "registers");
    else if (k == "--compare-fp32")
      a.compare_fp32 = choice("on", "off");
    else
      throw Error(fmt::format("unknown option {}\n{}", k, kUsage));
  }
  return a;
}

std::unique_ptr<Backend> make_backend(const Args& a) {
  if (a.backend == "cpu") {
    if (a.precision != "fp32")
      throw Error(fmt::format("--precision {}: the CPU backend computes in fp32", a.precision));
    return std::make_unique<CpuBackend>();
  }
  if (a.backend == "cuda") {
#ifdef COHORT_HAVE_CUDA
    auto cuda = std::make_unique<CudaBackend>(parse_matmul_precision(a.precision));
    cuda->tuning().gelu_epilogues = a.gelu_epilogues;
    cuda->tuning().attention_forward = *forward_kernel_named(a.attention_forward);
    cuda->tuning().split_attention_dkv = a.split_attention_dkv;
    cuda->tuning().cudnn_attention_backward = a.cudnn_attention_backward;
    cuda->tuning().cudnn_backward_samples = a.cudnn_backward_samples;
    cuda->tuning().gradients_16_bit = a.gradients_16_bit;
    cuda->tuning().branches_16_bit = a.branches_16_bit;
    cuda->tuning().measured_lt_algorithms = a.measured_lt_algorithms;
    cuda->tuning().bias_gradient_epilogues = a.bias_gradient_epilogues;
    cuda->tuning().shared_lm_loss_rows = a.shared_lm_loss_rows;
    return cuda;
#else
    throw Error("--backend cuda: this build has no CUDA backend (configure with COHORT_CUDA=ON)");
#endif
  }
  throw Error(fmt::format("--backend {}: expected cuda or cpu", a.backend));
}

// The first step's loss and gradients against an fp32 model's on the same weights and
// batch (built, run and freed first, so the two never hold device memory together).
void compare_with_fp32(const Args& a, const ModelConfig& mc, Gpt& model,
                       const std::vector<int32_t>& tokens, const std::vector<int32_t>& targets,
                       float loss_scale) {
  const size_t n = model.num_params();
  std::vector<float> want(n), got(n);
  float want_loss = 0;
  {
    Args fp32 = a;
    fp32.precision = "fp32";
    std::unique_ptr<Backend> backend = make_backend(fp32);
    Gpt reference(mc, *backend);
    reference.init_weights(0);
    reference.plan(a.batch, a.seq, /*keep_logits=*/false);
    want_loss = reference.forward(tokens.data(), targets.data(), a.batch, a.seq, ForwardOptions{});
    reference.backward(1.0f);
    backend->memory().copy_to_host(want.data(), reference.grads(), n * sizeof(float));
  }
  const float loss = model.forward(tokens.data(), targets.data(), a.batch, a.seq, ForwardOptions{});
  model.backward(loss_scale);
  model.backend().memory().copy_to_host(got.data(), model.grads(), n * sizeof(float));
  for (float& g : got) g /= loss_scale;
  model.zero_grad();
  fmt::print("gradients vs fp32 ({} {}, same weights and batch): loss {:.6f} vs {:.6f}; {}\n",
             a.backend, a.precision, loss, want_loss,
             gradient_agreement(model.layout(), got, want));
}

// The peer's batch: fixed random tokens, the same every step.
class FixedTokens : public BatchSource {
 public:
  FixedTokens(int vocab, size_t n) : vocab_(vocab), tokens_(n), targets_(n) {
    for (size_t i = 0; i < n; ++i) {
      const PhiloxCounter r = philox4x32({uint32_t(i), uint32_t(i >> 32), 0, 0}, {1, 2});
      tokens_[i] = int32_t(r[0] % uint32_t(vocab));
      targets_[i] = int32_t(r[1] % uint32_t(vocab));
    }
  }
  void fill(long, int, int B, int T, int32_t* inputs, int32_t* targets) override {
    std::copy_n(tokens_.begin(), size_t(B) * T, inputs);
    std::copy_n(targets_.begin(), size_t(B) * T, targets);
  }
  int vocab_size() const override { return vocab_; }
  std::string describe() const override { return "fixed random tokens"; }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  const std::vector<int32_t>& targets() const { return targets_; }

 private:
  int vocab_;
  std::vector<int32_t> tokens_, targets_;
};

int run(const Args& a) {
  std::unique_ptr<Backend> backend = make_backend(a);
  ModelConfig mc;
  mc.vocab_size = a.vocab;
  mc.context_length = a.seq;
  mc.n_layer = a.layers;
  mc.n_head = a.heads;
  mc.n_embd = a.embd;
  Gpt model(mc, *backend);
  model.init_weights(0);
  const bool fp16 = a.precision == "fp16";
  DynamicLossScaler scaler;
  const size_t BT = size_t(a.batch) * a.seq;
  FixedTokens data(a.vocab, BT);
  // The step cohort train runs: Trainer::step with the all-reduce strategy (one rank: its
  // exchange is a no-op), clipping at 1.0 and AdamW (betas 0.9 / 0.95, eps 1e-8, weight
  // decay 0.1, as the peer), fp16 through the dynamic loss scaler.
  TrainConfig tc;
  tc.batch_size = a.batch;
  tc.seq_len = a.seq;
  tc.grad_accum = 1;
  tc.grad_clip = 1.0f;
  SoloCommunicator comm;
  auto strategy = make_strategy(StrategyConfig{}, comm, model, OptimizerConfig{});
  LmMicroBatches batches(model, data, a.batch, a.seq);  // plans as the trainer does
  Trainer trainer(model, batches, *strategy, comm, tc, LrSchedule{6e-4f, 6e-4f, 0, 1});
  if (fp16) trainer.set_loss_scaler(&scaler);
  strategy->start(0);

  if (a.compare_fp32)
    compare_with_fp32(a, mc, model, data.tokens(), data.targets(), fp16 ? scaler.scale() : 1.0f);
  auto sync = [&] {  // a copy back waits for every op issued before it
    float probe;
    backend->memory().copy_to_host(&probe, model.params(), sizeof probe);
  };
  float first_loss = 0, last_loss = 0;
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < 3; ++i) {
    last_loss = trainer.step().loss;
    sync();
    if (i == 0) first_loss = last_loss;
  }
  std::vector<double> times;
  for (int i = 0; i < a.steps; ++i) {
    const auto t0 = clock::now();
    last_loss = trainer.step().loss;
    sync();
    times.push_back(std::chrono::duration<double>(clock::now() - t0).count());
  }
  // Where a step's time goes: two more steps with the device drained before each part.
  double phase[3] = {1e30, 1e30, 1e30};
  trainer.set_device_sync(sync);
  for (int i = 0; i < 2; ++i) {
    const StepResult r = trainer.step();
    phase[0] = std::min(phase[0], r.forward_seconds);
    phase[1] = std::min(phase[1], r.backward_seconds);
    phase[2] = std::min(phase[2], r.seconds - r.forward_seconds - r.backward_seconds);
  }
  trainer.set_device_sync({});
  fmt::print(
      "phases (best of 2, ms): forward {:.1f}, backward {:.1f}, exchange+clip+adamw+zero {:.1f}\n",
      1e3 * phase[0], 1e3 * phase[1], 1e3 * phase[2]);
#ifdef COHORT_HAVE_CUDA
  if (const auto* cuda = dynamic_cast<const CudaBackend*>(backend.get());
      cuda && a.precision != "fp32")
    fmt::print(
        "MLP route: {}; attention: forward {}, backward {}, dK/dV {} part(s) a query "
        "tile; LayerNorm gradients {}; residual branches {}; LM-head loss rows in {}; 16-bit "
        "bias gradients by {}{}\n{}",
        cuda->mlp_route(), a.attention_forward, a.cudnn_attention_backward ? "cudnn" : "kernels",
        a.split_attention_dkv ? 2 : 1, a.gradients_16_bit ? "passed in 16 bits" : "fp32 only",
        a.branches_16_bit ? "passed in 16 bits" : "fp32",
        a.shared_lm_loss_rows ? "shared memory" : "registers", cuda->bias_gradient_route(),
        cuda->lt_notes().empty() ? "" : "; " + cuda->lt_notes(), cuda->cudnn_attention_notes());
#endif
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  const double n = double(model.num_params()) - double(mc.context_length) * mc.n_embd;
  const double flops_per_token = 6.0 * n + 12.0 * mc.n_layer * mc.n_embd * a.seq;
  const double tok_s = double(BT) / sorted.front();
  const double mfu = tok_s * flops_per_token / (a.peak_tflops * 1e12);
  fmt::print(
      "cohort {} {}: GPT L={} C={} ({:.1f}M params) B={} T={}: {:.0f} tok/s (best of {}; median "
      "{:.0f}), MFU {:.1f}% of {:.0f} TFLOP/s; loss {:.4f} -> {:.4f}; activations {:.2f} GiB{}\n",
      backend->name(), a.precision, mc.n_layer, mc.n_embd, model.num_params() / 1e6, a.batch, a.seq,
      tok_s, a.steps, double(BT) / sorted[sorted.size() / 2], 100 * mfu, a.peak_tflops, first_loss,
      last_loss, double(model.activation_bytes()) / (1 << 30),
      fp16 ? fmt::format("; loss scale {}, {} skipped", scaler.scale(), scaler.skipped_steps())
           : "");
  fmt::print(
      "RESULT {{\"tokens_per_s\": {:.1f}, \"mfu\": {:.5f}, \"precision\": \"{}\", "
      "\"backend\": \"{}\"}}\n",
      tok_s, mfu, a.precision, backend->name());
  return std::isfinite(last_loss) ? 0 : 1;
}

}  // namespace
}  // namespace cohort

int main(int argc, char** argv) {
  try {
    return cohort::run(cohort::parse(argc, argv));
  } catch (const cohort::Error& e) {
    std::fprintf(stderr, "gpt2_cohort_bench: %s\n", e.what());
    return 2;
  }
}
