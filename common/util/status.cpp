#include "util/status.h"

namespace fp {

const char* Status::code_name(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      return "Invalid argument";
    case Code::kNotFound:
      return "Not found";
    case Code::kCorruption:
      return "Corruption";
    case Code::kIOError:
      return "IO error";
    case Code::kProtocol:
      return "Protocol error";
    case Code::kUnavailable:
      return "Unavailable";
    case Code::kInternal:
      return "Internal error";
    case Code::kCancelled:
      return "Cancelled";
  }
  return "Unknown";
}

std::string Status::to_string() const {
  if (ok()) return "OK";
  return std::string(code_name(code_)) + ": " + message_;
}

BadResultAccess::BadResultAccess(const Status& status)
    : std::logic_error("the value of a Result that holds an error was asked for: " +
                       status.to_string()) {}

}  // namespace fp
