#include "backend/cuda/cuda_cudnn.h"

#include <fmt/format.h>

#include "core/error.h"

#ifndef COHORT_CUDNN_HEADERS

namespace cohort::cuda {

namespace {
const char* kNoHeaders =
    "cuDNN: this build found no cuDNN headers (cudnn_graph.h); configure with "
    "-DCOHORT_CUDNN_INCLUDE_DIR=<dir> (or CUDNN_INCLUDE_DIR in the environment)";
}

bool cudnn_available(std::string* why) {
  if (why) *why = kNoHeaders;
  return false;
}
bool cudnn_library_available(std::string* why) { return cudnn_available(why); }
int64_t cudnn_version() { throw Error(kNoHeaders); }
void cudnn_lower_operations(const cudnn_graph::Graph&) { throw Error(kNoHeaders); }

struct CudnnPlan::State {};
CudnnPlan::CudnnPlan(const cudnn_graph::Graph&, const std::string&) { throw Error(kNoHeaders); }
CudnnPlan::~CudnnPlan() = default;
size_t CudnnPlan::workspace_bytes() const { return 0; }
const std::string& CudnnPlan::description() const {
  static const std::string none;
  return none;
}
void CudnnPlan::execute(const std::vector<std::pair<int64_t, void*>>&, void*) const {}
std::vector<CudnnCandidate> cudnn_candidates(const cudnn_graph::Graph&, const std::string&) {
  throw Error(kNoHeaders);
}

}  // namespace cohort::cuda

#else

#include <cudnn_graph.h>
#include <dlfcn.h>

#include <deque>
#include <tuple>

namespace cohort::cuda {

namespace {

// The functions this file calls, from libcudnn.so.9.
struct Api {
  decltype(&cudnnGetVersion) get_version;
  decltype(&cudnnGetErrorString) error_string;
  decltype(&cudnnGetLastErrorString) last_error;
  decltype(&cudnnCreate) create;
  decltype(&cudnnSetStream) set_stream;
  decltype(&cudnnBackendCreateDescriptor) create_descriptor;
  decltype(&cudnnBackendDestroyDescriptor) destroy_descriptor;
  decltype(&cudnnBackendSetAttribute) set_attribute;
  decltype(&cudnnBackendGetAttribute) get_attribute;
  decltype(&cudnnBackendFinalize) finalize;
  decltype(&cudnnBackendExecute) execute;
};

template <typename F>
void resolve(void* lib, F& f, const char* name) {
  f = reinterpret_cast<F>(dlsym(lib, name));
  if (!f) throw Error(fmt::format("cuDNN: libcudnn.so.9 has no {}", name));
}

Api load() {
  void* lib = nullptr;
  std::string tried;
  for (const char* name : {"libcudnn.so.9", "libcudnn.so"}) {
    lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (lib) break;
    tried += fmt::format(" {}: {};", name, dlerror());
  }
  if (!lib)
    throw Error(fmt::format(
        "cuDNN: cannot load its library ({} ); put cuDNN 9's lib directory on LD_LIBRARY_PATH",
        tried));
  Api a;
  resolve(lib, a.get_version, "cudnnGetVersion");
  resolve(lib, a.error_string, "cudnnGetErrorString");
  resolve(lib, a.last_error, "cudnnGetLastErrorString");
  resolve(lib, a.create, "cudnnCreate");
  resolve(lib, a.set_stream, "cudnnSetStream");
  resolve(lib, a.create_descriptor, "cudnnBackendCreateDescriptor");
  resolve(lib, a.destroy_descriptor, "cudnnBackendDestroyDescriptor");
  resolve(lib, a.set_attribute, "cudnnBackendSetAttribute");
  resolve(lib, a.get_attribute, "cudnnBackendGetAttribute");
  resolve(lib, a.finalize, "cudnnBackendFinalize");
  resolve(lib, a.execute, "cudnnBackendExecute");
  if (a.get_version() < 90000)
    throw Error(fmt::format("cuDNN: version {} found, 9.0 or later needed", a.get_version()));
  return a;
}

std::string last_error(const Api& a) {
  char message[2048] = "";
  a.last_error(message, sizeof message);
  return message;
}

const Api& api() {
  static const Api a = load();
  return a;
}

// Created at first use, on the device current then; never destroyed (the process's end
// may come after the CUDA context's).
cudnnHandle_t handle() {
  static const cudnnHandle_t h = [] {
    cudnnHandle_t created = nullptr;
    const cudnnStatus_t st = api().create(&created);
    if (st != CUDNN_STATUS_SUCCESS)
      throw Error(
          fmt::format("cuDNN: cudnnCreate: {} ({})", api().error_string(st), last_error(api())));
    api().set_stream(created, nullptr);  // the legacy default stream, as the kernels
    return created;
  }();
  return h;
}

void check(cudnnStatus_t st, const std::string& what) {
  if (st != CUDNN_STATUS_SUCCESS)
    throw Error(fmt::format("cuDNN: {}: {} ({})", what, api().error_string(st), last_error(api())));
}

// An owned backend descriptor.
class Desc {
 public:
  explicit Desc(cudnnBackendDescriptorType_t type) {
    check(api().create_descriptor(type, &d_), "cudnnBackendCreateDescriptor");
  }
  ~Desc() {
    if (d_) api().destroy_descriptor(d_);
  }
  Desc(Desc&& o) noexcept : d_(o.d_) { o.d_ = nullptr; }
  Desc& operator=(Desc&&) = delete;
  Desc(const Desc&) = delete;
  cudnnBackendDescriptor_t get() const { return d_; }

