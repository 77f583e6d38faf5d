#include "train/run_config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <limits>
#include <map>
#include <sstream>
#include <variant>

#include "core/error.h"

namespace cohort {

namespace {

using FieldRef = std::variant<int*, long*, float*, uint64_t*, std::string*, bool*>;

struct Field {
  const char* key;
  FieldRef ref;
  const char* help;
};

std::vector<Field> fields_of(RunConfig& c) {
  return {
      {"data_dir", &c.train.data_dir, "prepared dataset directory (cohort prepare)"},
      {"run_dir", &c.train.run_dir, "run directory: metrics.jsonl, checkpoints/ (empty: none)"},
      {"eval_every", &c.train.eval_every, "steps between validations (0: only at the end)"},
      {"eval_tokens", &c.train.eval_tokens, "validation tokens per evaluation (0: whole split)"},
      {"checkpoint_every", &c.train.checkpoint_every,
       "steps between checkpoints (0: only at the end)"},
      {"keep_checkpoints", &c.train.keep_checkpoints, "newest checkpoints kept, plus the best"},
      {"patience", &c.train.patience,
       "early stopping: validations without improvement before stopping (0: off)"},
      {"model.vocab_size", &c.model.vocab_size,
       "V, real vocabulary size (0: the dataset's; 256 with --synthetic)"},
      {"model.context_length", &c.model.context_length, "maxT, rows of the position table"},
      {"model.n_layer", &c.model.n_layer, "L, transformer blocks"},
      {"model.n_head", &c.model.n_head, "NH, attention heads (must divide n_embd)"},
      {"model.n_embd", &c.model.n_embd, "C, channels"},
      {"model.dropout", &c.model.dropout, "dropout probability (embeddings, attention, residuals)"},
      {"model.arch", &c.model.arch,
       "gpt | encoder | seq2seq (follows train.task when left at gpt)"},
      {"model.n_classes", &c.model.n_classes,
       "encoder: classifier outputs (0: the dataset's classes for --task classify)"},
      {"model.n_decoder_layer", &c.model.n_decoder_layer,
       "seq2seq: decoder blocks (0: as many as model.n_layer)"},
      {"optim.name", &c.optim.name, "adamw | sgd"},
      {"optim.beta1", &c.optim.beta1, "AdamW beta1"},
      {"optim.beta2", &c.optim.beta2, "AdamW beta2"},
      {"optim.eps", &c.optim.eps, "AdamW epsilon"},
      {"optim.weight_decay", &c.optim.weight_decay, "AdamW decoupled weight decay (2-D weights)"},
      {"optim.momentum", &c.optim.momentum, "SGD momentum (0: plain SGD)"},
      {"train.task", &c.train.task,
       "lm (GPT) | mlm, classify (encoder; cohort prepare genre) | translate (encoder-decoder; "
       "cohort prepare translation)"},
      {"train.init_from", &c.train.init_from,
       "checkpoint whose tensors of the same name and shape initialize the model (e.g. an mlm "
       "run for classify)"},
      {"train.label_smoothing", &c.train.label_smoothing, "translate: label smoothing epsilon"},
      {"train.batch_size", &c.train.batch_size, "B, sequences per micro-batch"},
      {"train.seq_len", &c.train.seq_len, "T, tokens per sequence"},
      {"train.grad_accum", &c.train.grad_accum, "micro-batches per optimizer step"},
      {"train.steps", &c.train.steps, "optimizer steps"},
      {"train.lr", &c.train.lr, "peak learning rate"},
      {"train.min_lr", &c.train.min_lr, "learning rate at the end of the cosine decay"},
      {"train.warmup", &c.train.warmup, "linear warmup steps"},
      {"train.grad_clip", &c.train.grad_clip, "global gradient-norm clip (0: off)"},
      {"train.recompute", &c.train.recompute,
       "none | attention | block: keep all but the attention probabilities (attention) or "
       "each block's input only (block) and compute the rest again in backward (less "
       "activation memory, more compute, the same bits)"},
      {"train.seed", &c.train.seed, "seed for init, synthetic data and dropout"},
      {"train.threads", &c.train.threads, "CPU threads (0: OMP_NUM_THREADS or all cores)"},
      {"train.backend", &c.train.backend, "cpu | cuda (one GPU per rank; docs/gpu.md)"},
      {"train.precision", &c.train.precision,
       "auto (cuda: bf16, cpu: fp32) | fp32 | bf16 | fp16 (loss-scaled): the CUDA matmuls"},
      {"train.max_bad_steps", &c.train.max_bad_steps,
       "steps in a row whose loss or gradient norm is not finite (each skipped) before the "
       "run stops"},
      {"train.log_every", &c.train.log_every,
       "steps between progress lines when not on a terminal"},
      {"dist.strategy", &c.dist.name,
       "data-parallel strategy under mpirun: allreduce | zero1 | zero2 | fsdp | ps (parameter "
       "server)"},
      {"dist.bucket_mb", &c.dist.bucket_mb, "allreduce: gradient bucket size in MB"},
      {"dist.wire", &c.dist.wire,
       "allreduce: gradients on the wire as fp32 | bf16 (half the bytes)"},
      {"dist.ps_servers", &c.dist.ps_servers,
       "ps: the last S ranks are servers, ranks 0..N-S-1 workers"},
      {"dist.comm_timeout", &c.dist.comm_timeout,
       "seconds a collective may wait for a rank before the job stops naming it (0: never)"},
      {"dist.check_collectives", &c.dist.check_collectives,
       "ranks compare each collective of the strategy before running it, naming a rank that "
       "skipped or added one (a debugging aid: one small all-gather per collective)"},
      {"dist.staleness", &c.dist.staleness,
       "ps: 0 synchronous; s > 0 asynchronous, a worker at most s steps ahead of the slowest"},
      {"data.synthetic_branching", &c.data.synthetic_branching,
       "successors per token in --synthetic data (0: uniform random)"},
  };
}

const char* type_name(const FieldRef& ref) {
  return std::visit(
      [](auto* p) -> const char* {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) return "string";
        if constexpr (std::is_same_v<T, float>) return "float";
        if constexpr (std::is_same_v<T, bool>) return "boolean";
        return "integer";
      },
      ref);
}

const char* node_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date or time";
  }
}

