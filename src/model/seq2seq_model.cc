// Dropout sites: 0 source embeddings, 1 target embeddings, encoder block l from
// 2 + kBlockDropoutRoles*l, decoder block l from 2 + kBlockDropoutRoles*(n_layer + l).
#include "model/seq2seq_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace cohort {

// The encoder's blocks attend both ways over the source's valid positions; the decoder's
// causally over the target, then across to the encoder's output. The memory is decoded
// against across several forwards (decode()), so it is not held for products only.
Seq2SeqModel::Seq2SeqModel(const ModelConfig& config, Backend& backend)
    : Model(config, backend),
      encoder_(layout_, params(), grads(), "enc.", config.n_layer, BlockSpec{.padded = true},
               "enc_ln_f.", /*final_products_only=*/false, BlockDropoutSites{.first = 2}),
      decoder_(layout_, params(), grads(), "dec.", config.n_decoder_layer,
               BlockSpec{.causal = true, .variable_length = true, .cross = true}, "ln_f.",
               /*final_products_only=*/true,
               BlockDropoutSites{.first = 2 + uint32_t(kBlockDropoutRoles * config.n_layer)}) {
  COHORT_CHECK(config_.arch == "seq2seq") << "Seq2SeqModel needs model.arch = seq2seq";
  // The units backward finishes: ln_f, the decoder's blocks from the top, enc_ln_f (once
  // every cross-attention has added to the memory's gradient), the encoder's blocks from
  // the top, then the shared embeddings.
  const int L = config_.n_layer, D = config_.n_decoder_layer;
  set_grad_ready_units(size_t(D + L) + 3, [L, D](const std::string& name) {
    if (name.starts_with("ln_f.")) return size_t(0);
    if (name.starts_with("dec.")) return size_t(D - std::stoi(name.substr(4)));
    if (name.starts_with("enc_ln_f.")) return size_t(D) + 1;
    if (name.starts_with("enc.")) return size_t(D + 1 + L - std::stoi(name.substr(4)));
    return size_t(D + L) + 2;  // wte, wpe
  });
}

void Seq2SeqModel::plan(int B, int S, int T) {
  if (B <= 0 || S <= 0 || T <= 0 || S > config_.context_length || T > config_.context_length) {
    throw Error(
        fmt::format("seq2seq batch B={} S={} T={}: each must be positive and S, T <= "
                    "model.context_length {}",
                    B, S, T, config_.context_length));
  }
  const int C = config_.n_embd, NH = config_.n_head, Vp = config_.padded_vocab_size();
  const size_t BS = size_t(B) * S, BT = size_t(B) * T;
  BufferPlan p;
  p.add(&src_emb_, BS * C);
  encoder_.plan(enc_acts_, p, backend_, B, S, C, NH);
  p.add(&dmemory_, BS * C);
  p.add(&tgt_emb_, BT * C);
  decoder_.plan(dec_acts_, p, backend_, B, T, C, NH, S);
  scratch_.plan(p, backend_, B, S > T ? S : T, C, NH, S, true);
  p.add(&logits_, BT * Vp);
  p.add(&probs_, BT * Vp);
  p.add(&losses_, BT);
  p.add(&src_, BS);
  p.add(&src_len_, size_t(B));
  p.add(&tgt_in_, BT);
  p.add(&tgt_out_, BT);
  p.add(&row_scale_, BT);
  p.add(&dlnf_, BT * C);
  arena_ = p.allocate(backend_.memory());
  plan_B_ = B;
  plan_S_ = S;
  plan_T_ = T;
}

void Seq2SeqModel::encode_impl(const ForwardOptions& options) {
  const int B = B_, S = S_, C = config_.n_embd, NH = config_.n_head;
  Backend& be = backend_;
  // The shared embeddings' unit (also the LM head's) stays gathered until backward has
  // finished it.
  const int L = config_.n_layer, D = config_.n_decoder_layer;
  units_.gather(size_t(D + L) + 2, ParameterStore::Pass::forward);
  const float* P = params();
  be.embedding_forward(src_emb_, src_, P + layout_.at("wte.weight").offset,
                       P + layout_.at("wpe.weight").offset, B, S, C);
  be.dropout(src_emb_, B, size_t(S) * C, dropout_key(options, 0));
  BlockInputs in;
  in.B = B;
  in.T = S;
  in.self_len = src_len_;
  encoder_.forward(be, enc_acts_, scratch_, src_emb_, in, C, NH, dropout_key(options, 0),
                   {units_, size_t(D) + 1});
  units_.release(size_t(D) + 1);
}

