#include "api/schema.h"

#include <locale.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "api/format.h"
#include "api/pattern.h"

namespace ctdump::api {
namespace {

using nlohmann::json;

constexpr char kUnknown[] =
    "property is not defined in schema and the schema does not allow additional properties";
constexpr char kMissing[] = "property is missing and it is not optional";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

size_t SkipDigits(std::string_view s, size_t i) {
  while (i < s.size() && IsDigit(s[i])) ++i;
  return i;
}

// PVE's is_integer: ^[+-]?\d+$
bool IsInteger(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  return i < s.size() && SkipDigits(s, i) == s.size();
}

// PVE's is_number: ^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$
bool IsNumber(std::string_view s) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  size_t int_end = SkipDigits(s, i);
  size_t end = int_end;
  if (end < s.size() && s[end] == '.') end = SkipDigits(s, end + 1);
  size_t mantissa_digits = (end - i) - ((end > int_end) ? 1 : 0);
  if (mantissa_digits == 0) return false;
  if (end < s.size() && (s[end] == 'e' || s[end] == 'E')) {
    size_t e = end + 1;
    if (e < s.size() && (s[e] == '+' || s[e] == '-')) ++e;
    size_t exp_end = SkipDigits(s, e);
    if (exp_end == e) return false;
    end = exp_end;
  }
  return end == s.size();
}

// strtod in the C locale (a process locale must not change what "1.5"
// means); out-of-range values become +-inf or 0, as Perl's numification.
double ToDouble(const std::string& s) {
  static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  return strtod_l(s.c_str(), nullptr, c_locale);
}

// A bound as Perl prints it: 5, 0.5, 1e+20.
std::string FormatBound(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

std::string TypeFailed(ParamType type, std::string_view got) {
  return "type check ('" + std::string(ParamTypeName(type)) + "') failed - got " + std::string(got);
}

// The text of a scalar as Perl would see it, or the error for a reference.
std::optional<std::string> ScalarText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  return std::nullopt;
}

// Perl's ref() of a non-scalar JSON value.
std::string_view RefName(const json& v) {
  if (v.is_array()) return "ARRAY";
  if (v.is_object()) return "HASH";
  return "JSON::PP::Boolean";
}

// Type check and conversion of one scalar; nullopt on success (*out set).
std::optional<std::string> CheckType(const Param& p, const json& v, json* out) {
  if (v.is_boolean() && p.type == ParamType::kBoolean) {
    *out = v.get<bool>();
    return std::nullopt;
  }
  std::optional<std::string> text = ScalarText(v);
  if (!text) return TypeFailed(p.type, RefName(v));
  std::string quoted = "'" + *text + "'";
  switch (p.type) {
    case ParamType::kString:
    case ParamType::kArray:
      *out = *text;
      return std::nullopt;
    case ParamType::kBoolean:
      if (*text != "1" && *text != "0") return TypeFailed(p.type, quoted);
      *out = (*text == "1");
      return std::nullopt;
    case ParamType::kInteger: {
      if (!IsInteger(*text)) return TypeFailed(p.type, quoted);
      std::string_view s = *text;
      if (s[0] == '+') s.remove_prefix(1);
      int64_t i = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
      if (ec != std::errc() || ptr != s.data() + s.size()) return TypeFailed(p.type, quoted);
      *out = i;
      return std::nullopt;
    }
    case ParamType::kNumber:
      // A value beyond double's range is refused: a handler could not use it.
      if (!IsNumber(*text) || !std::isfinite(ToDouble(*text))) return TypeFailed(p.type, quoted);
      *out = ToDouble(*text);
      return std::nullopt;
  }
  return TypeFailed(p.type, quoted);
}

// The checks after the type, on the value's text, in PVE's order.
std::optional<std::string> CheckConstraints(const Param& p, const std::string& text) {
  if (!p.format.empty()) {
    if (auto err = CheckFormat(p.format, text)) return "invalid format - " + *err;
  }
  if (!p.pattern.empty()) {
    Result<Pattern> pattern = Pattern::Compile(p.pattern);
    if (!pattern.ok() || !pattern->Matches(text)) return "value does not match the regex pattern";
  }
  if (p.max_length && CodePoints(text) > *p.max_length)
    return "value may only be " + std::to_string(*p.max_length) + " characters long";
  if (p.min_length && CodePoints(text) < *p.min_length)
    return "value must be at least " + std::to_string(*p.min_length) + " characters long";
  if (IsNumber(text)) {
    double d = ToDouble(text);
    if (p.maximum && d > *p.maximum)
      return "value must have a maximum value of " + FormatBound(*p.maximum);
    if (p.minimum && d < *p.minimum)
      return "value must have a minimum value of " + FormatBound(*p.minimum);
  }
  if (!p.enum_values.empty()) {
    bool found = false;
    std::string list;
    for (const std::string& e : p.enum_values) {
      found = found || e == text;
      if (!list.empty()) list += ", ";
      list += e;
    }
    if (!found)
      return "value '" + text + "' does not have a value in the enumeration '" + list + "'";
  }
  return std::nullopt;
}

std::optional<std::string> CheckScalar(const Param& p, const json& v, json* out) {
  if (auto err = CheckType(p, v, out)) return err;
  if (v.is_boolean()) return std::nullopt;
  return CheckConstraints(p, *ScalarText(v));
}

std::optional<std::string> CheckArray(const Param& p, const json& v, json* out) {
  static const Param kStringItem{};
  const Param& item = p.items ? *p.items : kStringItem;
  json list = v.is_array() ? v : json::array({v});
  *out = json::array();
  for (const json& element : list) {
    json typed;
    if (element.is_array() || element.is_object() ||
        (element.is_boolean() && item.type != ParamType::kBoolean))
      return TypeFailed(item.type, RefName(element));
    if (auto err = CheckScalar(item, element, &typed)) return err;
    out->push_back(std::move(typed));
  }
  return std::nullopt;
}

}  // namespace