// Stores node into the field or throws naming source and key.
void assign(const Field& f, const toml::node& n, const std::string& source) {
  auto wrong = [&]() {
    return Error(fmt::format("{}: {}: expected {} {}, got {}", source, f.key,
                             type_name(f.ref)[0] == 'i' ? "an" : "a", type_name(f.ref),
                             node_type_name(n)));
  };
  std::visit(
      [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          if (!n.is_string()) throw wrong();
          *p = *n.value<std::string>();
        } else if constexpr (std::is_same_v<T, float>) {
          if (!n.is_number()) throw wrong();
          *p = static_cast<float>(*n.value<double>());
        } else if constexpr (std::is_same_v<T, bool>) {
          if (!n.is_boolean()) throw wrong();
          *p = *n.value<bool>();
        } else {
          if (!n.is_integer()) throw wrong();
          const int64_t v = *n.value<int64_t>();
          if constexpr (std::is_same_v<T, uint64_t>) {
            if (v < 0) throw Error(fmt::format("{}: {}: must be >= 0, got {}", source, f.key, v));
          } else {
            if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
              throw Error(fmt::format("{}: {}: {} is out of range", source, f.key, v));
            }
          }
          *p = static_cast<T>(v);
        }
      },
      f.ref);
}

const Field* find_field(const std::vector<Field>& fs, const std::string& key) {
  for (const auto& f : fs) {
    if (key == f.key) return &f;
  }
  return nullptr;
}

void apply_table(RunConfig& c, const toml::table& table, const std::string& prefix,
                 const std::string& source) {
  const auto fs = fields_of(c);
  for (const auto& [k, node] : table) {
    const std::string key =
        prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* sub = node.as_table()) {
      apply_table(c, *sub, key, source);
      continue;
    }
    const Field* f = find_field(fs, key);
    if (f == nullptr) {
      throw Error(
          fmt::format("{}: unknown key '{}' (cohort train --help-config lists them)", source, key));
    }
    assign(*f, node, source);
  }
}

std::string parse_error_text(const toml::parse_error& e) {
  std::ostringstream s;
  s << e.description() << " (line " << e.source().begin.line << ", column "
    << e.source().begin.column << ")";
  return s.str();
}

// Shortest round-trip text that TOML reads back as a float (1 -> "1.0").
std::string toml_float(float v) {
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

// A field's value as TOML text.
std::string toml_value(const FieldRef& ref) {
  return std::visit(
      [](auto* p) -> std::string {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>)
          return fmt::format("\"{}\"", *p);
        else if constexpr (std::is_same_v<T, float>)
          return toml_float(*p);
        else if constexpr (std::is_same_v<T, bool>)
          return *p ? "true" : "false";
        else
          return fmt::format("{}", *p);
      },
      ref);
}

}  // namespace

void RunConfig::apply_toml_file(const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    if (e.description().find("File could not be opened") != std::string_view::npos) {
      throw Error(fmt::format("{}: cannot open config file", path));
    }
    throw Error(fmt::format("{}: {}", path, parse_error_text(e)));
  }
  apply_table(*this, table, "", path);
}

