// Where the passphrase of a key file (or of the master private key) comes
// from. PBS reads PBS_ENCRYPTION_PASSWORD_FD / _FILE; ctdump, in this order:
//   1. CTDUMP_KEY_PASSPHRASE_FD: a file descriptor number, read to EOF, one
//      trailing newline dropped (a pipe from a secret store);
//   2. CTDUMP_KEY_PASSPHRASE_FILE: the first line of that file;
//   3. a prompt on /dev/tty with echo off.
// A command that needs a second, new passphrase (key change-passphrase) reads
// it from CTDUMP_NEW_KEY_PASSPHRASE_FD / CTDUMP_NEW_KEY_PASSPHRASE_FILE, else
// from the terminal.
//
// Passphrases are secrets: they never appear in an error message, and the
// buffers that held them are wiped (OPENSSL_cleanse) where this code owns
// them. Not thread-safe (environment, terminal settings).
#ifndef CTDUMP_CRYPT_PASSPHRASE_H_
#define CTDUMP_CRYPT_PASSPHRASE_H_

#include <string>
#include <string_view>

#include "ctdump/status.h"

namespace ctdump::crypt {

inline constexpr char kPassphraseFdEnv[] = "CTDUMP_KEY_PASSPHRASE_FD";
inline constexpr char kPassphraseFileEnv[] = "CTDUMP_KEY_PASSPHRASE_FILE";
inline constexpr char kNewPassphraseFdEnv[] = "CTDUMP_NEW_KEY_PASSPHRASE_FD";
inline constexpr char kNewPassphraseFileEnv[] = "CTDUMP_NEW_KEY_PASSPHRASE_FILE";
// A longer "passphrase" is a wrong fd or file, not a passphrase.
inline constexpr size_t kMaxPassphraseSize = 4096;

// The passphrase from CTDUMP_KEY_PASSPHRASE_FD, CTDUMP_KEY_PASSPHRASE_FILE or
// the terminal (`prompt` shown there; `confirm`: asked twice, both must
// match). FailedPrecondition naming all three ways when none is available
// (no variable set and no terminal); InvalidArgument for an empty
// passphrase, a bad fd number or an unreadable file (naming the variable and
// the fd or file), or when the two entries differ.
Result<std::string> ReadPassphrase(std::string_view prompt, bool confirm);

// The same from CTDUMP_NEW_KEY_PASSPHRASE_FD / _FILE, else the terminal: the
// new passphrase of `key change-passphrase`.
Result<std::string> ReadNewPassphrase(std::string_view prompt, bool confirm);

// Overwrites the string's bytes, then clears it.
void WipeString(std::string& s);

}  // namespace ctdump::crypt

#endif  // CTDUMP_CRYPT_PASSPHRASE_H_