std::string_view ParamTypeName(ParamType type) {
  switch (type) {
    case ParamType::kString:
      return "string";
    case ParamType::kInteger:
      return "integer";
    case ParamType::kNumber:
      return "number";
    case ParamType::kBoolean:
      return "boolean";
    case ParamType::kArray:
      return "array";
  }
  return "string";
}

std::shared_ptr<const Param> Items(Param item) {
  return std::make_shared<const Param>(std::move(item));
}

Status ValidateParam(const Param& param) {
  auto bad = [&](const std::string& why) {
    return InvalidArgumentError("parameter '" + param.name + "': " + why);
  };
  if (param.name.empty()) return InvalidArgumentError("a parameter without a name");
  if (!param.format.empty() && !IsKnownFormat(param.format))
    return bad("unknown format '" + param.format + "'");
  if (!param.pattern.empty()) {
    Result<Pattern> pattern = Pattern::Compile(param.pattern);
    if (!pattern.ok()) return bad(pattern.status().message());
  }
  if (param.items && param.type != ParamType::kArray) return bad("items on a non-array");
  if (param.items) {
    if (param.items->type == ParamType::kArray) return bad("arrays of arrays");
    Param item = *param.items;
    item.name = param.name;
    RETURN_IF_ERROR(ValidateParam(item));
  }
  return Status::OK();
}

CheckResult CheckParams(const std::vector<Param>& params, const json& values) {
  CheckResult result;
  result.values = json::object();
  if (!values.is_object()) {
    result.errors["_root"] = "type check ('object') failed";
    return result;
  }
  for (const Param& p : params) {
    auto it = values.find(p.name);
    if (it == values.end() || it->is_null()) {
      if (p.required) result.errors[p.name] = kMissing;
      continue;
    }
    json typed;
    std::optional<std::string> err;
    if (p.type == ParamType::kArray) {
      err = CheckArray(p, *it, &typed);
    } else {
      err = CheckScalar(p, *it, &typed);
    }
    if (err) {
      result.errors[p.name] = std::move(*err);
    } else {
      result.values[p.name] = std::move(typed);
    }
  }
  for (const auto& [key, value] : values.items()) {
    bool known = false;
    for (const Param& p : params) known = known || p.name == key;
    if (!known) result.errors[key] = kUnknown;
  }
  return result;
}

}  // namespace ctdump::api
