#include "sys/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <utility>

#include "sys/signals.h"

namespace ctdump::sys {

int ThreadPool::ResolveThreads(int threads) {
  return threads > 0 ? threads
                     : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

ThreadPool::ThreadPool(int threads, size_t max_queued)
    : max_queued_(max_queued), threads_wanted_(ResolveThreads(threads)) {}

int ThreadPool::started_threads() {
  std::lock_guard<std::mutex> l(mu_);
  return static_cast<int>(threads_.size());
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  for (std::thread& t : threads_) t.join();
}

bool ThreadPool::Submit(std::function<void()> task) {
  std::unique_lock<std::mutex> l(mu_);
  space_.wait(l, [this] { return max_queued_ == 0 || queue_.size() < max_queued_ || refused_; });
  if (refused_) return false;
  if (threads_.empty()) {
    // They wait for mu_ before they look at queue_.
    threads_.reserve(static_cast<size_t>(threads_wanted_));
    for (int i = 0; i < threads_wanted_; ++i) threads_.emplace_back([this] { Run(); });
  }
  queue_.push_back(std::move(task));
  l.unlock();
  work_.notify_one();
  return true;
}

void ThreadPool::Refuse() {
  {
    std::lock_guard<std::mutex> l(mu_);
    refused_ = true;
  }
  space_.notify_all();
}

void ThreadPool::Wait() {
  std::unique_lock<std::mutex> l(mu_);
  idle_.wait(l, [this] { return queue_.empty() && running_ == 0; });
}

void ThreadPool::Run() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    work_.wait(l, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping_, and nothing left to run
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    l.unlock();
    space_.notify_one();
    task();
    task = nullptr;  // the task's captures go before it counts as finished
    l.lock();
    if (--running_ == 0 && queue_.empty()) idle_.notify_all();
  }
}

void ParallelFor(size_t n, int threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  ThreadPool pool(threads);
  // One task per thread, each taking the next i until none is left.
  for (int t = 0; t < pool.threads(); ++t)
    pool.Submit([&] {
      for (size_t i; (i = next.fetch_add(1)) < n;) {
        if (InterruptCount() > 0) return;
        fn(i);
      }
    });
  pool.Wait();
}

}  // namespace ctdump::sys
