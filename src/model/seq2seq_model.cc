// Dropout sites: 0 source embeddings, 1 target embeddings, encoder block l from
// 2 + kBlockDropoutSites*l, decoder block l from 2 + kBlockDropoutSites*(n_layer + l).
#include "model/seq2seq_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace cohort {

Seq2SeqModel::Seq2SeqModel(const ModelConfig& config, Backend& backend) : Model(config, backend) {
  COHORT_CHECK(config_.arch == "seq2seq") << "Seq2SeqModel needs model.arch = seq2seq";
  for (int l = 0; l < config_.n_layer; ++l) {
    const std::string prefix = fmt::format("enc.{}.", l);
    enc_.push_back(block_params(layout_, params(), prefix, enc_spec_));
    denc_.push_back(block_params(layout_, grads(), prefix, enc_spec_));
  }
  for (int l = 0; l < config_.n_decoder_layer; ++l) {
    const std::string prefix = fmt::format("dec.{}.", l);
    dec_.push_back(block_params(layout_, params(), prefix, dec_spec_));
    ddec_.push_back(block_params(layout_, grads(), prefix, dec_spec_));
  }
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
  enc_acts_.assign(config_.n_layer, {});
  for (auto& a : enc_acts_) a.plan(p, B, S, C, NH, enc_spec_, 0);
  p.add(&memory_, BS * C);
  p.add(&enc_ln_mean_, BS);
  p.add(&enc_ln_rstd_, BS);
  p.add(&dmemory_, BS * C);
  p.add(&dres_src_, BS * C);
  p.add(&tgt_emb_, BT * C);
  dec_acts_.assign(config_.n_decoder_layer, {});
  for (auto& a : dec_acts_) a.plan(p, B, T, C, NH, dec_spec_, S);
  scratch_.plan(p, B, S > T ? S : T, C, NH, S);
  p.add(&lnf_, BT * C);
  p.add(&lnf_mean_, BT);
  p.add(&lnf_rstd_, BT);
  p.add(&logits_, BT * Vp);
  p.add(&probs_, BT * Vp);
  p.add(&losses_, BT);
  p.add(&src_, BS);
  p.add(&src_len_, size_t(B));
  p.add(&tgt_in_, BT);
  p.add(&tgt_out_, BT);
  p.add(&row_scale_, BT);
  p.add(&dlnf_, BT * C);
  p.add(&dres_tgt_, BT * C);
  arena_ = p.allocate(backend_.memory());
  plan_B_ = B;
  plan_S_ = S;
  plan_T_ = T;
}

void Seq2SeqModel::encode_impl(const ForwardOptions& options) {
  const int B = B_, S = S_, C = config_.n_embd, NH = config_.n_head;
  Backend& be = backend_;
  const float* P = params();
  be.embedding_forward(src_emb_, src_, P + layout_.at("wte.weight").offset,
                       P + layout_.at("wpe.weight").offset, B, S, C);
  be.dropout(src_emb_, B, size_t(S) * C, dropout_key(options, 0));
  BlockInputs in;
  in.B = B;
  in.T = S;
  in.self_len = src_len_;
  const float* x = src_emb_;
  for (int l = 0; l < config_.n_layer; ++l) {
    block_forward(be, enc_spec_, enc_[l], enc_acts_[l], scratch_, x, in, C, NH,
                  {dropout_key(options, 2 + kBlockDropoutSites * l)});
    x = enc_acts_[l].out;
  }
  be.layernorm_forward(memory_, enc_ln_mean_, enc_ln_rstd_, x,
                       P + layout_.at("enc_ln_f.weight").offset,
                       P + layout_.at("enc_ln_f.bias").offset, size_t(B) * S, C);
}

