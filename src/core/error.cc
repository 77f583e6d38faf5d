#include "core/error.h"

namespace cohort::detail {

CheckFailure::CheckFailure(const char* file, int line, const char* cond) {
  stream_ << "internal check failed at " << file << ":" << line << ": " << cond << " ";
}

CheckFailure::~CheckFailure() noexcept(false) { throw Error(stream_.str(), kExitInternal); }

}  // namespace cohort::detail
