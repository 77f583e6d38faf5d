#include "io/tensor_names.h"

namespace cohort {

std::string hf_tensor_name(const std::string& arch, const std::string& name) {
  (void)arch;  // every family writes cohort's names (GPT-2's)
  return name;
}

std::vector<std::string> hf_tensor_names_read(const std::string& arch, const std::string& name) {
  std::vector<std::string> names{hf_tensor_name(arch, name)};
  if (arch == "gpt") names.push_back("transformer." + names.front());  // GPT2LMHeadModel's
  return names;
}

}  // namespace cohort
