#include "train/task_batches.h"

#include <algorithm>

#include "core/philox.h"

namespace cohort {

namespace {
constexpr uint32_t kMlmSite = 0x4d4c4d;  // "MLM": keeps the masks apart from dropout's draws
constexpr uint32_t kShuffleSite = 0x5348;
}  // namespace

size_t SampleOrder::at(uint64_t slot) {
  const uint64_t epoch = slot / n_;
  if (epoch != epoch_) {
    perm_.resize(n_);
    for (size_t i = 0; i < n_; ++i) perm_[i] = uint32_t(i);
    // Fisher-Yates with Philox draws: the same permutation on every platform.
    const PhiloxKey key{uint32_t(seed_), uint32_t(seed_ >> 32)};
    for (size_t i = n_ - 1; i > 0; --i) {
      const auto r = philox4x32({uint32_t(i), uint32_t(epoch), kShuffleSite, 0}, key);
      const size_t j = (uint64_t(r[0]) << 32 | r[1]) % (i + 1);
      std::swap(perm_[i], perm_[j]);
    }
    epoch_ = epoch;
  }
  return perm_[slot % n_];
}

void fill_encoder_batch(EncoderBatchData& out, const TaskInfo& info,
                        const std::vector<const TaskSample*>& samples, bool mlm, uint64_t seed,
                        uint32_t step, uint64_t first_slot) {
  const int B = int(samples.size());
  int T = 0;
  for (const auto* s : samples) T = std::max(T, int(s->ids.size()) + 1);
  out.B = B;
  out.T = T;
  out.tokens.assign(size_t(B) * T, info.pad_id);
  out.mlm_targets.assign(size_t(B) * T, -1);
  out.lengths.assign(B, 0);
  out.labels.assign(B, 0);
  const PhiloxKey key{uint32_t(seed), uint32_t(seed >> 32)};
  for (int b = 0; b < B; ++b) {
    const TaskSample& s = *samples[b];
    int32_t* row = out.tokens.data() + size_t(b) * T;
    row[0] = info.cls_id;
    std::copy(s.ids.begin(), s.ids.end(), row + 1);
    const int len = int(s.ids.size()) + 1;
    out.lengths[b] = len;
    out.labels[b] = s.label;
    if (!mlm) continue;
    int32_t* tg = out.mlm_targets.data() + size_t(b) * T;
    const uint64_t slot = first_slot + uint64_t(b);
    int chosen = 0, best_t = 1;
    float best_u = 2.0f;
    for (int t = 1; t < len; ++t) {
      const auto r =
          philox4x32({uint32_t(t), uint32_t(slot), uint32_t(slot >> 32) ^ kMlmSite, step}, key);
      const float u = uniform_from_bits(r[0]);
      if (u < best_u) best_u = u, best_t = t;
      if (u >= 0.15f) continue;
      ++chosen;
      tg[t] = row[t];
      const float how = uniform_from_bits(r[1]);
      if (how < 0.8f) {
        row[t] = info.mask_id;
      } else if (how < 0.9f) {
        row[t] = int32_t(uint64_t(r[2]) * uint64_t(info.tokenizer_vocab) >> 32);
      }
    }
    if (chosen == 0) {  // a short passage drew no position: predict its likeliest one
      tg[best_t] = row[best_t];
      row[best_t] = info.mask_id;
    }
  }
}

void fill_seq2seq_batch(Seq2SeqBatchData& out, const TaskInfo& info,
                        const std::vector<const TaskSample*>& samples) {
  const int B = int(samples.size());
  int S = 0, T = 0;
  for (const auto* s : samples) {
    S = std::max(S, int(s->ids.size()) + 1);
    T = std::max(T, int(s->tgt.size()) + 1);
  }
  out.B = B;
  out.S = S;
  out.T = T;
  out.src.assign(size_t(B) * S, info.eos_id);
  out.src_len.assign(B, 0);
  out.tgt_in.assign(size_t(B) * T, info.eos_id);
  out.tgt_out.assign(size_t(B) * T, -1);
  for (int b = 0; b < B; ++b) {
    const TaskSample& s = *samples[b];
    int32_t* src = out.src.data() + size_t(b) * S;
    std::copy(s.ids.begin(), s.ids.end(), src);
    src[s.ids.size()] = info.eos_id;
    out.src_len[b] = int(s.ids.size()) + 1;
    int32_t* in = out.tgt_in.data() + size_t(b) * T;
    int32_t* tg = out.tgt_out.data() + size_t(b) * T;
    in[0] = info.bos_id;
    std::copy(s.tgt.begin(), s.tgt.end(), in + 1);
    std::copy(s.tgt.begin(), s.tgt.end(), tg);
    tg[s.tgt.size()] = info.eos_id;
  }
}

std::vector<const TaskSample*> SampledMicroBatches::draw(long step, int micro,
                                                         uint64_t& first_slot) {
  const TaskBatchShape& s = shape_;
  const uint64_t per_step = uint64_t(s.batch_size) * s.grad_accum * s.world;
  first_slot = uint64_t(step) * per_step + uint64_t(s.rank * s.grad_accum + micro) * s.batch_size;
  std::vector<const TaskSample*> out;
  for (int i = 0; i < s.batch_size; ++i) out.push_back(&samples_[order_.at(first_slot + i)]);
  return out;
}

EncoderMicroBatches::EncoderMicroBatches(EncoderModel& model, const TaskInfo& info,
                                         const std::vector<TaskSample>& samples, bool mlm,
                                         const TaskBatchShape& shape)
    : SampledMicroBatches(info, samples, shape), model_(model), mlm_(mlm) {
  model_.plan(shape.batch_size, info.max_len);
}

float EncoderMicroBatches::forward(long step, int micro, const ForwardOptions& options) {
  uint64_t first = 0;
  const auto picked = draw(step, micro, first);
  fill_encoder_batch(batch_, info_, picked, mlm_, shape_.seed, uint32_t(step), first);
  return model_.forward(batch_.view(mlm_), options);
}

Seq2SeqMicroBatches::Seq2SeqMicroBatches(Seq2SeqModel& model, const TaskInfo& info,
                                         const std::vector<TaskSample>& samples,
                                         float label_smoothing, const TaskBatchShape& shape)
    : SampledMicroBatches(info, samples, shape), model_(model), smoothing_(label_smoothing) {
  model_.plan(shape.batch_size, info.max_len, info.max_len);
}

float Seq2SeqMicroBatches::forward(long step, int micro, const ForwardOptions& options) {
  uint64_t first = 0;
  const auto picked = draw(step, micro, first);
  fill_seq2seq_batch(batch_, info_, picked);
  return model_.forward(batch_.view(), options, smoothing_);
}

}  // namespace cohort
