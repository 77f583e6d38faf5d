// BatchSource: where a training step gets its tokens. A batch is a pure function of
// (step, micro-batch), so a resumed run sees the same batches as an unbroken one.
#pragma once

#include <cstdint>
#include <string>

namespace cohort {

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Fills inputs and targets (B, T); targets are inputs shifted by one position.
  virtual void fill(long step, int micro, int B, int T, int32_t* inputs, int32_t* targets) = 0;
  virtual int vocab_size() const = 0;
  virtual std::string describe() const = 0;
};

}  // namespace cohort