  template <typename T>
  Desc& set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, const T* values,
            int64_t count = 1) {
    check(api().set_attribute(d_, name, type, count, values),
          fmt::format("cudnnBackendSetAttribute {}", int(name)));
    return *this;
  }
  Desc& set(cudnnBackendAttributeName_t name, const Desc& d) {
    const cudnnBackendDescriptor_t raw = d.get();
    return set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, &raw);
  }
  Desc& finalize(const std::string& what) {
    check(api().finalize(d_), "finalize " + what);
    return *this;
  }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

cudnnDataType_t data_type(cudnn_graph::DataType t) {
  switch (t) {
    case cudnn_graph::DataType::float32:
      return CUDNN_DATA_FLOAT;
    case cudnn_graph::DataType::bf16:
      return CUDNN_DATA_BFLOAT16;
    case cudnn_graph::DataType::fp16:
      return CUDNN_DATA_HALF;
    case cudnn_graph::DataType::int32:
      return CUDNN_DATA_INT32;
    case cudnn_graph::DataType::boolean:
      return CUDNN_DATA_BOOLEAN;
  }
  return CUDNN_DATA_FLOAT;
}

cudnnPointwiseMode_t pointwise_mode(cudnn_graph::Pointwise p) {
  using P = cudnn_graph::Pointwise;
  switch (p) {
    case P::add:
      return CUDNN_POINTWISE_ADD;
    case P::sub:
      return CUDNN_POINTWISE_SUB;
    case P::mul:
      return CUDNN_POINTWISE_MUL;
    case P::div:
      return CUDNN_POINTWISE_DIV;
    case P::exp:
      return CUDNN_POINTWISE_EXP;
    case P::log:
      return CUDNN_POINTWISE_LOG;
    case P::identity:
      return CUDNN_POINTWISE_IDENTITY;
    case P::gen_index:
      return CUDNN_POINTWISE_GEN_INDEX;
    case P::cmp_ge:
      return CUDNN_POINTWISE_CMP_GE;
    case P::binary_select:
      return CUDNN_POINTWISE_BINARY_SELECT;
  }
  return CUDNN_POINTWISE_IDENTITY;
}

Desc tensor_descriptor(const cudnn_graph::Tensor& t) {
  Desc d(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const cudnnDataType_t type = data_type(t.type);
  const int64_t alignment = 16;
  const bool is_virtual = t.is_virtual;
  d.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, &type)
      .set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, t.dims.data(), 4)
      .set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, t.strides.data(), 4)
      .set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, &t.uid)
      .set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, &alignment)
      .set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, &is_virtual);
  if (t.by_value) {
    const bool by_value = true;
    d.set(CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, &by_value);
  }
  d.finalize(fmt::format("tensor {}", t.uid));
  return d;
}

