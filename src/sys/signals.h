// Interruption by SIGINT/SIGTERM/SIGHUP.
//
// ctdump never dies in the middle of a backup on these signals: a handler
// records the signal and wakes poll() loops through a self-pipe, the current
// operation fails with Cancelled ("interrupted by signal"), and every cleanup
// path (thaw, restart, unmount, unlock) still runs. SIGPIPE is ignored.
#ifndef CTDUMP_SYS_SIGNALS_H_
#define CTDUMP_SYS_SIGNALS_H_

#include "ctdump/status.h"

namespace ctdump::sys {

// Installs the handlers (idempotent).
void InstallInterruptHandlers();
// The last signal received, or 0.
int InterruptSignal();
// How many signals have arrived so far: an operation that must end on a *new*
// signal (while cleanup after the first one still talks to a provider)
// compares this before and after.
int InterruptCount();
// Cancelled("interrupted by signal") once a signal arrived, else OK.
Status CheckInterrupted();
// A file descriptor that becomes readable once a signal arrived (for poll()).
int InterruptFd();
// Clears the flag (tests only).
void ResetInterruptForTest();

}  // namespace ctdump::sys

#endif  // CTDUMP_SYS_SIGNALS_H_
