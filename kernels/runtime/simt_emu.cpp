// simt_emu.cpp: the runtime of the SIMT emulation (see simt_emu.h): fibers,
// the block scheduler, barriers, warp ops, shared memory, guarded buffers and
// the launch log.
//
// Fibers switch with a few lines of assembly on x86-64 (ucontext elsewhere,
// or with -DACX_SIMT_UCONTEXT): swapcontext makes a system call per switch
// to save the signal mask, which would dominate launches of millions of
// threads. Errors never cross a switch: a fiber records what went wrong and
// returns control to the scheduler, which abandons the block's fibers and
// throws from launch() on the host stack.
#include "kernels/runtime/simt_emu.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <sstream>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define ACX_SIMT_ASAN 1
#else
#define ACX_SIMT_ASAN 0
#endif

#if defined(__x86_64__) && !defined(ACX_SIMT_UCONTEXT)
#define ACX_SIMT_ASM_SWITCH 1
#else
#define ACX_SIMT_ASM_SWITCH 0
#include <ucontext.h>
#endif

#if ACX_SIMT_ASM_SWITCH
// acx_simt_switch(save, load): saves the callee-saved registers, MXCSR and
// the x87 control word on the current stack, stores the stack pointer in
// *save, loads `load` as the stack pointer and restores the same from there.
// A new fiber's stack is laid out so that the restore "returns" into
// acx_simt_trampoline with r12 = argument and r13 = entry function.
extern "C" void acx_simt_switch(void** save, void* load);
extern "C" void acx_simt_trampoline();
asm(R"(
  .text
  .p2align 4
  .globl acx_simt_switch
  .hidden acx_simt_switch
  .type acx_simt_switch,@function
acx_simt_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size acx_simt_switch,.-acx_simt_switch

  .p2align 4
  .globl acx_simt_trampoline
  .hidden acx_simt_trampoline
  .type acx_simt_trampoline,@function
acx_simt_trampoline:
  .cfi_startproc
  .cfi_undefined rip
  movq %r12, %rdi
  callq *%r13
  ud2
  .cfi_endproc
  .size acx_simt_trampoline,.-acx_simt_trampoline
)");
#endif

namespace acx::simt {

namespace detail {
thread_local const ThreadContext* t_current = nullptr;
}  // namespace detail

namespace {

using detail::WarpOpKind;

constexpr size_t kSharedRedZone = 64;
constexpr size_t kMaxSharedArrays = 1024;
constexpr size_t kArenaBytes = kMaxSharedBytesPerBlock + kMaxStaticSharedBytes +
                               kMaxSharedArrays * (kSharedRedZone + 16) + 4096;
constexpr uint64_t kMaxYieldsWithoutProgress = 1u << 20;

[[noreturn]] void throw_emulation_error(const std::string& what) {
  throw EmulationError("acx SIMT emulation: " + what);
}

// ---- process-wide state: schedule, launch log, guarded buffers ---------------
struct Global {
  std::mutex mu;
  std::atomic<int> schedule{static_cast<int>(Schedule::kForward)};
  std::atomic<uint64_t> seed{0};
  std::once_flag env_once;
  std::set<std::string> launched;
  std::set<GuardedBytes*> guarded;
  std::atomic<uint64_t> launch_count{0};

