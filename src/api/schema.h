// Parameters of an API call and their check, as PVE's JSONSchema.
//
// A route declares its parameters (path, query and body alike: PVE merges
// them before checking) as Params. CheckParams() checks the merged values of a
// request against them and collects every error as {param: message} with
// PVE's messages, so a client sees what pveproxy would say:
//
//   property is not defined in schema and the schema does not allow additional properties
//   property is missing and it is not optional
//   type check ('integer') failed - got 'abc'
//   type check ('boolean') failed - got 'True'     (only 1/0; JSON true/false in JSON bodies)
//   invalid format - storage ID 'a b' contains illegal characters\n
//   value does not match the regex pattern
//   value may only be 64 characters long
//   value must be at least 2 characters long
//   value must have a maximum value of 8
//   value must have a minimum value of 0
//   value 'x' does not have a value in the enumeration 'snapshot, suspend, stop'
//
// Checks run in PVE's order (type, format, pattern, length, maximum,
// minimum, enumeration) and stop at a parameter's first error. Lengths count
// code points (values are UTF-8).
#ifndef CTDUMP_API_SCHEMA_H_
#define CTDUMP_API_SCHEMA_H_

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/status.h"

namespace ctdump::api {

enum class ParamType { kString, kInteger, kNumber, kBoolean, kArray };

// "string", "integer", "number", "boolean", "array".
std::string_view ParamTypeName(ParamType type);

// Errors of one request by parameter name (sorted: deterministic output).
using ParamErrors = std::map<std::string, std::string>;

struct Param {
  std::string name{};
  ParamType type = ParamType::kString;
  std::string description{};
  // PVE's `optional => 0`: a missing value is an error. Path parameters are
  // always required.
  bool required = false;
  // A registered format name (format.h), "" for none.
  std::string format{};
  // A pattern (pattern.h) the whole value must match, "" for none.
  std::string pattern{};
  // The default the handler applies when the value is missing (documentation
  // and OpenAPI only: the check does not fill it in, as PVE's does not).
  nlohmann::json default_value{};
  std::optional<double> minimum{};
  std::optional<double> maximum{};
  std::optional<size_t> min_length{};
  std::optional<size_t> max_length{};
  // Allowed values of a string, "" for any.
  std::vector<std::string> enum_values{};
  // kArray: the schema of each item (a single value counts as a one-item
  // array: forms repeat the key, "a=1&a=2"). Null means strings.
  std::shared_ptr<const Param> items{};
};

// The `items` of an array parameter.
std::shared_ptr<const Param> Items(Param item);

// Checks a Param's own declaration (a known format, a pattern that compiles,
// items only on arrays); InvalidArgument names the parameter.
Status ValidateParam(const Param& param);

// Checks the request's merged parameters `values` (a JSON object: strings or
// arrays of strings from forms and queries, any JSON from JSON bodies)
// against `params`. On success returns them typed: integers as JSON integers,
// numbers as JSON numbers, booleans as JSON booleans, strings as strings,
// arrays as arrays of typed items; absent parameters stay absent. On failure
// returns every error; `values` that is not an object is an error of "_root"
// (PVE's path for the whole value).
//
// Precondition: every Param passed ValidateParam (an invalid pattern never
// matches).
struct CheckResult {
  nlohmann::json values{};  // the typed object when `errors` is empty
  ParamErrors errors{};
};
CheckResult CheckParams(const std::vector<Param>& params, const nlohmann::json& values);

}  // namespace ctdump::api

#endif  // CTDUMP_API_SCHEMA_H_
