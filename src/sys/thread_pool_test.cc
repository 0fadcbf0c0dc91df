#include "sys/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "sys/dir_list.h"

namespace ctdump::sys {
namespace {

using std::chrono_literals::operator""ms;

// A gate the test opens; tasks wait at it.
class Gate {
 public:
  void Open() {
    {
      std::lock_guard<std::mutex> l(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void Pass() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST(ThreadPoolTest, ResolveThreads) {
  EXPECT_EQ(ThreadPool::ResolveThreads(3), 3);
  EXPECT_GE(ThreadPool::ResolveThreads(0), 1);
  EXPECT_GE(ThreadPool::ResolveThreads(-1), 1);
  ThreadPool pool(0);
  EXPECT_EQ(pool.threads(), ThreadPool::ResolveThreads(0));
}

// The process's threads, as the kernel counts them.
size_t TaskCount() {
  auto tasks = ListDirectory("/proc/self/task");
  return tasks.ok() ? tasks->size() : 0;
}

// An idle pool starts no thread, so its owner may still fork children that
// run without exec (the datastore worker); the first task starts them all.
TEST(ThreadPoolTest, ThreadsStartWithTheFirstTask) {
  const size_t before = TaskCount();
  ASSERT_GE(before, 1u);
  {
    ThreadPool idle(4);
    EXPECT_EQ(idle.started_threads(), 0);
    EXPECT_EQ(TaskCount(), before);
  }  // an idle pool's destructor has nothing to join
  ThreadPool pool(3);
  EXPECT_EQ(TaskCount(), before);
  std::atomic<int> done{0};
  ASSERT_TRUE(pool.Submit([&] { ++done; }));
  EXPECT_EQ(pool.started_threads(), 3);
  // At least: ThreadSanitizer starts a thread of its own with the first
  // pthread_create.
  EXPECT_GE(TaskCount(), before + 3);
  ASSERT_TRUE(pool.Submit([&] { ++done; }));
  pool.Wait();
  EXPECT_EQ(done.load(), 2);
  EXPECT_EQ(pool.started_threads(), 3);
}

TEST(ThreadPoolTest, WaitReturnsWhenEveryTaskRan) {
  ThreadPool pool(4);
  std::atomic<int> done{0};
  for (int i = 0; i < 1000; ++i)
    ASSERT_TRUE(pool.Submit([&] {
      std::this_thread::yield();
      ++done;
    }));
  pool.Wait();
  EXPECT_EQ(done.load(), 1000);
  pool.Wait();  // idle: returns at once
}

TEST(ThreadPoolTest, TasksStartInTheOrderQueued) {
  ThreadPool pool(1);
  Gate gate;
  std::vector<int> order;  // one thread: no lock needed, Wait() orders it
  ASSERT_TRUE(pool.Submit([&] { gate.Pass(); }));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(pool.Submit([&order, i] { order.push_back(i); }));
  gate.Open();
  pool.Wait();
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

TEST(ThreadPoolTest, SubmitBlocksWhileMaxQueuedTasksWait) {
  ThreadPool pool(1, 2);
  Gate gate;
  std::promise<void> started;
  ASSERT_TRUE(pool.Submit([&] {
    started.set_value();
    gate.Pass();
  }));
  started.get_future().wait();  // the one thread is busy
  ASSERT_TRUE(pool.Submit([] {}));
  ASSERT_TRUE(pool.Submit([] {}));
  // Two tasks wait: a third must block until the gate opens and the queue
  // drains below two.
  std::atomic<bool> returned{false};
  std::thread producer([&] {
    EXPECT_TRUE(pool.Submit([] {}));
    EXPECT_TRUE(pool.Submit([] {}));
    returned = true;
  });
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(returned.load()) << "Submit did not block on a full queue";
  gate.Open();
  producer.join();
  EXPECT_TRUE(returned.load());
  pool.Wait();
}

TEST(ThreadPoolTest, RefuseWakesABlockedSubmitterAndQueuedTasksStillRun) {
  ThreadPool pool(1, 1);
  Gate gate;
  std::atomic<int> ran{0};
  std::promise<void> started;
  ASSERT_TRUE(pool.Submit([&] {
    started.set_value();
    gate.Pass();
    ++ran;
  }));
  started.get_future().wait();
  // The producer fills the queue (one task), then blocks.
  std::atomic<int> refused{0};
  std::thread producer([&] {
    for (int i = 0; i < 3; ++i)
      if (!pool.Submit([&] { ++ran; })) ++refused;
  });
  std::this_thread::sleep_for(100ms);
  pool.Refuse();
  producer.join();  // would hang if Refuse did not wake it
  EXPECT_GE(refused.load(), 1);
  EXPECT_FALSE(pool.Submit([&] { ++ran; }));
  gate.Open();
  pool.Wait();
  EXPECT_EQ(ran.load(), 1 + (3 - refused.load()));
}

TEST(ThreadPoolTest, DestructorRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(2);
    for (int i = 0; i < 50; ++i)
      ASSERT_TRUE(pool.Submit([&] {
        std::this_thread::sleep_for(1ms);
        ++ran;
      }));
  }
  EXPECT_EQ(ran.load(), 50);
}

TEST(ThreadPoolTest, ATaskMaySubmit) {
  ThreadPool pool(2);
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.Submit([&] {
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(pool.Submit([&] { ++ran; }));
    ++ran;
  }));
  // Wait sees the first task running, and the ones it queued, until all ran.
  pool.Wait();
  EXPECT_EQ(ran.load(), 11);
}

// Many producers on a small bounded queue (for the TSan build).
TEST(ThreadPoolTest, ManyProducersOnABoundedQueue) {
  ThreadPool pool(3, 2);
  std::atomic<long> sum{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p)
    producers.emplace_back([&, p] {
      for (int i = 0; i < 500; ++i) EXPECT_TRUE(pool.Submit([&sum, p, i] { sum += p * 1000 + i; }));
    });
  for (auto& t : producers) t.join();
  pool.Wait();
  long want = 0;
  for (int p = 0; p < 4; ++p)
    for (int i = 0; i < 500; ++i) want += p * 1000 + i;
  EXPECT_EQ(sum.load(), want);
}

}  // namespace
}  // namespace ctdump::sys
