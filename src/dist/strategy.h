// Data-parallel strategies: what happens to gradients and parameters between one
// step's backward and the next step's forward (design.md, "One training step").
//   AllReduceStrategy  every rank keeps everything; gradients are all-reduced in
//                      buckets that start while backward is still running (PyTorch DDP).
//   ZeroStrategy       ZeRO stage 1: gradients reduce-scattered, each rank updates its
//                      contiguous shard with its own optimizer state, parameters
//                      all-gathered.
//   PsWorkerStrategy   a parameter server's worker: gradients pushed to the server
//                      ranks, which own parameters and optimizer state; parameters
//                      pulled back (synchronous, or asynchronous with bounded staleness).
// All average gradients over ranks, so N ranks x batch B/N follow 1 rank x batch B
// (the asynchronous parameter server excepted: it applies each rank's gradient alone).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/parameter_buffers.h"
#include "dist/communicator.h"
#include "optim/optimizer.h"

namespace cohort {

struct StrategyConfig {
  std::string name = "allreduce";  // allreduce | zero1 | zero2 | fsdp | ps
  float bucket_mb = 25.0f;         // all-reduce bucket size (PyTorch DDP's default)
  std::string wire = "fp32";       // allreduce: gradients on the wire as fp32 | bf16
  int ps_servers = 0;              // ps: the last ps_servers ranks serve, the rest work
  int staleness = 0;               // ps: 0 synchronous; s > 0 asynchronous, s steps ahead at most
  float comm_timeout = 600.0f;     // seconds a collective may wait for a rank (0: no watchdog)
  // Ranks compare each collective before running it (CheckedCommunicator): a debugging aid.
  bool check_collectives = false;
};

struct UpdateResult {
  float grad_norm = 0.0f;  // before clipping
  bool applied = true;     // false: a skipped step
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string describe() const = 0;
  // The hook to pass to the last micro-batch's backward (empty: none).
  virtual ParameterBuffers::GradReadyFn grad_ready_hook() { return {}; }
  // Before the first step taken in this process (step > 0 after a resume): every
  // replica receives the same parameters.
  virtual void start(long step) = 0;
  // After the last backward of `step`: averages the gradients over the ranks, clips
  // them to max_norm by their global norm, applies the optimizer with lr. Afterwards
  // this rank holds the parameters for step + 1. The step is skipped (parameters and
  // optimizer state unchanged) when the global norm is not finite or `skip` is set
  // (`skip` must agree across ranks for synchronous strategies).
  // grad_divisor: the loss scale of fp16 training; the gradients, once reduced, are
  // divided by it before the norm is taken (a power of two, so exactly).
  virtual UpdateResult update(long step, float max_norm, float lr, bool skip,
                              float grad_divisor = 1.0f) = 0;
  // This rank's optimizer; null where the rank keeps no optimizer state.
  virtual Optimizer* optimizer() = 0;
  // False where ranks step at their own pace: the loss a rank sees is then its own.
  virtual bool synchronous() const { return true; }
  // After the update: the gradients the next step accumulates into read as zeros.
  virtual void zero_gradients(ParameterBuffers& model) { model.zero_grad(); }
};

// The strategies whose ranks all run the same collectives each step.
class CollectiveStrategy : public Strategy {
 public:
  void start(long step) override;  // rank 0's parameters to every rank
  UpdateResult update(long step, float max_norm, float lr, bool skip,
                      float grad_divisor = 1.0f) override;
  // The parts of update(), separately for benchmarks.
  // grads become the mean over ranks, divided by grad_divisor (fp16's loss scale) in
  // the same pass; ZeRO-1's only in this rank's shard.
  virtual void finish_gradients(float grad_divisor = 1.0f) = 0;
  virtual float gradient_norm() = 0;  // the global L2 norm of the finished gradients
  // Every rank ends with the same params. grad_scale: clipping's factor, applied by the
  // optimizer as it reads each gradient (no pass of its own over them).
  virtual void optimizer_step(float lr, float grad_scale = 1.0f) = 0;

 protected:
  CollectiveStrategy(Communicator& comm, ParameterBuffers& model) : comm_(comm), model_(model) {}
  Communicator& comm_;
  ParameterBuffers& model_;
};

// Gradient buckets: unions of consecutive backward units (grad_ready_ranges(): for the GPT
// ln_f, the top layer, ..., the embeddings), each at least bucket_floats, contiguous in the
// flat buffer; a bucket's exchange may start as soon as backward reports its last unit.
struct GradientBucket {
  size_t begin, end;  // flat range
  size_t last_unit;   // index into grad_ready_ranges() that completes it
};
std::vector<GradientBucket> gradient_buckets(const ParameterBuffers& model, float bucket_mb);

// ZeRO's stage of a strategy name: zero1 1, zero2 2, fsdp 3, any other 0.
int zero_stage(const std::string& strategy);

// Throws cohort::Error naming `where` and the key for a setting that cannot work.
void validate_strategy_config(const StrategyConfig& config, const std::string& where);

// comm: every rank of the job (a parameter server's workers and servers alike).
// Throws cohort::Error for an unknown name or bad settings.
std::unique_ptr<Strategy> make_strategy(const StrategyConfig& config, Communicator& comm,
                                        ParameterBuffers& model, const OptimizerConfig& optim);

}  // namespace cohort
