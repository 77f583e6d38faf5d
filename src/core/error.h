// Errors. At boundaries (files, CLI, config) code throws cohort::Error naming the
// file, the field and what was expected; the CLI prints its message on one line and
// exits with the error's exit code (2 for bad input). Inside the engine,
// COHORT_CHECK(cond) << "context" throws an InternalError with file and line: a
// failed check is a bug, not a user mistake.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace cohort {

// Exit codes of the cohort binary.
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitInternal = 3;

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, int exit_code = kExitBadInput)
      : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// An error every rank of a distributed run raises at the same point (after comparing
// notes in a collective): rank 0 alone reports it.
class CollectiveError : public Error {
 public:
  using Error::Error;
};

namespace detail {
// Collects the streamed context of a failed check, then throws from its destructor.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* cond);
  [[noreturn]] ~CheckFailure() noexcept(false);
  template <typename T>
  CheckFailure& operator<<(const T& v) {
    stream_ << v;
    return *this;
  }

 private:
  std::ostringstream stream_;
};
}  // namespace detail

}  // namespace cohort

#define COHORT_CHECK(cond) \
  if (cond) {              \
  } else                   \
    ::cohort::detail::CheckFailure(__FILE__, __LINE__, #cond)
