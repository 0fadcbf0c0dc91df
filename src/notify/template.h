// The webhook templates: proxmox-notify's handlebars subset.
//
// A template is text with `{{ expression }}` (or `{{{ expression }}}`, the
// same here: PVE renders without HTML escaping) and `{{! comment }}`; `\{{`
// is a literal "{{". An expression is a value or a helper applied to one:
//   values:  title, message, severity, timestamp, fields, fields.<name>,
//            secrets, secrets.<name> (`fields.[name]` works too), "literal"
//   helpers: json <value>        JSON (serde_json's compact form, keys sorted)
//            escape <value>      JSON string escaping without the quotes
//            url-encode <value>  percent-encoding of all but RFC 3986 unreserved
// Rendering is as PVE's: no escaping by default; timestamp renders as its
// decimal number, fields/secrets as "[object]"; a field the notification
// does not have renders empty (`json` gives null), and `escape`/`url-encode`
// of a missing field fails the send (PVE: "missing text parameter").
// Anything else — block helpers ({{#if}}), partials, whitespace control,
// unknown variables or helpers, a secret the target does not define, a
// non-string for escape/url-encode — is an InvalidArgument at Parse time.
#ifndef CTDUMP_NOTIFY_TEMPLATE_H_
#define CTDUMP_NOTIFY_TEMPLATE_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "ctdump/status.h"

namespace ctdump::notify {

struct TemplateData {
  std::string title;
  std::string message;
  std::string severity;
  int64_t timestamp = 0;
  std::map<std::string, std::string> fields;
  std::map<std::string, std::string> secrets;
};

class Template {
 public:
  Template() = default;
  // `secrets`: the names {{ secrets.<name> }} may use.
  static Result<Template> Parse(std::string_view text, const std::set<std::string>& secrets);
  Result<std::string> Render(const TemplateData& data) const;
  const std::string& text() const { return text_; }

  enum class Helper { kNone, kJson, kEscape, kUrlEncode };
  enum class Root { kLiteral, kTitle, kMessage, kSeverity, kTimestamp, kFields, kSecrets };
  struct Piece {
    std::string literal;  // text, or the string literal / member name
    bool is_expr = false;
    Helper helper = Helper::kNone;
    Root root = Root::kLiteral;
    bool has_member = false;  // fields.<literal> / secrets.<literal>
  };

 private:
  std::string text_;
  std::vector<Piece> pieces_;
};

// JSON string escaping as serde_json (", \, \b \f \n \r \t, other control
// characters as \u00xx), without the quotes. Bytes that are not well-formed
// UTF-8 become U+FFFD (each maximal ill-formed part one, as Rust's
// from_utf8_lossy): the result is always valid UTF-8 JSON. Every JSON the
// module writes (gotify body, the json and escape helpers) goes through it.
std::string JsonEscape(std::string_view s);
// url-encode: every byte but RFC 3986's unreserved characters (ALPHA DIGIT
// - . _ ~) as %XX (upper case). proxmox-notify's set (CONTROLS and
// :/?#[]@!$&'()*+,;=% and space) is a subset; it also leaves " < > \ ^ ` { | }
// raw, which a URL must not contain.
std::string UrlEncode(std::string_view s);

}  // namespace ctdump::notify

#endif  // CTDUMP_NOTIFY_TEMPLATE_H_
