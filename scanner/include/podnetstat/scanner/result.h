#pragma once

// Result<T>: a value or an error, for failures that are expected (a missing file, a vanished
// process, a bad argument). An error says what went wrong in words and, as its kind, what sort
// of failure it is, so that callers decide (an HTTP status, an exit code) without reading the
// words. Exceptions never cross a library boundary.

#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>

namespace podnetstat {

/// What sort of failure an error is.
enum class ErrorKind : std::uint8_t {
  Failed,       // none of the below
  Invalid,      // a bad argument, flag or parameter
  NotFound,     // what was asked for does not exist
  Gone,         // it existed and went away (an exited process, a deleted namespace)
  Permission,   // not allowed (EACCES, EPERM; a server's 401 or 403)
  Malformed,    // input that does not parse
  Unavailable,  // cannot be had now (a source down or timing out, no way in)
};

struct Error {
  std::string message;
  ErrorKind kind = ErrorKind::Failed;
};

/// The kind of an errno met reading a process's or namespace's files: ENOENT and ESRCH (it
/// exited, or its names and PIDs now lead elsewhere) are Gone, EACCES and EPERM Permission,
/// anything else Unavailable.
inline ErrorKind errorKindOfErrno(int err) {
  switch (err) {
    case ENOENT:
    case ESRCH:
      return ErrorKind::Gone;
    case EACCES:
    case EPERM:
      return ErrorKind::Permission;
    default:
      return ErrorKind::Unavailable;
  }
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design

  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }

  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }

  const T& value() const& { return std::get<0>(v_); }

  T&& value() && { return std::get<0>(std::move(v_)); }

  T& operator*() & { return value(); }

  const T& operator*() const& { return value(); }

  T* operator->() { return &value(); }

  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

/// Result of an operation with no value.
struct Ok {};

}  // namespace podnetstat