  ~Global() {
    const char* path = std::getenv("ACX_SIMT_LAUNCH_LOG");
    if (path == nullptr || *path == '\0' || launched.empty()) return;
    std::string text;
    for (const std::string& name : launched) text += name + "\n";
    // One write with O_APPEND: test processes running side by side do not interleave lines.
    int fd = ::open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) {
      std::fprintf(stderr, "acx SIMT emulation: cannot open ACX_SIMT_LAUNCH_LOG=%s\n", path);
      return;
    }
    size_t done = 0;
    while (done < text.size()) {
      ssize_t w = ::write(fd, text.data() + done, text.size() - done);
      if (w <= 0) break;
      done += static_cast<size_t>(w);
    }
    ::close(fd);
  }
};

Global& global() {
  static Global g;
  return g;
}

void load_env_once() {
  Global& g = global();
  std::call_once(g.env_once, [&g] {
    if (const char* s = std::getenv("ACX_SIMT_SCHEDULE"); s != nullptr && *s != '\0') {
      g.schedule = static_cast<int>(parse_schedule(s));
    }
    if (const char* s = std::getenv("ACX_SIMT_SEED"); s != nullptr && *s != '\0') {
      g.seed = std::strtoull(s, nullptr, 0);
    }
  });
}

size_t stack_bytes_from_env() {
  size_t kib = ACX_SIMT_ASAN ? 512 : 128;
  if (const char* s = std::getenv("ACX_SIMT_STACK_KIB"); s != nullptr && *s != '\0') {
    unsigned long v = std::strtoul(s, nullptr, 10);
    if (v >= 16) kib = v;
  }
  return kib * 1024;
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

template <typename T>
void shuffle_in_place(std::vector<T>& v, uint64_t& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    size_t j = static_cast<size_t>(splitmix64(rng) % i);
    std::swap(v[i - 1], v[j]);
  }
}

// ---- fiber stacks -------------------------------------------------------------------
struct Stack {
  unsigned char* map = nullptr;  // includes the guard page at the low end
  size_t map_bytes = 0;
  unsigned char* bottom = nullptr;
  size_t size = 0;
};

class StackPool {
 public:
  ~StackPool() {
    for (Stack& s : free_) ::munmap(s.map, s.map_bytes);
  }
  Stack acquire() {
    if (!free_.empty()) {
      Stack s = free_.back();
      free_.pop_back();
      return s;
    }
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    Stack s;
    s.size = (stack_bytes_from_env() + page - 1) / page * page;
    s.map_bytes = s.size + page;
    void* p = ::mmap(nullptr, s.map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw_emulation_error("cannot map a fiber stack");
    s.map = static_cast<unsigned char*>(p);
    ::mprotect(s.map, page, PROT_NONE);  // a stack overflow faults instead of corrupting a neighbour
    s.bottom = s.map + page;
    return s;
  }
  void release(const Stack& s, bool abandoned) {
#if ACX_SIMT_ASAN
    // Frames of an abandoned fiber leave poisoned stack red zones behind.
    if (abandoned) __asan_unpoison_memory_region(s.bottom, s.size);
#else
    (void)abandoned;
#endif
    free_.push_back(s);
  }

 private:
  std::vector<Stack> free_;
};

thread_local StackPool t_stacks;

// ---- contexts ----------------------------------------------------------------------------
#if ACX_SIMT_ASM_SWITCH
struct Context {
  void* sp = nullptr;
};

void make_context(Context& c, const Stack& s, void (*entry)(void*), void* arg) {
  uint32_t mxcsr = 0;
  uint16_t fpcw = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpcw));
  uintptr_t top = reinterpret_cast<uintptr_t>(s.bottom + s.size) & ~uintptr_t{15};
  auto* frame = reinterpret_cast<uint64_t*>(top - 16 - 64);  // 16-aligned; after the final ret, rsp = top - 16
  frame[0] = mxcsr | (static_cast<uint64_t>(fpcw) << 32);
  frame[1] = 0;                                      // r15
  frame[2] = 0;                                      // r14
  frame[3] = reinterpret_cast<uint64_t>(entry);      // r13
  frame[4] = reinterpret_cast<uint64_t>(arg);        // r12
  frame[5] = 0;                                      // rbx
  frame[6] = 0;                                      // rbp
  frame[7] = reinterpret_cast<uint64_t>(&acx_simt_trampoline);
  c.sp = frame;
}

inline void swap_context(Context& save, Context& load) { acx_simt_switch(&save.sp, load.sp); }
#else
struct Context {
  ucontext_t uc;
};

thread_local void (*t_start_entry)(void*) = nullptr;
thread_local void* t_start_arg = nullptr;

void ucontext_trampoline() { t_start_entry(t_start_arg); }

void make_context(Context& c, const Stack& s, void (*entry)(void*), void* arg) {
  ::getcontext(&c.uc);
  c.uc.uc_stack.ss_sp = s.bottom;
  c.uc.uc_stack.ss_size = s.size;
  c.uc.uc_link = nullptr;
  ::makecontext(&c.uc, ucontext_trampoline, 0);
  t_start_entry = entry;  // read once by the fiber as it starts, before any other fiber is made
  t_start_arg = arg;
}

inline void swap_context(Context& save, Context& load) { ::swapcontext(&save.uc, &load.uc); }
#endif

// ---- launch and block state ------------------------------------------------------------
enum class State : uint8_t { kReady, kBarrier, kWarp, kExited };

struct Fiber {
  ThreadContext ctx{};
  Context context{};
  Stack stack{};
  bool started = false;
  bool has_stack = false;
  bool released = false;  // scratch for the resolver
  State state = State::kReady;
  unsigned linear = 0, lane = 0, warp = 0;
  // The sync point this fiber waits at.
  const char* file = nullptr;
  int line = 0;
  WarpOpKind kind = WarpOpKind::kSyncWarp;
  unsigned mask = 0;
  int width = 32;
  int value_bytes = 4;
  int param = 0;
  uint64_t value = 0;
  uint64_t result = 0;
#if ACX_SIMT_ASAN
  void* asan_fake = nullptr;
#endif
};

struct SharedArray {
  const char* file;
  int line;
  const char* function;
  const void* tag;
  long long n;
  size_t offset;
  size_t bytes;
};

struct Arena {
  unsigned char* base = nullptr;
  Arena() {
    base = static_cast<unsigned char*>(std::aligned_alloc(256, kArenaBytes));
    if (base == nullptr) throw_emulation_error("cannot allocate the shared-memory arena");
  }
  ~Arena() { std::free(base); }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
};

thread_local std::unique_ptr<Arena> t_arena;  // one per host thread, kept for the next launches

struct Launch {
  detail::LaunchSpec spec{};
  void (*thunk)(void*) = nullptr;
  void* closure = nullptr;
  Schedule schedule = Schedule::kForward;
  uint64_t rng = 0;

  unsigned n_threads = 0;
  unsigned n_warps = 0;
  std::vector<Fiber> fibers;
  std::vector<unsigned> order;     // linear thread ids in schedule order
  std::vector<unsigned> run_list;  // the fibers to resume in this round
  std::vector<unsigned> warp_waiting;
  unsigned n_barrier = 0;
  unsigned n_exited = 0;
  unsigned n_yielded = 0;  // fibers that yielded after a failed atomicCAS, to resume next round
  uint64_t yields_without_progress = 0;

