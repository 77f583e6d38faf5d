#include "train/memory_plan.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <vector>

#include "backend/planning_backend.h"
#include "core/error.h"
#include "dist/strategy.h"
#include "model/model_layout.h"
#include "model/recompute.h"
#include "train/task.h"

namespace cohort {

namespace {

std::string mb(size_t bytes) { return fmt::format("{:.1f} MB", double(bytes) / 1e6); }

// What building and planning the task's model allocates with train.recompute = r; and,
// where asked, its largest gradient bucket in floats (gradient_buckets).
size_t model_bytes(const RunConfig& cfg, Recompute r, Backend& backend, RunData& data,
                   Communicator& comm, size_t* largest_bucket = nullptr) {
  RunConfig c = cfg;
  c.train.recompute = recompute_name(r);
  PlanningBackend planning(backend);
  {
    const std::unique_ptr<Task> task = make_task(c, planning, data, comm);
    if (largest_bucket) {
      *largest_bucket = 0;
      for (const GradientBucket& b : gradient_buckets(task->model(), cfg.dist.bucket_mb))
        *largest_bucket = std::max(*largest_bucket, b.end - b.begin);
    }
  }
  return planning.counted().peak_bytes();
}

size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * size_t(sysconf(_SC_PAGESIZE));
}

// A number from a one-line file, or 0 where it is missing or says "max".
size_t read_bytes(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  if (!(f >> s) || s == "max") return 0;
  try {
    return std::stoull(s);
  } catch (const std::exception&) {
    return 0;
  }
}

// This process's memory cgroup: the tightest limit on the way from its own group (from
// /proc/self/cgroup: v1's memory controller, or v2's unified group) up to the root, what
// that group holds already, and how many processes share it. limit 0: none.
struct CgroupRoom {
  size_t limit = 0, usage = 0, processes = 1;
};

CgroupRoom cgroup_room() {
  CgroupRoom room;
  std::ifstream self("/proc/self/cgroup");
  std::string line;
  while (std::getline(self, line)) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    std::string dir, limit_file, usage_file;
    if (controllers == "memory") {
      dir = "/sys/fs/cgroup/memory" + line.substr(b + 1);
      limit_file = "memory.limit_in_bytes";
      usage_file = "memory.usage_in_bytes";
    } else if (controllers.empty() && line.substr(0, a) == "0") {
      dir = "/sys/fs/cgroup" + line.substr(b + 1);
      limit_file = "memory.max";
      usage_file = "memory.current";
    } else {
      continue;
    }
    const std::string root = dir.substr(0, dir.size() - (line.size() - b - 1));
    for (std::string d = dir;; d = d.substr(0, d.rfind('/'))) {
      const size_t limit = read_bytes(d + "/" + limit_file);
      if (limit > 0 && limit < (size_t(1) << 60) && (room.limit == 0 || limit < room.limit)) {
        room.limit = limit;
        room.usage = read_bytes(d + "/" + usage_file);
        size_t procs = 0;
        std::ifstream list(d + "/cgroup.procs");
        for (std::string pid; list >> pid;) ++procs;
        room.processes = std::max<size_t>(1, procs);
      }
      if (d.size() <= root.size()) break;
    }
  }
  return room;
}