// The operation descriptor of op, its tensors' descriptors looked up by uid.
template <typename Lookup>
Desc operation_descriptor(const cudnn_graph::Op& op, Lookup tensor, std::deque<Desc>& keep) {
  const cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
  switch (op.kind) {
    case cudnn_graph::OpKind::matmul: {
      Desc& mm = keep.emplace_back(CUDNN_BACKEND_MATMUL_DESCRIPTOR);
      mm.set(CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, &f32).finalize("matmul");
      Desc d(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
      d.set(CUDNN_ATTR_OPERATION_MATMUL_ADESC, tensor(op.x))
          .set(CUDNN_ATTR_OPERATION_MATMUL_BDESC, tensor(op.b))
          .set(CUDNN_ATTR_OPERATION_MATMUL_CDESC, tensor(op.y))
          .set(CUDNN_ATTR_OPERATION_MATMUL_DESC, mm)
          .finalize(fmt::format("matmul -> {}", op.y));
      return d;
    }
    case cudnn_graph::OpKind::pointwise: {
      Desc& pw = keep.emplace_back(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
      const cudnnPointwiseMode_t mode = pointwise_mode(op.pointwise);
      const cudnnDataType_t precision = data_type(op.compute);
      pw.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, &mode)
          .set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, &precision);
      if (op.pointwise == cudnn_graph::Pointwise::gen_index)
        pw.set(CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, &op.axis);
      pw.finalize("pointwise mode");
      Desc d(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
      d.set(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw)
          .set(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, tensor(op.x));
      if (op.b) d.set(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, tensor(op.b));
      if (op.t) d.set(CUDNN_ATTR_OPERATION_POINTWISE_TDESC, tensor(op.t));
      d.set(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, tensor(op.y))
          .finalize(fmt::format("pointwise {} -> {}", int(mode), op.y));
      return d;
    }
    case cudnn_graph::OpKind::reduction: {
      Desc& red = keep.emplace_back(CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
      const cudnnReduceTensorOp_t mode = op.reduction == cudnn_graph::Reduction::max
                                             ? CUDNN_REDUCE_TENSOR_MAX
                                             : CUDNN_REDUCE_TENSOR_ADD;
      red.set(CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, &mode)
          .set(CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, &f32)
          .finalize("reduction");
      Desc d(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
      d.set(CUDNN_ATTR_OPERATION_REDUCTION_XDESC, tensor(op.x))
          .set(CUDNN_ATTR_OPERATION_REDUCTION_YDESC, tensor(op.y))
          .set(CUDNN_ATTR_OPERATION_REDUCTION_DESC, red)
          .finalize(fmt::format("reduction -> {}", op.y));
      return d;
    }
    case cudnn_graph::OpKind::reshape: {
      Desc d(CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR);
      d.set(CUDNN_ATTR_OPERATION_RESHAPE_XDESC, tensor(op.x))
          .set(CUDNN_ATTR_OPERATION_RESHAPE_YDESC, tensor(op.y))
          .finalize(fmt::format("reshape -> {}", op.y));
      return d;
    }
  }
  throw Error("cuDNN: unknown operation kind");
}

// The engine behind a heuristics result: its global index and whether cuDNN notes it as
// nondeterministic.
std::pair<int64_t, bool> engine_facts(cudnnBackendDescriptor_t config) {
  Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t raw = engine.get();
  int64_t n = 0;
  check(api().get_attribute(config, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                            &n, &raw),
        "the engine of a heuristics result");
  int64_t index = -1;
  check(api().get_attribute(raw, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &index),
        "an engine's index");
  cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  int64_t count = 0;
  check(api().get_attribute(raw, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                            CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &count, notes),
        "an engine's numerical notes");
  bool nondeterministic = false;
  for (int64_t i = 0; i < count; ++i)
    nondeterministic |= notes[i] == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC;
  return {index, nondeterministic};
}

// A graph's tensors and operations as finalized descriptors (no device needed yet).
struct Lowered {
  std::deque<Desc> keep;  // every descriptor the operations refer to
  std::vector<cudnnBackendDescriptor_t> ops;
  std::deque<float> scalars;  // the by-value tensors' values, at stable addresses
  std::vector<int64_t> scalar_uids;
};

void lower(const cudnn_graph::Graph& graph, Lowered& l) {
  std::vector<std::pair<int64_t, const Desc*>> tensors;
  for (const cudnn_graph::Tensor& t : graph.tensors) {
    tensors.emplace_back(t.uid, &l.keep.emplace_back(tensor_descriptor(t)));
    if (t.by_value) {
      l.scalars.push_back(t.value);
      l.scalar_uids.push_back(t.uid);
    }
  }
  auto tensor = [&](int64_t uid) -> const Desc& {
    for (const auto& [id, d] : tensors)
      if (id == uid) return *d;
    throw Error(fmt::format("cuDNN: the graph has no tensor {}", uid));
  };
  for (const cudnn_graph::Op& op : graph.ops)
    l.ops.push_back(l.keep.emplace_back(operation_descriptor(op, tensor, l.keep)).get());
}

bool available(std::string* why, bool with_device) {
  try {
    api();
    if (with_device) handle();
    return true;
  } catch (const Error& e) {
    if (why) *why = e.what();
    return false;
  }
}

}  // namespace

bool cudnn_available(std::string* why) { return available(why, true); }

int64_t cudnn_version() { return int64_t(api().get_version()); }

bool cudnn_library_available(std::string* why) { return available(why, false); }

void cudnn_lower_operations(const cudnn_graph::Graph& graph) {
  Lowered l;
  lower(graph, l);
}

struct CudnnPlan::State {
  Lowered graph;
  bool deviceless = false;
  std::unique_ptr<Desc> plan;
  int64_t workspace = 0;
  std::string description;
};

namespace {

// What a plan is for: the current device (its cuDNN handle), or a device's properties
// alone (cuDNN 9.8 and later's headers), whose descriptor goes where the handle would.
class Target {
 public:
  Target(const std::string& device_properties, std::deque<Desc>& keep) {
    if (device_properties.empty()) {
      handle_ = handle();
      return;
    }
#if CUDNN_VERSION >= 90800
    properties_ = &keep.emplace_back(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR);
    properties_
        ->set(CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION, CUDNN_TYPE_CHAR, device_properties.data(),
              int64_t(device_properties.size()))
        .finalize("the device properties");
#else
    throw Error("cuDNN: plans for device properties need cuDNN 9.8's headers or later");
#endif
  }
  bool deviceless() const { return properties_ != nullptr; }
  void of_graph(Desc& d) const {
    if (!properties_) d.set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, &handle_);
  }
  void of_heuristics(Desc& d) const {
#if CUDNN_VERSION >= 90800
    if (properties_) d.set(CUDNN_ATTR_ENGINEHEUR_DEVICEPROP, *properties_);
#endif
  }
  void of_plan(Desc& d) const {
#if CUDNN_VERSION >= 90800
    if (properties_) {
      d.set(CUDNN_ATTR_EXECUTION_PLAN_DEVICEPROP, *properties_);
      return;
    }
#endif
    d.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, &handle_);
  }

 private:
  cudnnHandle_t handle_ = nullptr;
  Desc* properties_ = nullptr;
};

// Lowers graph into s and tries the deterministic candidates cuDNN's heuristics rank for
// it, in order, keeping the first plan that finalizes; with `all`, tries every candidate
// (keeping none). Returns each candidate's outcome.
std::vector<CudnnCandidate> search(const cudnn_graph::Graph& graph,
                                   const std::string& device_properties, bool all,
                                   CudnnPlan::State& s) {
  const Api& a = api();
  const Target target(device_properties, s.graph.keep);
  s.deviceless = target.deviceless();
  lower(graph, s.graph);
  Desc& op_graph = s.graph.keep.emplace_back(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  target.of_graph(op_graph);
  op_graph
      .set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, s.graph.ops.data(),
           int64_t(s.graph.ops.size()))
      .finalize("the operation graph");

  Desc heuristics(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
  heuristics.set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, op_graph)
      .set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, &mode);
  target.of_heuristics(heuristics);
  heuristics.finalize("the engine heuristics");
  int64_t count = 0;
  check(a.get_attribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                        CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr),
        "the heuristics' result count");
  std::deque<Desc> configs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < count; ++i)
    raw.push_back(configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR).get());
  check(a.get_attribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                        CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &count, raw.data()),
        "the heuristics' results");

  std::vector<CudnnCandidate> tried;
  for (int64_t i = 0; i < count && (all || !s.plan); ++i) {
    CudnnCandidate& c = tried.emplace_back();
    std::tie(c.engine, c.nondeterministic) = engine_facts(raw[size_t(i)]);
    // The configuration's own figure, known before a plan is built (a finalized plan's
    // replaces it below).
    int64_t n = 0;
    if (a.get_attribute(raw[size_t(i)], CUDNN_ATTR_ENGINECFG_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                        &n, &c.workspace) != CUDNN_STATUS_SUCCESS)
      c.workspace = -1;
    if (c.nondeterministic) continue;
    auto plan = std::make_unique<Desc>(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    target.of_plan(*plan);
    plan->set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR,
              &raw[size_t(i)]);
    const cudnnStatus_t st = a.finalize(plan->get());
    if (st != CUDNN_STATUS_SUCCESS) {
      c.failure = fmt::format("{}: {}", a.error_string(st), last_error(a));
      c.driver_failure = st == CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER;
      continue;
    }
    check(a.get_attribute(plan->get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                          1, &n, &c.workspace),
          "the plan's workspace size");
    if (!s.plan) {
      s.plan = std::move(plan);
      s.workspace = c.workspace;
      s.description = fmt::format("cuDNN {} engine {} of {} candidates, workspace {:.1f} MB",
                                  a.get_version(), c.engine, count, c.workspace / 1e6);
    }
  }
  return tried;
}