  Context scheduler{};
  Fiber* running = nullptr;
#if ACX_SIMT_ASAN
  const void* main_bottom = nullptr;
  size_t main_size = 0;
#endif

  // Shared memory of the running block.
  unsigned char* arena = nullptr;
  size_t dynamic_bytes = 0;
  size_t arena_top = 0;
  size_t static_bytes = 0;
  std::vector<SharedArray> arrays;

  // The first error of the launch.
  bool failed = false;
  std::string error;
  std::exception_ptr exception;

  LaunchStats stats;
};

thread_local Launch* t_launch = nullptr;
thread_local LaunchStats t_last_stats;

const char* op_name(WarpOpKind k) {
  switch (k) {
    case WarpOpKind::kShflIdx: return "__shfl_sync";
    case WarpOpKind::kShflUp: return "__shfl_up_sync";
    case WarpOpKind::kShflDown: return "__shfl_down_sync";
    case WarpOpKind::kShflXor: return "__shfl_xor_sync";
    case WarpOpKind::kBallot: return "__ballot_sync";
    case WarpOpKind::kAny: return "__any_sync";
    case WarpOpKind::kAll: return "__all_sync";
    case WarpOpKind::kSyncWarp: return "__syncwarp";
  }
  return "?";
}

bool is_shuffle(WarpOpKind k) {
  return k == WarpOpKind::kShflIdx || k == WarpOpKind::kShflUp || k == WarpOpKind::kShflDown ||
         k == WarpOpKind::kShflXor;
}

