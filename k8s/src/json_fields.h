#pragma once

// Typed, non-throwing field access for the k8s parsers (private to the library). Each accessor
// returns a default when the field is missing or holds another JSON type, so a malformed document
// from a kubelet or a runtime degrades to empty fields instead of an exception.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "podnetstat/scanner/result.h"

namespace podnetstat::k8s::detail {

using nlohmann::json;

/// The member `key` of `object`; nullptr when `object` is not an object or lacks it.
inline const json* member(const json& object, const char* key) {
  if (!object.is_object()) {
    return nullptr;
  }
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

inline const json& objectAt(const json& object, const char* key) {
  static const json kEmptyObject = json::object();
  const json* v = member(object, key);
  return v != nullptr && v->is_object() ? *v : kEmptyObject;
}

inline const json& arrayAt(const json& object, const char* key) {
  static const json kEmptyArray = json::array();
  const json* v = member(object, key);
  return v != nullptr && v->is_array() ? *v : kEmptyArray;
}

inline std::string stringAt(const json& object, const char* key) {
  const json* v = member(object, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string{};
}

inline bool boolAt(const json& object, const char* key) {
  const json* v = member(object, key);
  return v != nullptr && v->is_boolean() && v->get<bool>();
}

/// An integer field within [min, max]; nullopt when missing, not an integer or out of range.
inline std::optional<std::int64_t> intAt(const json& object,
                                         const char* key,
                                         std::int64_t min,
                                         std::int64_t max) {
  const json* v = member(object, key);
  if (v == nullptr || !v->is_number_integer()) {
    return std::nullopt;
  }
  if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
    return std::nullopt;
  }
  const auto n = v->get<std::int64_t>();
  return n >= min && n <= max ? std::optional<std::int64_t>(n) : std::nullopt;
}

/// The string members of an object (others are dropped).
inline std::map<std::string, std::string> stringMap(const json& object) {
  std::map<std::string, std::string> out;
  if (!object.is_object()) {
    return out;
  }
  for (const auto& [key, value] : object.items()) {
    if (value.is_string()) {
      out.emplace(key, value.get<std::string>());
    }
  }
  return out;
}

/// Parses a JSON document that must be an object; `what` prefixes the error message.
inline Result<json> parseObject(std::string_view text, std::string_view what) {
  json root;
  try {
    root = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return Error{std::string(what) + ": invalid JSON: " + e.what()};
  }
  if (!root.is_object()) {
    return Error{std::string(what) + ": expected a JSON object, got " + root.type_name()};
  }
  return root;
}

}  // namespace podnetstat::k8s::detail
