#include "train/init_from.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "model/model_layout.h"
#include "train/checkpoint.h"

namespace cohort {

InitFromReport init_from_checkpoint(Model& model, const std::string& path) {
  const LoadedCheckpoint ck = load_checkpoint(resolve_checkpoint(path));
  const ParameterLayout source = model_layout(ck.model);
  InitFromReport r;
  r.dir = ck.dir.string();
  for (const auto& t : model.layout().tensors()) {
    const ParameterTensor* s = source.find(t.name);
    if (s == nullptr) {
      r.fresh.push_back(t.name);
      continue;
    }
    if (s->shape != t.shape) {
      throw Error(
          fmt::format("{}: tensor '{}' has another shape than the model's ({} vs {} "
                      "values): the checkpoint's model ({}) does not fit this one ({})",
                      r.dir, t.name, s->numel, t.numel, ck.model.shape(), model.config().shape()));
    }
    model.backend().parameters_released(model.params());  // backend.h: parameters_updated
    model.backend().memory().copy_from_host(model.params() + t.offset, ck.params.data() + s->offset,
                                            s->numel * sizeof(float));
    ++r.copied;
  }
  if (r.copied == 0) {
    throw Error(fmt::format("{}: shares no tensor with the model ({} vs {})", r.dir,
                            ck.model.shape(), model.config().shape()));
  }
  return r;
}

}  // namespace cohort
