// Status and Result<T>: error values in the style of LevelDB's Status.
// Every fallible engine call returns one; the message names what was wrong.
#pragma once

#include <cassert>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace fp {

// [[nodiscard]]: a Status nobody looks at is a bug; `(void)` says it was meant.
class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,  // a wrong config, option or argument
    kNotFound,         // a missing file, model, agent or record
    kCorruption,       // bytes that do not decode: truncated or damaged files, bad frames
    kIOError,          // the operating system refused a read or write
    kProtocol,         // a peer broke the wire protocol
    kUnavailable,      // a peer or resource is not reachable now; retry later
    kInternal,         // a bug or an unexpected library failure
    kCancelled,        // stopped on request (a signal, a stop flag) before it finished
  };

  Status() = default;
  static Status ok_status() { return Status(); }
  static Status invalid_argument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status not_found(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status io_error(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status protocol(std::string m) { return {Code::kProtocol, std::move(m)}; }
  static Status unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // The same error with `context` before its message ("--individual: " + message); OK stays OK.
  Status with_context(const std::string& context) const {
    return ok() ? *this : Status(code_, context + message_);
  }
  // The same kind of error with another message (one fit to leave the process); OK stays OK.
  Status with_message(std::string message) const {
    return ok() ? *this : Status(code_, std::move(message));
  }
  // "Corruption: model.fpm: bad magic" style text for logs and users.
  std::string to_string() const;
  static const char* code_name(Code code);

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// Thrown by asking a Result that holds an error for its value: a bug in the caller, who
// should have checked ok(); the message names the error (instead of reading an empty value).
class BadResultAccess : public std::logic_error {
 public:
  explicit BadResultAccess(const Status& status);
};

// A value or the Status explaining why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit on purpose
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result built from an OK status carries no value");
    if (status_.ok()) status_ = Status::internal("Result built from an OK status");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // The value; on a Result that holds an error these throw BadResultAccess.
  T& value() & { return checked(); }
  const T& value() const& { return checked(); }
  T&& value() && { return std::move(checked()); }
  // The value, or `otherwise` for an error (a figure a caller can do without).
  T value_or(T otherwise) const& { return ok() ? *value_ : std::move(otherwise); }
  T value_or(T otherwise) && { return ok() ? std::move(*value_) : std::move(otherwise); }
  T* operator->() { return &checked(); }
  const T* operator->() const { return &checked(); }
  T& operator*() & { return checked(); }
  const T& operator*() const& { return checked(); }

 private:
  T& checked() {
    if (!value_) throw BadResultAccess(status_);
    return *value_;
  }
  const T& checked() const {
    if (!value_) throw BadResultAccess(status_);
    return *value_;
  }

  Status status_;
  std::optional<T> value_;
};

}  // namespace fp

#define FP_CONCAT_INNER(a, b) a##b
#define FP_CONCAT(a, b) FP_CONCAT_INNER(a, b)

// Returns early from the calling function when `expr` yields a non-OK Status.
#define FP_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::fp::Status fp_status_ = (expr);        \
    if (!fp_status_.ok()) return fp_status_; \
  } while (0)

// `FP_ASSIGN_OR_RETURN(auto x, make_x());` binds the value or returns the error.
#define FP_ASSIGN_OR_RETURN(lhs, expr) \
  FP_ASSIGN_OR_RETURN_IMPL(FP_CONCAT(fp_result_, __LINE__), lhs, expr)
#define FP_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
