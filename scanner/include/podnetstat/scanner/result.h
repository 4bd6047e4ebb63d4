#pragma once

// Result<T>: a value or an error message, for failures that are expected (a missing file, a
// vanished process, a bad argument). Exceptions never cross a library boundary.

#include <string>
#include <utility>
#include <variant>

namespace podnetstat {

struct Error {
  std::string message;
};

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