std::string hex(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::string fmt3(const uint3& v) {
  return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
}

std::string launch_where(const Launch& L) {
  return std::string("kernel '") + L.spec.name + "' (launched at " + L.spec.file + ":" + std::to_string(L.spec.line) +
         ")";
}

std::string thread_where(const Launch& L, const Fiber& f) {
  return launch_where(L) + ", block " + fmt3(f.ctx.block_idx) + ", thread " + fmt3(f.ctx.thread_idx) + " (warp " +
         std::to_string(f.warp) + ", lane " + std::to_string(f.lane) + ")";
}

std::string site(const char* file, int line) { return std::string(file ? file : "?") + ":" + std::to_string(line); }

std::string describe_wait(const Fiber& f) {
  switch (f.state) {
    case State::kBarrier: return "waits at __syncthreads() at " + site(f.file, f.line);
    case State::kWarp:
      return "waits at " + std::string(op_name(f.kind)) + "(mask " + hex(f.mask) + ") at " + site(f.file, f.line);
    case State::kExited: return "has returned";
    case State::kReady: return "is running";
  }
  return "?";
}

bool same_site(const char* f1, int l1, const char* f2, int l2) {
  return l1 == l2 && (f1 == f2 || (f1 && f2 && std::strcmp(f1, f2) == 0));
}

void record_error(Launch& L, const std::string& what) {
  if (L.failed) return;
  L.failed = true;
  L.error = what;
}

void record_thread_error(Launch& L, const Fiber& f, const std::string& what) {
  record_error(L, thread_where(L, f) + ": " + what);
}

// ---- switching ---------------------------------------------------------------------------
void fiber_entry(void* arg);

// Host (scheduler) side: run fiber f until it waits, yields or returns.
void resume(Launch& L, Fiber& f) {
  if (!f.started) {
    f.stack = t_stacks.acquire();
    f.has_stack = true;
    make_context(f.context, f.stack, fiber_entry, &f);
    f.started = true;
  }
  f.state = State::kReady;
  detail::t_current = &f.ctx;
  L.running = &f;
#if ACX_SIMT_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f.stack.bottom, f.stack.size);
#endif
  swap_context(L.scheduler, f.context);
#if ACX_SIMT_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  L.running = nullptr;
  detail::t_current = nullptr;
  L.stats.switches += 2;
  if (f.state == State::kExited && f.has_stack) {
    t_stacks.release(f.stack, false);
    f.has_stack = false;
  }
}

// Fiber side: give control back to the scheduler; returns when resumed.
void suspend(Launch& L, Fiber& f) {
#if ACX_SIMT_ASAN
  __sanitizer_start_switch_fiber(&f.asan_fake, L.main_bottom, L.main_size);
#endif
  swap_context(f.context, L.scheduler);
#if ACX_SIMT_ASAN
  __sanitizer_finish_switch_fiber(f.asan_fake, &L.main_bottom, &L.main_size);
#endif
}

// Fiber side: leave for good after an error was recorded; the scheduler
// abandons the block. The frames of an abandoned fiber are never unwound, so
// no std::string may be alive in them: ACX_SIMT_FAIL records the message in a
// full expression of its own before leaving.
[[noreturn]] void leave_for_good(Launch& L, Fiber& f) {
  suspend(L, f);
  std::abort();  // never resumed
}

#define ACX_SIMT_FAIL(L, f, what)        \
  do {                                   \
    record_thread_error((L), (f), what); \
    leave_for_good((L), (f));            \
  } while (0)

void fiber_entry(void* arg) {
  Fiber* f = static_cast<Fiber*>(arg);
  Launch* L = t_launch;
#if ACX_SIMT_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &L->main_bottom, &L->main_size);
#endif
  try {
    L->thunk(L->closure);
  } catch (...) {
    if (!L->failed) {
      L->failed = true;
      L->exception = std::current_exception();
    }
  }
  f->state = State::kExited;
  ++L->n_exited;
  L->yields_without_progress = 0;
#if ACX_SIMT_ASAN
  __sanitizer_start_switch_fiber(nullptr, L->main_bottom, L->main_size);
#endif
  swap_context(f->context, L->scheduler);
  std::abort();  // an exited fiber is never resumed
}

Launch& active_launch(const char* what) {
  Launch* L = t_launch;
  if (L == nullptr || L->running == nullptr) detail::fail_outside_kernel(what);
  return *L;
}

// ---- the resolver: release barriers and complete warp ops ----------------------------------
unsigned valid_lanes(const Launch& L, unsigned warp) {
  unsigned first = warp * 32;
  unsigned n = std::min(32u, L.n_threads - first);
  return n == 32 ? 0xffffffffu : ((1u << n) - 1u);
}

uint64_t poison_bits(int bytes) { return bytes == 8 ? ~uint64_t{0} : uint64_t{0xffffffffu}; }

// Lane l's source lane under PTX shfl.sync, or l itself when out of range.
unsigned shuffle_source(WarpOpKind kind, unsigned lane, int param, int width) {
  const int l = static_cast<int>(lane);
  const int b = param & 31;
  const int segmask = (32 - width) & 31;  // the high lane bits that select a segment
  const int seg_first = l & segmask;
  const int seg_last = seg_first | (31 & ~segmask);
  int j = l;
  bool in_range = true;
  switch (kind) {
    case WarpOpKind::kShflUp: j = l - b; in_range = j >= seg_first; break;
    case WarpOpKind::kShflDown: j = l + b; in_range = j <= seg_last; break;
    case WarpOpKind::kShflXor: j = l ^ b; in_range = j <= seg_last; break;
    case WarpOpKind::kShflIdx: j = seg_first | (b & ~segmask); in_range = j <= seg_last; break;
    default: break;
  }
  return static_cast<unsigned>(in_range ? j : l);
}

bool same_op(const Fiber& a, const Fiber& b) {
  return a.kind == b.kind && a.mask == b.mask && a.width == b.width && a.value_bytes == b.value_bytes;
}

// Completes lane `lane`'s warp op if every lane its mask names waits at the same op.
bool try_complete_warp_op(Launch& L, unsigned warp, unsigned lane) {
  Fiber* base = &L.fibers[warp * 32];
  const Fiber& f = base[lane];
  const unsigned group = f.mask & valid_lanes(L, warp);
  for (unsigned k = 0; k < 32; ++k) {
    if (!(group >> k & 1u)) continue;
    const Fiber& g = base[k];
    if (g.state != State::kWarp || g.released || !same_op(f, g)) return false;
  }
  const WarpOpKind kind = f.kind;
  if (is_shuffle(kind)) {
    for (unsigned k = 0; k < 32; ++k) {
      if (!(group >> k & 1u)) continue;
      unsigned src = shuffle_source(kind, k, base[k].param, f.width);
      // A source lane outside the mask (or the block) is undefined on the GPU: poison.
      base[k].result = (group >> src & 1u) ? base[src].value : poison_bits(f.value_bytes);
    }
  } else if (kind == WarpOpKind::kBallot || kind == WarpOpKind::kAny || kind == WarpOpKind::kAll) {
    unsigned ballot = 0;
    for (unsigned k = 0; k < 32; ++k) {
      if ((group >> k & 1u) && base[k].param != 0) ballot |= 1u << k;
    }
    uint64_t r = kind == WarpOpKind::kBallot ? ballot : kind == WarpOpKind::kAny ? (ballot != 0) : (ballot == group);
    for (unsigned k = 0; k < 32; ++k) {
      if (group >> k & 1u) base[k].result = r;
    }
  } else {
    for (unsigned k = 0; k < 32; ++k) {
      if (group >> k & 1u) base[k].result = 0;
    }
  }
  for (unsigned k = 0; k < 32; ++k) {
    if (group >> k & 1u) base[k].released = true;
  }
  L.warp_waiting[warp] -= static_cast<unsigned>(std::popcount(group));
  ++L.stats.warp_ops;
  return true;
}

// No thread can move: say why, as precisely as we can.
void diagnose_deadlock(Launch& L) {
  // A warp op whose mask names a lane that returned, waits at a barrier, or waits at another warp op.
  for (Fiber& f : L.fibers) {
    if (f.state != State::kWarp) continue;
    Fiber* base = &L.fibers[f.warp * 32];
    const unsigned group = f.mask & valid_lanes(L, f.warp);
    for (unsigned k = 0; k < 32; ++k) {
      if (!(group >> k & 1u) || k == f.lane) continue;
      const Fiber& g = base[k];
      std::string what = std::string(op_name(f.kind)) + "(mask " + hex(f.mask) + ") at " + site(f.file, f.line) +
                         " names lane " + std::to_string(k) + " (thread " + fmt3(g.ctx.thread_idx) + "), which ";
      if (g.state == State::kExited) {
        record_thread_error(L, f, what + "has returned without reaching it (every lane in the mask must execute it)");
        return;
      }
      if (g.state == State::kBarrier) {
        record_thread_error(L, f, what + describe_wait(g) + " instead");
        return;
      }
      if (g.state == State::kWarp && !same_op(f, g)) {
        std::string detail = g.kind != f.kind || g.mask != f.mask ? "" : " with a different width or operand size";
        record_thread_error(L, f, what + describe_wait(g) + detail +
                                      ": all lanes named in a mask must execute the same warp op with the same mask");
        return;
      }
    }
  }
  if (L.n_barrier > 0) {
    const Fiber* waiting = nullptr;
    for (const Fiber& f : L.fibers) {
      if (f.state == State::kBarrier) {
        waiting = &f;
        break;
      }
    }
    for (const Fiber& g : L.fibers) {
      if (g.state == State::kExited) {
        record_thread_error(L, *waiting,
                            "__syncthreads() at " + site(waiting->file, waiting->line) + " is never reached by thread " +
                                fmt3(g.ctx.thread_idx) + ", which has returned (" + std::to_string(L.n_exited) + " of " +
                                std::to_string(L.n_threads) +
                                " threads returned): a barrier in divergent code or after an early return");
        return;
      }
    }
    for (const Fiber& g : L.fibers) {
      if (g.state == State::kBarrier && !same_site(g.file, g.line, waiting->file, waiting->line)) {
        record_thread_error(L, *waiting,
                            "waits at __syncthreads() at " + site(waiting->file, waiting->line) + " while thread " +
                                fmt3(g.ctx.thread_idx) + " waits at __syncthreads() at " + site(g.file, g.line) +
                                ": all threads of a block must reach the same barrier");
        return;
      }
    }
  }
  for (const Fiber& f : L.fibers) {
    if (f.state != State::kExited) {
      record_thread_error(L, f, "deadlock: " + describe_wait(f) + " and no thread of the block can proceed");
      return;
    }
  }
  record_error(L, launch_where(L) + ": deadlock");
}

void build_run_list(Launch& L) {
  L.run_list.clear();
  if (L.schedule == Schedule::kShuffle) shuffle_in_place(L.order, L.rng);
  for (unsigned t : L.order) {
    Fiber& f = L.fibers[t];
    if (f.released) {
      f.released = false;
      L.run_list.push_back(t);
    }
  }
}

// Everyone is waiting or done: release what can be released.
void resolve(Launch& L) {
  bool progress = false;
  for (unsigned w = 0; w < L.n_warps; ++w) {
    if (L.warp_waiting[w] == 0) continue;
    for (unsigned lane = 0; lane < 32 && w * 32 + lane < L.n_threads; ++lane) {
      Fiber& f = L.fibers[w * 32 + lane];
      if (f.state == State::kWarp && !f.released) progress |= try_complete_warp_op(L, w, lane);
    }
  }
  if (L.n_barrier == L.n_threads) {
    const Fiber& first = L.fibers[0];
    for (const Fiber& g : L.fibers) {
      if (!same_site(g.file, g.line, first.file, first.line)) {
        record_thread_error(L, first,
                            "waits at __syncthreads() at " + site(first.file, first.line) + " while thread " +
                                fmt3(g.ctx.thread_idx) + " waits at __syncthreads() at " + site(g.file, g.line) +
                                ": all threads of a block must reach the same barrier");
        return;
      }
    }
    for (Fiber& g : L.fibers) g.released = true;
    L.n_barrier = 0;
    ++L.stats.barriers;
    progress = true;
  }
  if (!progress && L.n_yielded == 0) {
    diagnose_deadlock(L);
    return;
  }
  L.n_yielded = 0;
  build_run_list(L);
}

// ---- shared memory -----------------------------------------------------------------------
void check_shared_red_zones(Launch& L) {
  auto intact = [&](size_t offset) {
    const unsigned char* p = L.arena + offset;
    for (size_t i = 0; i < kSharedRedZone; ++i) {
      if (p[i] != kPoisonByte) return false;
    }
    return true;
  };
  const Fiber& f0 = L.fibers[0];
  if (!intact(L.dynamic_bytes)) {
    record_error(L, launch_where(L) + ", block " + fmt3(f0.ctx.block_idx) +
                        ": a thread wrote past the end of dynamic shared memory (" + std::to_string(L.dynamic_bytes) +
                        " bytes)");
    return;
  }
  for (const SharedArray& a : L.arrays) {
    if (!intact(a.offset + a.bytes)) {
      record_error(L, launch_where(L) + ", block " + fmt3(f0.ctx.block_idx) +
                          ": a thread wrote past the end of the shared array declared at " + site(a.file, a.line) +
                          " (" + std::to_string(a.n) + " elements, " + std::to_string(a.bytes) + " bytes)");
      return;
    }
  }
}

void reset_shared(Launch& L) {
  L.arrays.clear();
  L.static_bytes = 0;
  // Dynamic memory first, then its red zone; static arrays are carved after it on demand.
  std::memset(L.arena, kPoisonByte, L.dynamic_bytes + kSharedRedZone);
  L.arena_top = (L.dynamic_bytes + kSharedRedZone + 15) & ~size_t{15};
}

// ---- running a launch ------------------------------------------------------------------------
void abandon_block(Launch& L) {
  for (Fiber& f : L.fibers) {
    if (f.has_stack) {
      t_stacks.release(f.stack, true);
      f.has_stack = false;
    }
  }
}

void run_block(Launch& L, uint3 block_idx) {
  for (Fiber& f : L.fibers) {
    f.ctx.block_idx = block_idx;
    f.started = false;
    f.released = false;
    f.state = State::kReady;
    f.file = nullptr;
    f.line = 0;
  }
  std::fill(L.warp_waiting.begin(), L.warp_waiting.end(), 0u);
  L.n_barrier = 0;
  L.n_exited = 0;
  L.n_yielded = 0;
  L.yields_without_progress = 0;
  reset_shared(L);
  if (L.schedule == Schedule::kShuffle) shuffle_in_place(L.order, L.rng);
  L.run_list = L.order;
  for (;;) {
    for (size_t k = 0; k < L.run_list.size(); ++k) {
      resume(L, L.fibers[L.run_list[k]]);
      if (L.failed) {
        abandon_block(L);
        return;
      }
    }
    if (L.n_exited == L.n_threads) break;
    resolve(L);
    if (L.failed) {
      abandon_block(L);
      return;
    }
  }
  check_shared_red_zones(L);
}

void check_config(const detail::LaunchSpec& s) {
  auto fail = [&](const std::string& what) {
    throw_emulation_error(std::string("kernel '") + s.name + "' (launched at " + s.file + ":" + std::to_string(s.line) +
                          "): " + what);
  };
  const dim3 b = s.block, g = s.grid;
  const std::string bs = std::to_string(b.x) + "x" + std::to_string(b.y) + "x" + std::to_string(b.z);
  const std::string gs = std::to_string(g.x) + "x" + std::to_string(g.y) + "x" + std::to_string(g.z);
  if (b.x == 0 || b.y == 0 || b.z == 0) fail("block size " + bs + " has a zero dimension");
  if (b.x > 1024 || b.y > 1024 || b.z > 64) fail("block size " + bs + " exceeds the per-dimension limits 1024x1024x64");
  if (static_cast<uint64_t>(b.x) * b.y * b.z > kMaxThreadsPerBlock) {
    fail("block size " + bs + " has more than " + std::to_string(kMaxThreadsPerBlock) + " threads");
  }
  if (g.x == 0 || g.y == 0 || g.z == 0) fail("grid size " + gs + " has a zero dimension");
  if (g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535) fail("grid size " + gs + " exceeds (2^31-1)x65535x65535");
  if (s.shared_bytes > kMaxSharedBytesPerBlock) {
    fail("dynamic shared memory of " + std::to_string(s.shared_bytes) + " bytes exceeds the " +
         std::to_string(kMaxSharedBytesPerBlock) + "-byte limit per block");
  }
}

void check_guarded_buffers(const detail::LaunchSpec& s, const char* when) {
  Global& g = global();
  std::lock_guard<std::mutex> lock(g.mu);
  for (GuardedBytes* b : g.guarded) {
    std::string c = b->corruption();
    if (!c.empty()) {
      b->repair_red_zones();  // reported once; later launches are judged on their own
      throw_emulation_error(std::string(when) + " kernel '" + s.name + "' (launched at " + s.file + ":" +
                            std::to_string(s.line) + "): guarded buffer '" + b->name() + "': " + c);
    }
  }
}

}  // namespace