void Seq2SeqModel::decode_impl(const ForwardOptions& options) {
  const int B = B_, T = T_, C = config_.n_embd, NH = config_.n_head;
  const size_t BT = size_t(B) * T;
  Backend& be = backend_;
  const float* P = params();
  const size_t wte = layout_.at("wte.weight").offset;
  be.embedding_forward(tgt_emb_, tgt_in_, P + wte, P + layout_.at("wpe.weight").offset, B, T, C);
  be.dropout(tgt_emb_, B, size_t(T) * C, dropout_key(options, 1));
  BlockInputs in;
  in.B = B;
  in.T = T;
  in.memory = memory_;
  in.S = S_;
  in.memory_len = src_len_;
  const float* x = tgt_emb_;
  for (int l = 0; l < config_.n_decoder_layer; ++l) {
    block_forward(be, dec_spec_, dec_[l], dec_acts_[l], scratch_, x, in, C, NH,
                  {dropout_key(options, 2 + kBlockDropoutSites * (config_.n_layer + l))});
    x = dec_acts_[l].out;
  }
  be.layernorm_forward(lnf_, lnf_mean_, lnf_rstd_, x, P + layout_.at("ln_f.weight").offset,
                       P + layout_.at("ln_f.bias").offset, BT, C);
  be.lm_head_forward(logits_, lnf_, P + wte, BT, C, config_.padded_vocab_size());
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
  be.lm_head_backward(dlnf_, G + wte, probs_, lnf_, P + wte, BT, C, Vp);
  mem.fill_zero(dres_tgt_, BT * C * sizeof(float));
  const size_t lnw = layout_.at("ln_f.weight").offset, lnb = layout_.at("ln_f.bias").offset;
  const float* top = config_.n_decoder_layer > 0 ? dec_acts_.back().out : tgt_emb_;
  auto ready = [&](size_t unit) {
    if (grad_ready) grad_ready(unit);
  };
  const int L = config_.n_layer, D = config_.n_decoder_layer;
  be.layernorm_backward(dres_tgt_, G + lnw, G + lnb, dlnf_, top, P + lnw, lnf_mean_, lnf_rstd_, BT,
                        C);
  ready(0);
  mem.fill_zero(dmemory_, BS * C * sizeof(float));
  BlockInputs in;
  in.B = B;
  in.T = T;
  in.memory = memory_;
  in.dmemory = dmemory_;
  in.S = S;
  in.memory_len = src_len_;
  for (int l = config_.n_decoder_layer - 1; l >= 0; --l) {
    const float* x = l == 0 ? tgt_emb_ : dec_acts_[l - 1].out;
    block_backward(be, dec_spec_, dec_[l], ddec_[l], dec_acts_[l], scratch_, x, dres_tgt_, in, C,
                   NH, {dropout_key(options_, 2 + kBlockDropoutSites * (config_.n_layer + l))});
    ready(size_t(D - l));
  }
  be.dropout(dres_tgt_, B, size_t(T) * C, dropout_key(options_, 1));
  be.embedding_backward(G + wte, G + wpe, dres_tgt_, tgt_in_, B, T, C);

  mem.fill_zero(dres_src_, BS * C * sizeof(float));
  const size_t ew = layout_.at("enc_ln_f.weight").offset, eb = layout_.at("enc_ln_f.bias").offset;
  const float* enc_top = config_.n_layer > 0 ? enc_acts_.back().out : src_emb_;
  be.layernorm_backward(dres_src_, G + ew, G + eb, dmemory_, enc_top, P + ew, enc_ln_mean_,
                        enc_ln_rstd_, BS, C);
  ready(size_t(D) + 1);
  BlockInputs ein;
  ein.B = B;
  ein.T = S;
  ein.self_len = src_len_;
  for (int l = config_.n_layer - 1; l >= 0; --l) {
    const float* x = l == 0 ? src_emb_ : enc_acts_[l - 1].out;
    block_backward(be, enc_spec_, enc_[l], denc_[l], enc_acts_[l], scratch_, x, dres_src_, ein, C,
                   NH, {dropout_key(options_, 2 + kBlockDropoutSites * l)});
    ready(size_t(D + 1 + L - l));
  }
  be.dropout(dres_src_, B, size_t(S) * C, dropout_key(options_, 0));
  be.embedding_backward(G + wte, G + wpe, dres_src_, src_, B, S, C);
  ready(size_t(D + L) + 2);
}

}  // namespace cohort
