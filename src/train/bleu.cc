#include "train/bleu.h"

#include <cmath>
#include <map>
#include <regex>
#include <sstream>

#include "core/error.h"

namespace cohort {

namespace {

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
    s.replace(p, from.size(), to);
}

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

using NgramCounts = std::map<std::vector<std::string>, int>;

NgramCounts ngrams(const std::vector<std::string>& w, int n) {
  NgramCounts c;
  for (size_t i = 0; i + n <= w.size(); ++i)
    ++c[std::vector<std::string>(w.begin() + i, w.begin() + i + n)];
  return c;
}

}  // namespace

std::string tokenize_13a(const std::string& input) {
  std::string line = input;
  replace_all(line, "<skipped>", "");
  replace_all(line, "-\n", "");
  replace_all(line, "\n", " ");
  if (line.find('&') != std::string::npos) {
    replace_all(line, "&quot;", "\"");
    replace_all(line, "&amp;", "&");
    replace_all(line, "&lt;", "<");
    replace_all(line, "&gt;", ">");
  }
  line = " " + line + " ";
  // sacreBLEU's TokenizerRegexp, in its order.
  static const std::regex punct(R"(([\{-\~\[-\` -\&\(-\+\:-\@\/]))");
  static const std::regex period_after(R"(([^0-9])([\.,]))");
  static const std::regex period_before(R"(([\.,])([^0-9]))");
  static const std::regex dash(R"(([0-9])(-))");
  line = std::regex_replace(line, punct, " $1 ");
  line = std::regex_replace(line, period_after, "$1 $2 ");
  line = std::regex_replace(line, period_before, " $1 $2");
  line = std::regex_replace(line, dash, "$1 $2 ");
  std::string out;
  for (const auto& w : split_words(line)) out += (out.empty() ? "" : " ") + w;
  return out;
}

BleuScore corpus_bleu(const std::vector<std::string>& hyps, const std::vector<std::string>& refs) {
  if (hyps.size() != refs.size())
    throw Error("corpus_bleu: as many hypotheses as references are needed");
  BleuScore s;
  double correct[4] = {0, 0, 0, 0}, total[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < hyps.size(); ++i) {
    const auto h = split_words(tokenize_13a(hyps[i]));
    const auto r = split_words(tokenize_13a(refs[i]));
    s.sys_len += long(h.size());
    s.ref_len += long(r.size());
    for (int n = 1; n <= 4; ++n) {
      const NgramCounts hc = ngrams(h, n), rc = ngrams(r, n);
      for (const auto& [g, c] : hc) {
        auto it = rc.find(g);
        correct[n - 1] += std::min(c, it == rc.end() ? 0 : it->second);
      }
      total[n - 1] += h.size() >= size_t(n) ? double(h.size() - n + 1) : 0.0;
    }
  }
  if (s.sys_len < s.ref_len) {
    s.brevity_penalty = s.sys_len > 0 ? std::exp(1.0 - double(s.ref_len) / double(s.sys_len)) : 0.0;
  } else {
    s.brevity_penalty = 1.0;
  }
  double smooth = 1.0, log_sum = 0.0;
  for (int n = 0; n < 4; ++n) {
    if (total[n] == 0) {  // no n-grams of this order at all: BLEU is 0
      for (int m = n; m < 4; ++m) s.precisions[m] = 0.0;
      s.score = 0.0;
      return s;
    }
    if (correct[n] == 0) {
      smooth *= 2;
      s.precisions[n] = 100.0 / (smooth * total[n]);
    } else {
      s.precisions[n] = 100.0 * correct[n] / total[n];
    }
    log_sum += std::log(s.precisions[n]);
  }
  s.score = s.brevity_penalty * std::exp(log_sum / 4.0);
  return s;
}

}  // namespace cohort