void RunConfig::apply_toml_text(const std::string& text, const std::string& source) {
  toml::table table;
  try {
    table = toml::parse(text);
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("{}: {}", source, parse_error_text(e)));
  }
  apply_table(*this, table, "", source);
}

void RunConfig::apply_override(const std::string& assignment, const std::string& origin) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw Error(fmt::format("{} '{}': expected key=value", origin, assignment));
  }
  const std::string key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  const auto fs = fields_of(*this);
  const Field* f = find_field(fs, key);
  if (f == nullptr) {
    throw Error(
        fmt::format("{}: unknown key '{}' (cohort train --help-config lists them)", origin, key));
  }
  const std::string source = origin == "--set" ? "--set " + key : origin + " (" + key + ")";
  toml::table table;
  try {
    table = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    if (std::holds_alternative<std::string*>(f->ref)) {  // a bare word for a string key
      *std::get<std::string*>(f->ref) = value;
      return;
    }
    throw Error(fmt::format("{}: cannot parse value '{}' as {}", source, value, type_name(f->ref)));
  }
  assign(*f, *table.get("v"), source);
}

void RunConfig::resolve_task() {
  if (model.arch == "gpt" && (train.task == "mlm" || train.task == "classify"))
    model.arch = "encoder";
  if (model.arch == "gpt" && train.task == "translate") model.arch = "seq2seq";
  if (model.arch == "seq2seq" && model.n_decoder_layer == 0) model.n_decoder_layer = model.n_layer;
}

void RunConfig::validate(const std::string& where) const {
  train.validate(model.context_length, where);
  RunConfig resolved = *this;
  resolved.resolve_task();
  ModelConfig& m = resolved.model;
  const std::string& task = train.task;
  const char* wants = task == "lm" ? "gpt" : task == "translate" ? "seq2seq" : "encoder";
  if (m.arch != wants) {
    throw Error(
        fmt::format("{}: train.task = {} needs model.arch = {} (or leave model.arch unset), "
                    "got {}",
                    where, task, wants, m.arch));
  }
  if (m.vocab_size == 0) m.vocab_size = 256;  // 0 is resolved from the dataset at start-up
  if (task == "classify" && m.n_classes == 0) m.n_classes = 2;  // likewise
  m.validate(where);
  if (optim.name != "adamw" && optim.name != "sgd") {
    throw Error(fmt::format("{}: optim.name: unknown optimizer '{}' (expected adamw or sgd)", where,
                            optim.name));
  }
  validate_strategy_config(dist, where);
  if (data.synthetic_branching < 0) {
    throw Error(fmt::format("{}: data.synthetic_branching must be >= 0", where));
  }
}

std::string RunConfig::to_toml() const {
  RunConfig copy = *this;
  std::map<std::string, std::vector<std::string>> sections;
  for (const auto& f : fields_of(copy)) {
    const std::string key = f.key;
    const size_t dot = key.find('.');  // npos for a top-level key: section ""

    std::string value = toml_value(f.ref);
    const std::string section = dot == std::string::npos ? "" : key.substr(0, dot);
    sections[section].push_back(fmt::format("{} = {}", key.substr(dot + 1), value));
  }
  std::string out;
  for (const auto& [name, lines] : sections) {  // "" sorts first: TOML needs it first
    if (!name.empty()) out += fmt::format("[{}]\n", name);
    for (const auto& l : lines) out += l + "\n";
    out += "\n";
  }
  return out;
}

std::string RunConfig::default_of(const std::string& key) {
  RunConfig defaults;
  const auto fs = fields_of(defaults);
  const Field* f = find_field(fs, key);
  COHORT_CHECK(f != nullptr) << "no config key " << key;
  return toml_value(f->ref);
}

std::string RunConfig::describe_keys() {
  RunConfig defaults;
  std::string out;
  const std::string dump = defaults.to_toml();
  for (const auto& f : fields_of(defaults)) {
    out += fmt::format("  {:<26} {:<8} {}\n", f.key, type_name(f.ref), f.help);
  }
  return out + "\nDefaults:\n" + dump;
}

void check_backend_supports(const TrainConfig& train, const StrategyConfig& dist) {
  if (train.backend != "cuda") return;
  auto refuse = [](const std::string& what) {
    throw Error(
        fmt::format("train.backend = cuda does not run {} yet (docs/gpu.md); use "
                    "train.backend = cpu",
                    what));
  };
  if (dist.name == "ps") refuse("the parameter server");
  if (dist.wire != "fp32") refuse("dist.wire = bf16");
}

}  // namespace cohort
