// Micro-batches of the encoder and encoder-decoder tasks, drawn from a TaskDataset's
// samples in the order design.md promises for every task: global sample slot
//   g = step * (B * grad_accum * world) + (rank * grad_accum + micro) * B + i
// reads sample perm_e[g mod N] of epoch e = g / N (a seeded shuffle per epoch), so a
// step's global batch is the same whatever the world size, and rank r reads its
// contiguous part. Sequences are padded to the longest in the micro-batch.
//   mlm        [CLS] + passage; 15% of the passage positions (at least one) are
//              predicted: 80% of those become [MASK], 10% a random word, 10% stay. The
//              choice is Philox keyed by (seed, step, slot, position): new masks every
//              epoch (dynamic masking), and the same on any number of ranks.
//   classify   [CLS] + passage, the file's genre as label.
//   translate  source + EOS; BOS + target -> target + EOS (teacher forcing).
#pragma once

#include <cstdint>
#include <vector>

#include "data/task_dataset.h"
#include "model/encoder_model.h"
#include "model/seq2seq_model.h"
#include "train/trainer.h"

namespace cohort {

// The shuffled order of N samples, one permutation per epoch.
class SampleOrder {
 public:
  SampleOrder(size_t n, uint64_t seed) : n_(n), seed_(seed) {}
  size_t at(uint64_t slot);

 private:
  size_t n_;
  uint64_t seed_;
  uint64_t epoch_ = UINT64_MAX;
  std::vector<uint32_t> perm_;
};

struct EncoderBatchData {
  int B = 0, T = 0;
  std::vector<int32_t> tokens, lengths, mlm_targets, labels;
  EncoderBatch view(bool mlm) const {
    return {B,
            T,
            tokens.data(),
            lengths.data(),
            mlm ? mlm_targets.data() : nullptr,
            mlm ? nullptr : labels.data()};
  }
};
// samples[i] fills row i; first_slot is row 0's global slot (the masks' key).
void fill_encoder_batch(EncoderBatchData& out, const TaskInfo& info,
                        const std::vector<const TaskSample*>& samples, bool mlm, uint64_t seed,
                        uint32_t step, uint64_t first_slot);

struct Seq2SeqBatchData {
  int B = 0, S = 0, T = 0;
  std::vector<int32_t> src, src_len, tgt_in, tgt_out;
  Seq2SeqBatch view() const {
    return {B, S, T, src.data(), src_len.data(), tgt_in.data(), tgt_out.data()};
  }
};
void fill_seq2seq_batch(Seq2SeqBatchData& out, const TaskInfo& info,
                        const std::vector<const TaskSample*>& samples);

struct TaskBatchShape {
  int batch_size = 0, grad_accum = 1, rank = 0, world = 1;
  uint64_t seed = 0;
};

// What both tasks' micro-batches share: the samples and their order.
class SampledMicroBatches : public MicroBatches {
 protected:
  SampledMicroBatches(const TaskInfo& info, const std::vector<TaskSample>& samples,
                      const TaskBatchShape& shape)
      : info_(info), samples_(samples), shape_(shape), order_(samples.size(), shape.seed) {}
  // This rank's samples of (step, micro); first_slot receives the first one's slot.
  std::vector<const TaskSample*> draw(long step, int micro, uint64_t& first_slot);

  const TaskInfo& info_;
  const std::vector<TaskSample>& samples_;
  TaskBatchShape shape_;
  SampleOrder order_;
};

class EncoderMicroBatches : public SampledMicroBatches {
 public:
  EncoderMicroBatches(EncoderModel& model, const TaskInfo& info,
                      const std::vector<TaskSample>& samples, bool mlm,
                      const TaskBatchShape& shape);
  float forward(long step, int micro, const ForwardOptions& options) override;

 private:
  EncoderModel& model_;
  bool mlm_;
  EncoderBatchData batch_;
};

class Seq2SeqMicroBatches : public SampledMicroBatches {
 public:
  Seq2SeqMicroBatches(Seq2SeqModel& model, const TaskInfo& info,
                      const std::vector<TaskSample>& samples, float label_smoothing,
                      const TaskBatchShape& shape);
  float forward(long step, int micro, const ForwardOptions& options) override;

 private:
  Seq2SeqModel& model_;
  float smoothing_;
  Seq2SeqBatchData batch_;
};

}  // namespace cohort
