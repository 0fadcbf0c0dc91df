// A fixed set of threads running queued tasks: the datastore's chunk pool
// (writer), its read-ahead (reader) and verify's parallel reads share it.
//
// Order: tasks start in the order they were queued (FIFO); with more than one
// thread they may finish in any order, so callers that need an order keep it
// themselves (the writer's index slots, the reader's slot map).
// Backpressure: with `max_queued` > 0, Submit blocks while that many tasks
// wait to start, so a producer faster than the pool holds at most that many
// tasks (and their data) in memory.
//
// Threads start with the first task, not before: an object that owns an
// idle pool (a reader not yet read, a writer not yet fed) leaves the process
// single-threaded, so the process may still fork a child that runs code
// without exec (the datastore worker, the extraction child). A fork while
// pool threads run could leave a lock (the allocator's) held forever in the
// child, which is what the provider conformance suite once hit under ASan.
//
// Thread-safety: every method may be called from any thread, except that
// Wait() and the destructor must not be called from a task (they wait for
// it). Tasks must not throw (an exception ends the process).
#ifndef CTDUMP_SYS_THREAD_POOL_H_
#define CTDUMP_SYS_THREAD_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ctdump::sys {

class ThreadPool {
 public:
  // `threads` as given, or one per CPU (at least 1) if <= 0.
  static int ResolveThreads(int threads);

  // ResolveThreads(threads) threads, started by the first Submit.
  // `max_queued`: 0 is unbounded.
  explicit ThreadPool(int threads, size_t max_queued = 0);
  // Lets the threads run every task already queued, then joins them.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task`, first blocking while `max_queued` tasks wait to start.
  // Returns false, without queuing it, once Refuse() was called (also if
  // that happens while it blocks).
  bool Submit(std::function<void()> task);

  // From now on Submit queues nothing and returns false, and blocked
  // submitters return. Tasks already queued still run. For a producer that
  // stops at the first failed task.
  void Refuse();

  // Blocks until no task is queued or running.
  void Wait();

  int threads() const { return threads_wanted_; }
  // Threads started so far: 0 until the first Submit, then threads().
  int started_threads();

 private:
  void Run();

  const size_t max_queued_;
  const int threads_wanted_;
  // mu_ guards queue_, running_, refused_, stopping_ and threads_; the three condition
  // variables are waited on with it. Tasks run without it held, so a task may
  // Submit (a pool with a full queue would then wait for its own threads).
  std::mutex mu_;
  std::condition_variable work_;   // a task was queued, or stopping_
  std::condition_variable space_;  // a task left the queue, or refused_
  std::condition_variable idle_;   // queue_ empty and running_ == 0
  std::deque<std::function<void()>> queue_;
  size_t running_ = 0;  // tasks taken from queue_ and not yet finished
  bool refused_ = false;
  bool stopping_ = false;  // the destructor: threads end once queue_ is empty
  // Empty until the first Submit starts them all (under mu_); joined by the
  // destructor, which no Submit may race.
  std::vector<std::thread> threads_;
};

// Runs fn(0) ... fn(n - 1) on a pool of `threads` threads (ResolveThreads),
// each thread taking the next index until none is left; returns when all are
// done. Once SIGINT/SIGTERM has arrived (InterruptCount) no further index
// starts: the caller checks for the interruption. The pool's threads are
// joined before it returns, so the process is single-threaded again.
void ParallelFor(size_t n, int threads, const std::function<void(size_t)>& fn);

}  // namespace ctdump::sys

#endif  // CTDUMP_SYS_THREAD_POOL_H_