void Seq2SeqModel::decode_impl(const ForwardOptions& options) {
  const int B = B_, T = T_, C = config_.n_embd, NH = config_.n_head;
  const size_t BT = size_t(B) * T;
  Backend& be = backend_;
  units_.gather(size_t(config_.n_decoder_layer + config_.n_layer) + 2,
                ParameterStore::Pass::forward);
  const float* P = params();
  const size_t wte = layout_.at("wte.weight").offset;
  be.embedding_forward(tgt_emb_, tgt_in_, P + wte, P + layout_.at("wpe.weight").offset, B, T, C);
  be.dropout(tgt_emb_, B, size_t(T) * C, dropout_key(options, 1));
  BlockInputs in;
  in.B = B;
  in.T = T;
  in.memory = enc_acts_.out;
  in.S = S_;
  in.memory_len = src_len_;
  decoder_.forward(be, dec_acts_, scratch_, tgt_emb_, in, C, NH, dropout_key(options, 0),
                   {units_, 0});
  be.lm_head_forward(logits_, dec_acts_.out, P + wte, BT, C, config_.padded_vocab_size());
}

void Seq2SeqModel::encode(const int32_t* src, const int32_t* src_len, int B, int S) {
  COHORT_CHECK(B <= plan_B_ && S <= plan_S_) << "encode exceeds the plan";
  check_lengths(src_len, B, S, "source");
  check_ids(src, size_t(B) * S, false, "source token");
  B_ = B;
  S_ = S;
  MemorySpace& mem = backend_.memory();
  mem.copy_from_host(src_, src, size_t(B) * S * sizeof(int32_t));
  mem.copy_from_host(src_len_, src_len, size_t(B) * sizeof(int32_t));
  has_targets_ = false;
  parameters_updated();
  encode_impl(ForwardOptions{});
}

std::vector<float> Seq2SeqModel::decode(const int32_t* tgt_in, int B, int T) {
  COHORT_CHECK(B == B_ && T <= plan_T_) << "decode needs the encoded batch's rows and T <= plan";
  check_ids(tgt_in, size_t(B) * T, false, "target token");
  T_ = T;
  backend_.memory().copy_from_host(tgt_in_, tgt_in, size_t(B) * T * sizeof(int32_t));
  has_targets_ = false;
  parameters_updated();
  decode_impl(ForwardOptions{});
  const size_t Vp = size_t(config_.padded_vocab_size());
  std::vector<float> last(size_t(B) * Vp);
  for (int b = 0; b < B; ++b) {
    backend_.memory().copy_to_host(last.data() + size_t(b) * Vp,
                                   logits_ + (size_t(b) * T + size_t(T - 1)) * Vp,
                                   Vp * sizeof(float));
  }
  return last;
}

std::vector<float> Seq2SeqModel::copy_logits(size_t first_row, size_t n_rows) const {
  COHORT_CHECK(first_row + n_rows <= size_t(B_) * T_) << "logits rows beyond the last batch";
  const size_t Vp = size_t(config_.padded_vocab_size());
  std::vector<float> out(n_rows * Vp);
  backend_.memory().copy_to_host(out.data(), logits_ + first_row * Vp, out.size() * sizeof(float));
  return out;
}

