// Errors as values.
//
// Every fallible function returns a Status (no value) or a Result<T> (a value or
// a Status). No exception crosses a module boundary: code that calls a library
// which throws (nlohmann-json, CLI11) catches at the call site and converts.
//
// Messages carry context: what failed, on which container / file / provider,
// and why, e.g. `Failed to open "/var/lib/lxc/c1/config": No such file or
// directory`. Callers add context with Status::WithContext().
#ifndef CTDUMP_STATUS_H_
#define CTDUMP_STATUS_H_

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ctdump {

// A small closed set of codes; the CLI maps them to exit codes.
enum class Code {
  kOk = 0,
  kInvalidArgument,  // bad input from the user or a peer (config, params)
  kNotFound,         // a named thing (container, storage, file) does not exist
  kAlreadyExists,
  kPermissionDenied,
  kFailedPrecondition,  // the system is not in a state that allows the operation
  kUnavailable,         // a peer (provider, lock holder) is gone or not answering
  kDeadlineExceeded,    // a timeout elapsed
  kCancelled,           // interrupted by a signal or the user
  kDataLoss,            // stored data is corrupt or truncated
  kInternal,            // a bug or an impossible state
  kIOError,             // an OS call failed for another reason
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "<message>" for errors, "OK" otherwise.
  std::string ToString() const { return ok() ? std::string("OK") : message_; }

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

  // Explicitly drops an error the caller has decided not to act on.
  void IgnoreError() const {}

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status PermissionDeniedError(std::string message);
Status FailedPreconditionError(std::string message);
Status UnavailableError(std::string message);
Status DeadlineExceededError(std::string message);
Status CancelledError(std::string message);
Status DataLossError(std::string message);
Status InternalError(std::string message);
Status IOError(std::string message);

// The one errno mapper: "<what>: <strerror(err)>" with a code chosen from errno
// (ENOENT -> NotFound, EACCES/EPERM -> PermissionDenied, EEXIST ->
// AlreadyExists, EINTR -> Cancelled, EINVAL -> InvalidArgument, else IOError).
Status ErrnoError(int err, std::string_view what);

// Result<T>: a T or an error Status. Constructing from an OK status is a bug.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ctdump

#define CTDUMP_CONCAT_INNER_(a, b) a##b
#define CTDUMP_CONCAT_(a, b) CTDUMP_CONCAT_INNER_(a, b)

// Returns from the current function if `expr` (a Status) is an error.
#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::ctdump::Status ctdump_status_ = (expr);        \
    if (!ctdump_status_.ok()) return ctdump_status_; \
  } while (0)

// ASSIGN_OR_RETURN(auto x, Foo()); declares/assigns x or returns Foo's error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  CTDUMP_ASSIGN_OR_RETURN_IMPL_(CTDUMP_CONCAT_(ctdump_result_, __LINE__), lhs, expr)
#define CTDUMP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

#endif  // CTDUMP_STATUS_H_