size_t mem_available() {
  std::ifstream f("/proc/meminfo");
  std::string key, unit;
  size_t kb = 0;
  while (f >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

}  // namespace

size_t MemoryPlan::host_total() const { return device ? process + comm : total(); }

size_t MemoryPlan::total() const {
  return params + grads + optimizer + activations + comm + process;
}

std::string MemoryPlan::summary() const {
  return fmt::format(
      "memory plan per rank ({} on {} rank{}, recompute {}): params {}, grads {}, {} {}, "
      "activations {} ({} with recompute {}), communication {}, process {}: {} total{}",
      strategy, world, world == 1 ? "" : "s", recompute, mb(params), mb(grads), optimizer_name,
      mb(optimizer), mb(activations), mb(other_activations), other_recompute, mb(comm), mb(process),
      mb(total()), device ? fmt::format(" ({} on the host)", mb(host_total())) : "");
}

std::string MemoryPlan::table() const {
  std::string s = fmt::format("memory plan per rank: {} on {} rank{}, train.recompute = {}{}\n",
                              strategy, world, world == 1 ? "" : "s", recompute,
                              device ? " (model buffers in device memory)" : "");
  auto row = [&](const std::string& what, size_t bytes, const std::string& note = "") {
    s += fmt::format("  {:<26} {:>12}{}\n", what, mb(bytes), note.empty() ? "" : "  " + note);
  };
  row("parameters", params);
  row("gradients", grads);
  row("optimizer (" + optimizer_name + ")", optimizer);
  row("activations", activations,
      fmt::format("({} with train.recompute = {})", mb(other_activations), other_recompute));
  row("communication buffers", comm);
  row("process (libraries, data)", process);
  row("total", total());
  return s;
}

MemoryPlan plan_memory(const RunConfig& cfg, Backend& backend, RunData& data, Communicator& comm,
                       int world) {
  MemoryPlan p;
  p.world = world;
  p.strategy = cfg.dist.name;
  const Recompute mine = parse_recompute(cfg.train.recompute, "train.recompute");
  const Recompute other = mine == Recompute::none ? Recompute::block : Recompute::none;
  p.recompute = recompute_name(mine);
  p.other_recompute = recompute_name(other);
  p.device = !backend.memory().is_host();
  if (!p.device) {
    // BLAS takes its per-thread work buffers at the first product: part of the process,
    // taken now so that they are counted with it.
    // (large enough that every thread takes part).
    const int n = 512;
    std::vector<float> a(size_t(n) * n, 1.0f), out(size_t(n) * n);
    backend.linear_forward(out.data(), a.data(), a.data(), nullptr, n, n, n);
  }
  p.process = resident_bytes();
  // The model's buffers: parameters and gradients (one arena each), then the plan.
  const ParameterLayout layout = model_layout(cfg.model);
  const size_t n = layout.total();
  p.params = p.grads = n * sizeof(float);
  size_t largest_bucket = 0;
  const size_t built = model_bytes(cfg, mine, backend, data, comm, &largest_bucket);
  p.activations = built - p.params - p.grads;
  p.other_activations = model_bytes(cfg, other, backend, data, comm) - p.params - p.grads;
  // The optimizer's state over this rank's shard.
  const bool ps_worker = cfg.dist.name == "ps";
  const int stage = zero_stage(cfg.dist.name);
  const size_t shard = stage > 0 ? (n + size_t(world) - 1) / size_t(world) : n;
  size_t embeddings = 0, largest_block = 0;
  std::map<std::string, size_t> blocks;  // "h.3", "enc.0": a block's unit
  for (const auto& t : layout.tensors()) {
    if (t.name == "wte.weight" || t.name == "wpe.weight") embeddings += t.numel;
    const size_t dot = t.name.find('.'), second = t.name.find('.', dot + 1);
    if (second != std::string::npos && std::isdigit(static_cast<unsigned char>(t.name[dot + 1])))
      largest_block = std::max(largest_block, blocks[t.name.substr(0, second)] += t.numel);
  }
  if (stage >= 2 && world > 1 && !p.device) {
    // Resident gradients: the shard, the buckets backward is writing and sending (two of
    // bucket_mb), and, on the ranks whose shard does not hold them, the tied embeddings'
    // (the LM head writes them as backward starts; the embedding finishes them last).
    const size_t in_flight = 2 * size_t(cfg.dist.bucket_mb * (1 << 20) / sizeof(float));
    p.grads = std::min(n, shard + in_flight + embeddings) * sizeof(float);
  }
  if (stage == 3 && world > 1 && !p.device) {
    // Resident parameters: the shard, the embeddings (gathered from the forward's start to
    // the backward's end), and three blocks: the one computing, the next (whose LayerNorm
    // ends this one) and the one being fetched.
    p.params = std::min(n, shard + embeddings + 3 * largest_block) * sizeof(float);
  }
  const bool adamw = cfg.optim.name == "adamw";
  const size_t per_param = adamw ? 2 : (cfg.optim.momentum > 0.0f ? 1 : 0);
  p.optimizer_name = adamw ? "AdamW" : (per_param ? "SGD momentum" : "SGD");
  p.optimizer = ps_worker ? 0 : shard * per_param * sizeof(float);
  if (ps_worker) p.optimizer_name += ", on the servers";
  // The bf16 wire's copy of the gradients (AllReduceStrategy).
  if (cfg.dist.name == "allreduce" && cfg.dist.wire == "bf16" && world > 1) p.comm = n * 2;
  // OpenMPI's scratch for one bucket's collective (one runs at a time), measured with
  // 148 MB buffers: an in-place all-reduce takes half the buffer again; a reduce-scatter
  // 1.5 times it, and twice it on a rank that receives the whole bucket (a bucket inside
  // one shard, as the embeddings' often are); an in-place all-gather nothing. Under fsdp
  // that rank holds the embeddings in its shard, not gathered beside it as the planned rank
  // does (above), so 1.5 times.
  if (world > 1 && !p.device && !ps_worker) {
    const size_t bucket = largest_bucket * sizeof(float);
    if (stage == 3)
      p.comm += 3 * bucket / 2;
    else if (stage > 0)
      p.comm += 2 * bucket;
    else
      p.comm += cfg.dist.wire == "bf16" ? bucket / 4 : bucket / 2;
  }
  return p;
}

size_t memory_limit_bytes(const std::string& text, const std::string& flag) {
  if (text.empty()) {
    // What this process may still take: the host's available memory, shared by the ranks
    // on this host, or what its memory cgroup has left, shared by the ranks in it (a group
    // of its own per rank, or one around them all), plus what it holds already.
    int local = 1;
    if (const char* s = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE"))
      local = std::max(1, std::atoi(s));
    size_t room = mem_available() / size_t(local);
    const CgroupRoom cg = cgroup_room();
    if (cg.limit > 0) {
      const size_t left = cg.limit > cg.usage ? cg.limit - cg.usage : 0;
      const size_t share = left / std::min(cg.processes, size_t(local));
      room = room ? std::min(room, share) : share;
    }
    if (room == 0) return 0;  // nothing to go by: no limit
    return room + resident_bytes();
  }
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string suffix = text.substr(used);
  double scale = 0;
  if (suffix.empty())
    scale = 1;
  else if (suffix == "K" || suffix == "k")
    scale = 1024.0;
  else if (suffix == "M" || suffix == "m")
    scale = 1024.0 * 1024;
  else if (suffix == "G" || suffix == "g")
    scale = 1024.0 * 1024 * 1024;
  if (used == 0 || scale == 0 || !(value >= 0))
    throw Error(fmt::format("{} {}: expected bytes with K, M or G (4G, 512M), or 0 for no limit",
                            flag, text));
  return size_t(value * scale);
}

std::string fitting_setting(const RunConfig& cfg, Backend& backend, RunData& data,
                            Communicator& comm, int world, size_t limit) {
  // The smallest change first: recomputation alone, then each ZeRO stage beyond this
  // one's, without recomputation and with it.
  std::vector<std::pair<std::string, std::string>> tries;
  const std::string& mine = cfg.dist.name;
  if (cfg.train.recompute != "block") tries.emplace_back(mine, "block");
  if (world > 1 && mine != "ps") {
    for (const char* s : {"zero1", "zero2", "fsdp"}) {
      if (zero_stage(s) <= zero_stage(mine)) continue;
      tries.emplace_back(s, cfg.train.recompute);
      if (cfg.train.recompute != "block") tries.emplace_back(s, "block");
    }
  }
  for (const auto& [strategy, recompute] : tries) {
    RunConfig c = cfg;
    c.dist.name = strategy;
    c.train.recompute = recompute;
    const size_t total = plan_memory(c, backend, data, comm, world).host_total();
    if (total > limit) continue;
    std::string flags;
    if (strategy != mine) flags += "--strategy " + strategy;
    if (recompute != cfg.train.recompute)
      flags += (flags.empty() ? "" : " ") + ("--recompute " + recompute);
    return fmt::format("{} would fit ({} per rank)", flags, mb(total));
  }
  return "";
}

void check_memory_plan(const MemoryPlan& plan, size_t limit, const std::string& limit_source,
                       const std::string& fits) {
  if (limit == 0 || plan.host_total() <= limit) return;
  struct Term {
    const char* name;
    size_t bytes;
  };
  std::vector<Term> terms{{"the activations", plan.activations},
                          {"the optimizer state", plan.optimizer},
                          {"the parameters", plan.params},
                          {"the gradients", plan.grads}};
  if (plan.device) terms.clear();
  terms.push_back({"the process itself", plan.process});
  terms.push_back({"the communication buffers", plan.comm});
  const Term largest = *std::max_element(
      terms.begin(), terms.end(), [](const Term& a, const Term& b) { return a.bytes < b.bytes; });
  std::string advice;
  if (!fits.empty())
    advice = "; " + fits;
  else if (largest.bytes == plan.activations && plan.other_activations < plan.activations)
    advice = fmt::format("; train.recompute = {} would keep {}", plan.other_recompute,
                         mb(plan.other_activations));
  else if (largest.bytes == plan.optimizer && plan.strategy == "allreduce")
    advice = fmt::format("; --strategy zero1 keeps 1/N of it on each of N ranks");
  else if ((largest.bytes == plan.params || largest.bytes == plan.grads) && plan.strategy != "fsdp")
    advice = "; --strategy fsdp keeps 1/N of the parameters and gradients on each of N ranks";
  else if (largest.bytes == plan.params || largest.bytes == plan.grads ||
           largest.bytes == plan.optimizer)
    advice = "; a smaller model or more ranks would fit";
  throw Error(fmt::format(
      "memory plan: {} per rank exceeds the limit of {} ({}); the largest "
      "term is {} ({}){}",
      mb(plan.host_total()), mb(limit), limit_source, largest.name, mb(largest.bytes), advice));
}

}  // namespace cohort
