#include "model/make_model.h"

#include "model/encoder_model.h"
#include "model/gpt.h"
#include "model/seq2seq_model.h"

namespace cohort {

std::unique_ptr<Model> make_model(const ModelConfig& config, Backend& backend) {
  if (config.arch == "encoder") return std::make_unique<EncoderModel>(config, backend);
  if (config.arch == "seq2seq") return std::make_unique<Seq2SeqModel>(config, backend);
  return std::make_unique<Gpt>(config, backend);
}

}  // namespace cohort
