#include "train/beam_search.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/error.h"

namespace cohort {

namespace {

struct Hypothesis {
  std::vector<int32_t> tokens;  // BOS first
  double logp = 0.0;
};

double penalized(double logp, size_t len, float alpha) {
  return alpha == 0.0f ? logp : logp / std::pow((5.0 + double(len)) / 6.0, double(alpha));
}

}  // namespace

std::vector<int32_t> beam_search(Seq2SeqModel& model, const TaskInfo& info,
                                 const std::vector<int32_t>& source, const BeamOptions& o) {
  if (o.beam < 1) throw Error("--beam must be at least 1");
  const int K = o.beam;
  const int V = model.config().vocab_size, Vp = model.config().padded_vocab_size();
  const int max_len = o.max_len > 0 ? o.max_len : model.config().context_length;
  const int S = int(source.size()) + 1;
  std::vector<int32_t> src(size_t(K) * S), src_len(K, S);
  for (int k = 0; k < K; ++k) {
    std::copy(source.begin(), source.end(), src.begin() + size_t(k) * S);
    src[size_t(k) * S + S - 1] = info.eos_id;
  }
  model.encode(src.data(), src_len.data(), K, S);

  std::vector<Hypothesis> live = {{{info.bos_id}, 0.0}};
  std::vector<std::pair<double, std::vector<int32_t>>> ended;  // (score, tokens without BOS/EOS)
  std::vector<int32_t> prefixes;
  std::vector<double> logprobs(V);
  // Done when K hypotheses have ended and no live one can still beat the K-th best:
  // log p only falls as a hypothesis grows, so a live one's best possible score is its
  // log p under the largest length penalty, that of max_len tokens.
  auto settled = [&]() {
    if (int(ended.size()) < K) return false;
    std::vector<double> scores;
    for (const auto& e : ended) scores.push_back(e.first);
    std::nth_element(scores.begin(), scores.begin() + (K - 1), scores.end(), std::greater<>());
    double best_live = -INFINITY;
    for (const auto& h : live)
      best_live = std::max(best_live, penalized(h.logp, max_len, o.length_penalty));
    return best_live <= scores[K - 1];
  };
  for (int t = 1; t <= max_len && !live.empty() && !settled(); ++t) {
    // Every live prefix in one decoder batch; rows beyond them repeat the first.
    prefixes.assign(size_t(K) * t, 0);
    for (int k = 0; k < K; ++k) {
      const auto& h = live[std::min<size_t>(k, live.size() - 1)];
      std::copy(h.tokens.begin(), h.tokens.end(), prefixes.begin() + size_t(k) * t);
    }
    const std::vector<float> last = model.decode(prefixes.data(), K, t);  // (K, Vp)
    struct Candidate {
      double logp;
      size_t from;
      int32_t token;
    };
    std::vector<Candidate> cands;
    for (size_t k = 0; k < live.size(); ++k) {
      const float* z = last.data() + k * Vp;
      // Only the model's real tokens: never BOS (or other specials but EOS).
      double maxv = -INFINITY;
      for (int v = 0; v < V; ++v) maxv = std::max(maxv, double(z[v]));
      double sum = 0;
      for (int v = 0; v < V; ++v) sum += std::exp(double(z[v]) - maxv);
      const double lse = maxv + std::log(sum);
      std::vector<Candidate> mine;
      for (int v = 0; v < V; ++v) {
        if (v >= info.tokenizer_vocab && v != info.eos_id) continue;
        mine.push_back({live[k].logp + double(z[v]) - lse, k, v});
      }
      const size_t keep = std::min(mine.size(), size_t(K));
      std::partial_sort(mine.begin(), mine.begin() + keep, mine.end(),
                        [](const Candidate& a, const Candidate& b) { return a.logp > b.logp; });
      cands.insert(cands.end(), mine.begin(), mine.begin() + keep);
    }
    std::stable_sort(cands.begin(), cands.end(),
                     [](const Candidate& a, const Candidate& b) { return a.logp > b.logp; });
    std::vector<Hypothesis> next;
    for (const auto& c : cands) {
      if (int(next.size()) == K) break;
      std::vector<int32_t> tokens = live[c.from].tokens;
      if (c.token == info.eos_id || t == max_len) {
        if (c.token != info.eos_id) tokens.push_back(c.token);
        const size_t len = tokens.size();  // BOS dropped, EOS counted
        ended.emplace_back(penalized(c.logp, len, o.length_penalty),
                           std::vector<int32_t>(tokens.begin() + 1, tokens.end()));
        continue;
      }
      tokens.push_back(c.token);
      next.push_back({std::move(tokens), c.logp});
    }
    live = std::move(next);
  }
  if (ended.empty()) {
    const auto& best = live.front();
    return {best.tokens.begin() + 1, best.tokens.end()};
  }
  return std::max_element(ended.begin(), ended.end(),
                          [](const auto& a, const auto& b) { return a.first < b.first; })
      ->second;
}

}  // namespace cohort
