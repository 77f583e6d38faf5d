#include "data/sentencepiece_tokenizer.h"

#include <fmt/format.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file_io.h"

namespace cohort {

SentencePieceTokenizer::SentencePieceTokenizer(std::string model_bytes, std::string kind,
                                               const std::string& source)
    : kind_(std::move(kind)),
      model_bytes_(std::move(model_bytes)),
      sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  const auto status = sp_->LoadFromSerializedProto(model_bytes_);
  if (!status.ok()) {
    throw Error(fmt::format("{}: not a SentencePiece model: {}", source, status.ToString()));
  }
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::train(
    const std::vector<std::string>& inputs, const std::string& model_type, int vocab_size,
    const std::filesystem::path& work_dir) {
  std::string input_list;
  for (const auto& f : inputs) input_list += (input_list.empty() ? "" : ",") + f;
  const std::string prefix = (work_dir / "sentencepiece").string();
  // Identity normalization and kept whitespace make decode(encode(s)) == s; byte
  // fallback removes <unk>. Sentences are lines; long lines are allowed.
  const std::string args = fmt::format(
      "--input={} --model_prefix={} --model_type={} --vocab_size={} --character_coverage=1.0 "
      "--byte_fallback=true --normalization_rule_name=identity --remove_extra_whitespaces=false "
      "--split_digits=true --max_sentence_length=65536 --input_sentence_size=2000000 "
      "--shuffle_input_sentence=true --num_threads=2 --minloglevel=2 --bos_id=-1 --eos_id=-1 "
      "--unk_id=0 --pad_id=-1 --hard_vocab_limit=false",
      input_list, prefix, model_type, vocab_size);
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  if (!status.ok()) {
    throw Error(fmt::format("sentencepiece training failed: {}", status.ToString()));
  }
  const std::string model_path = prefix + ".model";
  auto tok = std::make_unique<SentencePieceTokenizer>(read_file(model_path),
                                                      "sentencepiece-" + model_type, model_path);
  std::filesystem::remove(model_path);
  std::filesystem::remove(prefix + ".vocab");
  return tok;
}

int SentencePieceTokenizer::vocab_size() const { return sp_->GetPieceSize(); }

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  if (!status.ok()) throw Error(fmt::format("sentencepiece: {}", status.ToString()));
  return {ids.begin(), ids.end()};
}

std::string SentencePieceTokenizer::decode(std::span<const int32_t> ids) const {
  std::vector<int> v;
  v.reserve(ids.size());
  for (int32_t id : ids) {
    if (id >= 0 && id < vocab_size()) v.push_back(id);
  }
  std::string out;
  const auto status = sp_->Decode(v, &out);
  if (!status.ok()) throw Error(fmt::format("sentencepiece: {}", status.ToString()));
  return out;
}

void SentencePieceTokenizer::save(const std::filesystem::path& dir) const {
  write_file_atomic(dir / "sentencepiece.model", model_bytes_);
  write_file_atomic(dir / "tokenizer.json", nlohmann::json{{"kind", kind()},
                                                           {"vocab_size", vocab_size()},
                                                           {"model", "sentencepiece.model"}}
                                                .dump(2));
}

}  // namespace cohort