// ==== public and detail API ====================================================================

void set_schedule(Schedule s, uint64_t seed) {
  load_env_once();
  global().schedule = static_cast<int>(s);
  global().seed = seed;
}

Schedule schedule() {
  load_env_once();
  return static_cast<Schedule>(global().schedule.load());
}

uint64_t schedule_seed() {
  load_env_once();
  return global().seed;
}

Schedule parse_schedule(const std::string& text) {
  if (text == "forward") return Schedule::kForward;
  if (text == "reverse") return Schedule::kReverse;
  if (text == "shuffle") return Schedule::kShuffle;
  throw_emulation_error("ACX_SIMT_SCHEDULE must be forward, reverse or shuffle, not '" + text + "'");
}

const char* schedule_name(Schedule s) {
  switch (s) {
    case Schedule::kForward: return "forward";
    case Schedule::kReverse: return "reverse";
    case Schedule::kShuffle: return "shuffle";
  }
  return "?";
}

std::string bare_kernel_name(const std::string& text) {
  std::string s = text;
  auto trim = [&s] {
    size_t a = s.find_first_not_of(" \t\n");
    size_t b = s.find_last_not_of(" \t\n");
    s = a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
  };
  trim();
  while (!s.empty() && (s.front() == '(' || s.front() == '&')) {
    if (s.front() == '(' && s.back() == ')') s = s.substr(1, s.size() - 2);
    else s = s.substr(1);
    trim();
  }
  if (size_t lt = s.find('<'); lt != std::string::npos) s = s.substr(0, lt);
  if (size_t colons = s.rfind("::"); colons != std::string::npos) s = s.substr(colons + 2);
  trim();
  return s;
}