float Seq2SeqModel::forward(const Seq2SeqBatch& b, const ForwardOptions& options,
                            float label_smoothing) {
  COHORT_CHECK(plan_B_ > 0) << "plan(B, S, T) before forward";
  COHORT_CHECK(b.B <= plan_B_ && b.S <= plan_S_ && b.T <= plan_T_)
      << "batch exceeds the plan " << plan_B_ << "x" << plan_S_ << "x" << plan_T_;
  parameters_updated();
  check_lengths(b.src_len, b.B, b.S, "source");
  check_ids(b.src, size_t(b.B) * b.S, false, "source token");
  check_ids(b.tgt_in, size_t(b.B) * b.T, false, "target token");
  if (b.tgt_out) check_ids(b.tgt_out, size_t(b.B) * b.T, true, "target token");
  B_ = b.B;
  S_ = b.S;
  T_ = b.T;
  options_ = options;
  smoothing_ = label_smoothing;
  MemorySpace& mem = backend_.memory();
  mem.copy_from_host(src_, b.src, size_t(b.B) * b.S * sizeof(int32_t));
  mem.copy_from_host(src_len_, b.src_len, size_t(b.B) * sizeof(int32_t));
  mem.copy_from_host(tgt_in_, b.tgt_in, size_t(b.B) * b.T * sizeof(int32_t));
  encode_impl(options);
  decode_impl(options);
  has_targets_ = b.tgt_out != nullptr;
  if (!has_targets_) return 0.0f;
  const int B = b.B, T = b.T, V = config_.vocab_size, Vp = config_.padded_vocab_size();
  const size_t BT = size_t(B) * T;
  host_tgt_out_.assign(b.tgt_out, b.tgt_out + BT);
  sample_tokens_.assign(B, 0);
  sample_nll_.assign(B, 0.0);
  for (size_t i = 0; i < BT; ++i) sample_tokens_[i / T] += host_tgt_out_[i] >= 0;
  for (int s = 0; s < B; ++s) {
    if (sample_tokens_[s] == 0) throw Error(fmt::format("sample {} has no target token", s));
  }
  mem.copy_from_host(tgt_out_, b.tgt_out, BT * sizeof(int32_t));
  std::vector<float> losses(BT);
  backend_.masked_cross_entropy_forward(losses_, probs_, logits_, tgt_out_, BT, V, Vp,
                                        label_smoothing);
  mem.copy_to_host(losses.data(), losses_, BT * sizeof(float));
  double total = 0.0;
  for (size_t i = 0; i < BT; ++i) {
    if (host_tgt_out_[i] < 0) continue;
    const size_t s = i / T;
    total += losses[i] / double(sample_tokens_[s]);
    sample_nll_[s] += losses[i];  // -log p(target) when unsmoothed
  }
  if (label_smoothing > 0.0f) sample_nll_.assign(B, NAN);
  return float(total / B);
}

void Seq2SeqModel::backward(float loss_scale, const GradReadyFn& grad_ready) {
  COHORT_CHECK(has_targets_) << "backward needs a forward with targets";
  const int B = B_, S = S_, T = T_, C = config_.n_embd, NH = config_.n_head;
  const int V = config_.vocab_size, Vp = config_.padded_vocab_size();
  const size_t BT = size_t(B) * T, BS = size_t(B) * S;
  Backend& be = backend_;
  const float* P = params();
  float* G = grads();
  const size_t wte = layout_.at("wte.weight").offset, wpe = layout_.at("wpe.weight").offset;
  MemorySpace& mem = be.memory();
  std::vector<float> scale(BT);
  for (size_t i = 0; i < BT; ++i) scale[i] = loss_scale / float(B * sample_tokens_[i / T]);
  mem.copy_from_host(row_scale_, scale.data(), BT * sizeof(float));
  be.masked_cross_entropy_backward(probs_, probs_, tgt_out_, row_scale_, BT, V, Vp, smoothing_);
  // ln_f's input gradient is read once, by ln_f's backward (Backend::pass_gradient).
  be.pass_gradient(dlnf_, BT * C);
  be.lm_head_backward(dlnf_, G + wte, probs_, dec_acts_.out, P + wte, BT, C, Vp);
  const int L = config_.n_layer, D = config_.n_decoder_layer;
  auto ready = [&](size_t unit) {
    if (grad_ready) grad_ready(unit);
  };
  // The decoder's units first (ln_f 0, block l D - l), then, once every cross-attention has
  // added to the memory's gradient, the encoder's (enc_ln_f D + 1, block l D + 1 + L - l).
  mem.fill_zero(dmemory_, BS * C * sizeof(float));
  BlockInputs in;
  in.B = B;
  in.T = T;
  in.memory = enc_acts_.out;
  in.dmemory = dmemory_;
  in.S = S;
  in.memory_len = src_len_;
  decoder_.backward(be, dec_acts_, scratch_, tgt_emb_, dlnf_, in, C, NH, dropout_key(options_, 0),
                    ready, {units_, 0});
  be.dropout(dec_acts_.dres, B, size_t(T) * C, dropout_key(options_, 1));
  be.embedding_backward(G + wte, G + wpe, dec_acts_.dres, tgt_in_, B, T, C);

  BlockInputs ein;
  ein.B = B;
  ein.T = S;
  ein.self_len = src_len_;
  encoder_.backward(be, enc_acts_, scratch_, src_emb_, dmemory_, ein, C, NH,
                    dropout_key(options_, 0), [&](size_t k) { ready(size_t(D) + 1 + k); },
                    {units_, size_t(D) + 1});
  be.dropout(enc_acts_.dres, B, size_t(S) * C, dropout_key(options_, 0));
  be.embedding_backward(G + wte, G + wpe, enc_acts_.dres, src_, B, S, C);
  ready(size_t(D + L) + 2);
  units_.release(size_t(D + L) + 2);
}

}  // namespace cohort