std::string passed_over(const std::vector<CudnnCandidate>& tried) {
  std::string s;
  for (const CudnnCandidate& c : tried)
    if (c.nondeterministic || !c.failure.empty())
      s += fmt::format(" engine {} ({});", c.engine,
                       c.nondeterministic ? "nondeterministic" : c.failure);
  return s;
}

}  // namespace

std::vector<CudnnCandidate> cudnn_candidates(const cudnn_graph::Graph& graph,
                                             const std::string& device_properties) {
  CudnnPlan::State s;
  return search(graph, device_properties, true, s);
}

CudnnPlan::CudnnPlan(const cudnn_graph::Graph& graph, const std::string& device_properties)
    : s_(std::make_unique<State>()) {
  const auto tried = search(graph, device_properties, false, *s_);
  const std::string passed = passed_over(tried);
  if (!s_->plan)
    throw Error(
        fmt::format("cuDNN: no deterministic engine finalizes this graph ({} candidates:{})",
                    tried.size(), passed.empty() ? " none" : passed));
  if (!passed.empty()) s_->description += "; passed over:" + passed;
}

CudnnPlan::~CudnnPlan() = default;

size_t CudnnPlan::workspace_bytes() const { return size_t(s_->workspace); }

const std::string& CudnnPlan::description() const { return s_->description; }

void CudnnPlan::execute(const std::vector<std::pair<int64_t, void*>>& tensors,
                        void* workspace) const {
  std::vector<int64_t> uids;
  std::vector<void*> pointers;
  for (const auto& [uid, p] : tensors) {
    uids.push_back(uid);
    pointers.push_back(p);
  }
  for (size_t i = 0; i < s_->graph.scalar_uids.size(); ++i) {
    uids.push_back(s_->graph.scalar_uids[i]);
    pointers.push_back(&s_->graph.scalars[i]);
  }
  Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, uids.data(), int64_t(uids.size()))
      .set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, pointers.data(),
           int64_t(pointers.size()))
      .set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, &workspace)
      .finalize("the variant pack");
  if (s_->deviceless) throw Error("cuDNN: this plan was built for device properties only");
  check(api().execute(handle(), s_->plan->get(), pack.get()), "cudnnBackendExecute");
}

}  // namespace cohort::cuda

#endif  // COHORT_CUDNN_HEADERS