std::vector<std::string> launched_kernels() {
  Global& g = global();
  std::lock_guard<std::mutex> lock(g.mu);
  return std::vector<std::string>(g.launched.begin(), g.launched.end());
}

LaunchStats last_launch_stats() { return t_last_stats; }

void poison(void* p, size_t bytes) {
  if (bytes) std::memset(p, kPoisonByte, bytes);
}

GuardedBytes::GuardedBytes(size_t bytes, std::string name) : bytes_(bytes), name_(std::move(name)) {
  size_t total = (2 * kRedZoneBytes + bytes + 255) / 256 * 256;
  block_ = static_cast<unsigned char*>(std::aligned_alloc(256, total));
  if (block_ == nullptr) throw_emulation_error("cannot allocate guarded buffer '" + name_ + "'");
  std::memset(block_, kPoisonByte, total);
  payload_ = block_ + kRedZoneBytes;
  Global& g = global();
  std::lock_guard<std::mutex> lock(g.mu);
  g.guarded.insert(this);
}

GuardedBytes::~GuardedBytes() {
  {
    Global& g = global();
    std::lock_guard<std::mutex> lock(g.mu);
    g.guarded.erase(this);
  }
  std::free(block_);
}

std::string GuardedBytes::corruption() const {
  auto scan = [](const unsigned char* p, size_t n, size_t& first, size_t& last) {
    bool any = false;
    for (size_t i = 0; i < n; ++i) {
      if (p[i] != kPoisonByte) {
        if (!any) first = i;
        last = i;
        any = true;
      }
    }
    return any;
  };
  size_t first = 0, last = 0;
  if (scan(payload_ + bytes_, kRedZoneBytes, first, last)) {
    return "written out of bounds after its end (" + std::to_string(bytes_) + " bytes): bytes +" +
           std::to_string(first) + " to +" + std::to_string(last) + " past the end were modified";
  }
  if (scan(block_, kRedZoneBytes, first, last)) {
    return "written out of bounds before its start: bytes -" + std::to_string(kRedZoneBytes - first) + " to -" +
           std::to_string(kRedZoneBytes - last) + " before the start were modified";
  }
  return {};
}

void GuardedBytes::repair_red_zones() {
  std::memset(block_, kPoisonByte, kRedZoneBytes);
  std::memset(payload_ + bytes_, kPoisonByte, kRedZoneBytes);
}

void GuardedBytes::check() const {
  std::string c = corruption();
  if (!c.empty()) throw_emulation_error("guarded buffer '" + name_ + "': " + c);
}

namespace detail {

[[noreturn]] void fail_outside_kernel(const char* what) {
  throw_emulation_error(std::string(what) + " used outside a kernel launched through acx::simt::launch");
}

void syncthreads(const char* file, int line) {
  Launch& L = active_launch("__syncthreads()");
  Fiber& f = *L.running;
  f.state = State::kBarrier;
  f.file = file;
  f.line = line;
  ++L.n_barrier;
  L.yields_without_progress = 0;
  suspend(L, f);
}

uint64_t warp_op(WarpOpKind kind, unsigned mask, uint64_t value, int value_bytes, int param, int width,
                 const char* file, int line) {
  Launch& L = active_launch(op_name(kind));
  Fiber& f = *L.running;
  if (!(mask >> f.lane & 1u)) {
    ACX_SIMT_FAIL(L, f, std::string(op_name(kind)) + "(mask " + hex(mask) + ") at " + site(file, line) +
                            ": the calling lane " + std::to_string(f.lane) + " is not in the mask");
  }
  if (is_shuffle(kind) && (width < 1 || width > 32 || (width & (width - 1)) != 0)) {
    ACX_SIMT_FAIL(L, f, std::string(op_name(kind)) + " at " + site(file, line) + ": width " + std::to_string(width) +
                            " is not a power of two in [1, 32]");
  }
  f.state = State::kWarp;
  f.kind = kind;
  f.mask = mask;
  f.width = is_shuffle(kind) ? width : 32;
  f.value_bytes = value_bytes;
  f.param = param;
  f.value = value;
  f.file = file;
  f.line = line;
  ++L.warp_waiting[f.warp];
  L.yields_without_progress = 0;
  suspend(L, f);
  return f.result;
}

unsigned activemask() {
  Launch& L = active_launch("__activemask()");
  const Fiber& f = *L.running;
  unsigned m = 0;
  const Fiber* base = &L.fibers[f.warp * 32];
  const unsigned valid = valid_lanes(L, f.warp);
  for (unsigned k = 0; k < 32; ++k) {
    if ((valid >> k & 1u) && base[k].state != State::kExited) m |= 1u << k;
  }
  return m;
}

void yield_after_failed_cas() {
  Launch* L = t_launch;
  if (L == nullptr || L->running == nullptr) return;
  Fiber& f = *L->running;
  if (++L->yields_without_progress > kMaxYieldsWithoutProgress) {
    ACX_SIMT_FAIL(*L, f,
                  "atomicCAS keeps failing while no other thread makes progress (a spin lock whose holder waits "
                  "at a barrier or warp op, or has returned)");
  }
  // Resumed after the other threads have run up to their next sync point.
  f.released = true;
  ++L->n_yielded;
  suspend(*L, f);
}

void* shared_array_bytes(const char* file, int line, const char* function, const void* tag, size_t elem_bytes,
                         size_t align, long long n) {
  Launch& L = active_launch("ACX_SHARED_ARRAY");
  for (const SharedArray& a : L.arrays) {
    if (a.line == line && a.tag == tag && a.n == n &&
        (a.function == function || std::strcmp(a.function, function) == 0) &&
        (a.file == file || std::strcmp(a.file, file) == 0)) {
      return L.arena + a.offset;
    }
  }
  Fiber& f = *L.running;
  auto where = [&] { return "ACX_SHARED_ARRAY at " + site(file, line); };
  if (n < 0) ACX_SIMT_FAIL(L, f, where() + ": negative element count " + std::to_string(n));
  const size_t bytes = static_cast<size_t>(n) * elem_bytes;
  if (L.static_bytes + bytes > kMaxStaticSharedBytes) {
    ACX_SIMT_FAIL(L, f, where() + ": static shared memory of the block would reach " +
                            std::to_string(L.static_bytes + bytes) + " bytes, over the " +
                            std::to_string(kMaxStaticSharedBytes) + "-byte limit");
  }
  if (L.static_bytes + bytes + L.dynamic_bytes > kMaxSharedBytesPerBlock) {
    ACX_SIMT_FAIL(L, f, where() + ": static (" + std::to_string(L.static_bytes + bytes) + " bytes) plus dynamic (" +
                            std::to_string(L.dynamic_bytes) + " bytes) shared memory exceed the " +
                            std::to_string(kMaxSharedBytesPerBlock) + "-byte limit per block");
  }
  if (L.arrays.size() >= kMaxSharedArrays) ACX_SIMT_FAIL(L, f, where() + ": too many shared arrays in one block");
  const size_t a = std::max<size_t>(align, 16);
  const size_t offset = (L.arena_top + a - 1) / a * a;
  if (offset + bytes + kSharedRedZone > kArenaBytes) ACX_SIMT_FAIL(L, f, where() + ": shared-memory arena exhausted");
  std::memset(L.arena + offset, kPoisonByte, bytes + kSharedRedZone);
  L.arrays.push_back(SharedArray{file, line, function, tag, n, offset, bytes});
  L.arena_top = offset + bytes + kSharedRedZone;
  L.static_bytes += bytes;
  return L.arena + offset;
}

void* dynamic_shared_bytes(size_t align) {
  Launch& L = active_launch("ACX_DYNAMIC_SHARED");
  if (align > 256) ACX_SIMT_FAIL(L, *L.running, "ACX_DYNAMIC_SHARED of a type aligned to more than 256 bytes");
  return L.arena;
}

void launch_erased(const LaunchSpec& spec, void (*thunk)(void*), void* closure) {
  Global& g = global();
  {
    std::lock_guard<std::mutex> lock(g.mu);
    g.launched.insert(bare_kernel_name(spec.name));
  }
  if (t_launch != nullptr) {
    throw_emulation_error(std::string("kernel '") + spec.name + "' launched from inside another kernel (" +
                          "dynamic parallelism is not emulated)");
  }
  check_config(spec);
  check_guarded_buffers(spec, "before");

  Launch L;
  L.spec = spec;
  L.thunk = thunk;
  L.closure = closure;
  L.schedule = schedule();
  const uint64_t launch_index = g.launch_count.fetch_add(1);
  L.rng = schedule_seed() ^ (launch_index * 0xD1B54A32D192ED03ull);
  const dim3 b = spec.block, gd = spec.grid;
  L.n_threads = b.x * b.y * b.z;
  L.n_warps = (L.n_threads + 31) / 32;
  L.fibers.resize(L.n_threads);
  L.warp_waiting.assign(L.n_warps, 0u);
  L.order.resize(L.n_threads);
  std::iota(L.order.begin(), L.order.end(), 0u);
  if (L.schedule == Schedule::kReverse) std::reverse(L.order.begin(), L.order.end());
  for (unsigned t = 0; t < L.n_threads; ++t) {
    Fiber& f = L.fibers[t];
    f.linear = t;
    f.lane = t % 32;
    f.warp = t / 32;
    f.ctx.thread_idx = uint3{t % b.x, (t / b.x) % b.y, t / (b.x * b.y)};
    f.ctx.block_dim = b;
    f.ctx.grid_dim = gd;
  }
  if (!t_arena) t_arena = std::make_unique<Arena>();
  L.arena = t_arena->base;
  L.dynamic_bytes = spec.shared_bytes;
  L.stats.threads = 0;

  // Blocks in schedule order: forward, reverse, or a random affine bijection of the linear block index.
  __extension__ typedef unsigned __int128 u128;
  const uint64_t n_blocks = static_cast<uint64_t>(gd.x) * gd.y * gd.z;
  uint64_t stride = 1, shift = 0;
  if (L.schedule == Schedule::kShuffle && n_blocks > 1) {
    shift = splitmix64(L.rng) % n_blocks;
    do stride = 1 + splitmix64(L.rng) % (n_blocks - 1);
    while (std::gcd(stride, n_blocks) != 1);
  }
  t_launch = &L;
  for (uint64_t i = 0; i < n_blocks && !L.failed; ++i) {
    uint64_t lin = i;
    if (L.schedule == Schedule::kReverse) lin = n_blocks - 1 - i;
    else if (L.schedule == Schedule::kShuffle) lin = static_cast<uint64_t>((u128{stride} * i + shift) % n_blocks);
    uint3 bi{static_cast<unsigned>(lin % gd.x), static_cast<unsigned>((lin / gd.x) % gd.y),
             static_cast<unsigned>(lin / (static_cast<uint64_t>(gd.x) * gd.y))};
    run_block(L, bi);
    ++L.stats.blocks;
    L.stats.threads += L.n_threads;
  }
  t_launch = nullptr;
  detail::t_current = nullptr;
  t_last_stats = L.stats;
  if (L.exception) std::rethrow_exception(L.exception);
  if (L.failed) throw_emulation_error(L.error);
  check_guarded_buffers(spec, "after");
}

}  // namespace detail

}  // namespace acx::simt
