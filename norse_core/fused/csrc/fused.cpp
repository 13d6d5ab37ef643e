// The fused CPU loops of norse_core: norse_core/fused/cpp.py builds this file on first use with
// torch.utils.cpp_extension.load_inline; it registers the ops torch.ops.norse_core_fused.*.

#include <torch/library.h>
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/EmptyTensor.h>
#include <c10/core/Allocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <torch/csrc/autograd/custom_function.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <numeric>
#include <unordered_map>
#include <type_traits>
#include <utility>
#include <vector>

// Sequences are contiguous (T, N) with N neurons; a block of neurons keeps its state in local
// arrays while the time loop runs, so the innermost loop (over the block's neurons) is contiguous
// and vectorises. Block functions take their time loop's pointers as restrict parameters.

#define R __restrict__
// The forward's blocks prefer 256-bit vectors where the build allows 512 (cpp.py; docs/fused.md: faster cold)
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define NC_FWD_VECTORS __attribute__((target("prefer-vector-width=256")))
#else
#define NC_FWD_VECTORS
#endif

namespace {

constexpr int64_t CH = 512;
// Wider blocks where there are enough for the threads (chunk): the forward's CHF (rows of 8 KB per
// step, longer runs for the prefetchers: a LIF forward 15-25% faster on a 2-core Xeon), the
// backward's CHB when its re-run's scratch rows (at most two: LIF, LIFBox) fit in 1 MiB of L2.
constexpr int64_t CHF = 2048, CHB = 1024;

// Surrogate derivatives s(x, alpha); ids as in norse_core.fused._common.NATIVE_METHODS.
template <typename S, int M>
inline S surrogate(S x, S alpha) {
  if constexpr (M == 0) {  // heaviside
    return S(0);
  } else if constexpr (M == 1) {  // super: 1 / (alpha |x| + 1)^2
    const S d = alpha * std::abs(x) + S(1);
    return S(1) / (d * d);
  } else if constexpr (M == 2) {  // triangle: alpha relu(1 - |x|)
    return alpha * std::max(S(1) - std::abs(x), S(0));
  } else if constexpr (M == 3) {  // tanh: 1 - tanh(alpha x)^2
    const S t = std::tanh(alpha * x);
    return S(1) - t * t;
  } else if constexpr (M == 4) {  // circ: alpha^3 / (alpha^2 + x^2)^(3/2)
    const S q = alpha * alpha + x * x;
    return alpha * alpha * alpha / (q * std::sqrt(q));
  } else if constexpr (M == 5) {  // heavi_erfc: 2 exp(-(alpha x)^2) / sqrt(pi)
    const S y = alpha * x;
    return S(1.1283791670955126) * std::exp(-y * y);
  } else if constexpr (M == 6) {  // atan: alpha/2 / (1 + (pi/2 alpha x)^2)
    const S y = S(1.5707963267948966) * alpha * x;
    return alpha / S(2) / (S(1) + y * y);
  } else {  // sigmoid: alpha s (1 - s), s = sigmoid(alpha x)
    const S s = S(1) / (S(1) + std::exp(-alpha * x));
    return alpha * s * (S(1) - s);
  }
}

template <int V> using Int = std::integral_constant<int, V>;

// Calls fn(Int<V>{}) with the V of the list Vs equal to value (what: the value's name in the error).
template <typename Fn, int... Vs>
void dispatch_in(int64_t value, Fn&& fn, std::integer_sequence<int, Vs...>, const char* what) {
  const bool hit = ((value == Vs ? (fn(Int<Vs>{}), true) : false) || ...);
  TORCH_CHECK(hit, "norse_core_fused: no compiled kernel for ", what, " ", value);
}

template <typename F>
void dispatch_method(int64_t method, F&& f) { dispatch_in(method, f, std::make_integer_sequence<int, 8>{}, "the surrogate id"); }
template <typename F>
void dispatch_bool(bool value, F&& f) { if (value) f(std::true_type{}); else f(std::false_type{}); }

// Runs f(n0, len) over chunks (blocks of CH neurons, or CR batch rows) on torch's intra-op
// threads (at::parallel_for: its OpenMP team when built with -fopenmp, whose threads spin-wait
// after torch's own parallel ops, where a pool of ours would compete with them: about 1 ms of a
// 4 ms forward + backward on 2 cores), each thread one contiguous range of blocks (a block's
// rows follow the previous block's in memory; docs/fused.md).
template <typename F>
void for_chunks(int64_t total, int64_t chunk, const F& f) {
  at::parallel_for(0, (total + chunk - 1) / chunk, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t n0 = b0 * chunk; n0 < std::min(total, b1 * chunk); n0 += chunk) f(n0, std::min(chunk, total - n0));
  });
}

// A gradient over the whole sequence: contiguous, or, when autograd hands over a broadcast
// constant (e.g. from out.sum()), one block of CHB copies reused for every step and block.
template <typename S>
const S* seq_grad(const at::Tensor& g, at::Tensor& holder, bool& constant) {
  constant = g.numel() > 1;
  for (int64_t d = 0; d < g.dim() && constant; ++d) constant = g.stride(d) == 0 || g.size(d) == 1;
  if (constant) {
    holder = at::empty({CHB}, g.options());
    const S value = *g.data_ptr<S>();
    S* p = holder.data_ptr<S>();
    for (int64_t k = 0; k < CHB; ++k) p[k] = value;
  } else {
    holder = g.contiguous();
  }
  return holder.data_ptr<S>();
}

struct Seq { int64_t T, N; };

void check_input(const at::Tensor& x) {
  TORCH_CHECK(x.dim() >= 1 && x.size(0) > 0, "norse_core_fused: empty sequence");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, "norse_core_fused: float32/64 only");
  TORCH_CHECK(x.device().is_cpu(), "norse_core_fused: CPU tensors only");
}

// Every state tensor (undefined: absent) holds n values of the input's dtype.
void check_states(const std::vector<at::Tensor>& states, int64_t n, at::ScalarType dtype) {
  for (const auto& s : states)
    TORCH_CHECK(!s.defined() || (s.numel() == n && s.scalar_type() == dtype), "norse_core_fused: state shape/dtype mismatch");
}

Seq check_seq(const at::Tensor& x, const std::vector<at::Tensor>& states) {
  check_input(x);
  const int64_t T = x.size(0), N = x.numel() / T;
  check_states(states, N, x.scalar_type());
  return {T, N};
}

// Sequence-sized outputs (T, B, N) come from a cache of freed blocks: glibc's malloc returns
// such blocks to the system when they are freed and page-faults them in again (zeroed) on the
// next allocation, measured at 350-2,500 faults and up to 2x the time of a LIF forward + backward.
// A freed block waits here for the next output of its size while the cache holds under
// CACHE_BYTES (the memory profiler sees every allocation and release, as with torch's allocator).
constexpr size_t CACHE_BYTES = size_t(1) << 30, CACHE_MIN = size_t(1) << 18;
struct Block { void* data; size_t n; };
struct BlockCache final : c10::Allocator {
  std::mutex lock;
  std::unordered_map<size_t, std::vector<Block*>> idle;
  size_t cached = 0, live = 0;
  static BlockCache& get() { static auto* cache = new BlockCache(); return *cache; }  // never destroyed
  // Reports an allocation (bytes > 0) or release to the profiler with the totals after it.
  static void report(void* data, int64_t bytes, size_t live, size_t cached) {
    if (c10::memoryProfilingEnabled()) c10::reportMemoryUsageToProfiler(data, bytes, live, live + cached, c10::Device(c10::kCPU));
  }
  c10::DataPtr allocate(size_t n) override {
    Block* b = nullptr;
    {
      std::lock_guard<std::mutex> g(lock);
      auto& list = idle[n];
      if (!list.empty()) b = list.back(), list.pop_back(), cached -= n;
    }
    if (!b) b = new Block{c10::alloc_cpu(n), n};  // may throw (out of memory): nothing counted yet
    size_t now_live, now_cached;
    {
      std::lock_guard<std::mutex> g(lock);
      now_live = live += n, now_cached = cached;
    }
    report(b->data, int64_t(n), now_live, now_cached);
    return {b->data, b, &release, c10::Device(c10::kCPU)};
  }
  static void release(void* ctx) {
    auto* b = static_cast<Block*>(ctx);
    auto& c = get();
    bool keep;
    size_t now_live, now_cached;
    {
      std::lock_guard<std::mutex> g(c.lock);
      keep = c.cached + b->n <= CACHE_BYTES;
      if (keep) c.idle[b->n].push_back(b), c.cached += b->n;
      now_live = c.live -= b->n, now_cached = c.cached;
    }
    report(b->data, -int64_t(b->n), now_live, now_cached);
    if (!keep) c10::free_cpu(b->data), delete b;
  }
  void copy_data(void* dest, const void* src, size_t count) const override { std::memcpy(dest, src, count); }
};

// An uninitialised tensor like t (contiguous), from the block cache when it is large.
at::Tensor seq_empty(at::IntArrayRef sizes, const at::Tensor& like) {
  if (size_t(c10::multiply_integers(sizes)) * like.element_size() < CACHE_MIN) return at::empty(sizes, like.options());
  return at::detail::empty_generic(sizes, &BlockCache::get(), c10::DispatchKeySet(c10::DispatchKey::CPU),
                                   like.scalar_type(), c10::nullopt);
}

template <typename S> S* ptr(const at::Tensor& t) { return t.defined() && t.numel() ? t.data_ptr<S>() : nullptr; }
template <typename S> const S* cptr(const at::Tensor& t) { return t.data_ptr<S>(); }

// Spiking models save nothing per step: the backward pass of a block first re-runs the block's
// forward (bitwise the same arithmetic) into a thread-local (T, CH) scratch of pre-reset
// voltages, which stays in cache, then runs the reverse-time loop over it.
// Its rows start on a page and lie ROW_GAP elements further apart than their length, so that
// the same neuron's values in two rows never share their address's low 12 bits.
constexpr int64_t ROW_GAP = 32;
template <typename S>
S* scratch(int64_t n) {
  thread_local std::vector<S> buffer;
  const int64_t page = 4096 / sizeof(S);
  if (static_cast<int64_t>(buffer.size()) < n + page) buffer.resize(n + page);
  return buffer.data() + ((-reinterpret_cast<std::uintptr_t>(buffer.data())) & 4095) / sizeof(S);
}

// ---------------------------------------------------------------------------- feed-forward models
// ONE block code for every feed-forward model, specialised by the terms of its Dynamics
// (norse_core/functional/dynamics.py) as compile-time flags F, exactly the math of the portable
// kernel (norse_core/fused/portable.py, _Kernel). Per step (j the input current, vd the
// pre-reset voltage, "v" the voltage before the step):
//   CUR     j = i + x;  i' = j - b j                                   else j = x
//   LEAK    vd = v + a drive,  drive = (((v_leak - v) [+ dT E]) + j) [- w]     else vd = v + j
//   EXPO    E = exp((v - v_th)/dT)
//   ADCUR   w' = (w + d tw) [+ asp if z],  tw = ac (v - v_leak) - w
//   ADAPT   bd = w + c tw,  tw = v_th - w;  diff = vd - bd;  w' = bd [+ beta if z]
//   SPIKE   diff = vd - v_th (not ADAPT);  z = diff > 0;  v' = z ? v_reset : vd   (SUB: z ? vd - v_th : vd)
//           else (a leaky integrator) v' = vd is the output
//   REFRAC  m = rho > 0: v' = m ? v : v';  z = z && !m;  rho' = z ? rho_reset : max(rho - m, 0)
// Backward, reverse in time, gv gi gw gr the gradients of the state after the step, s the
// surrogate derivative at diff (u = dL/dvd):
//   REFRAC  gz += gr (rho_reset - relu(rho - m)); gr = (z || rho - m <= 0) ? 0 : gr;
//           (m: gz = 0, the voltage's gradient bypasses the step: gv_kept = gv, gv = 0)
//   spike = gz + gv (v_reset - vd)   (SUB: gz - gv v_th)  [+ gw beta (ADAPT) | + gw asp (ADCUR)]
//   s' = spike s;  u = (z ? 0 : gv) + s'   (SUB: gv + s');  ADAPT: gw = (1 - c)(gw - s')
//   leaky: u = gout + gv
//   LEAK    gj = a u;  gv = (1 - a) u  [+ a u E (EXPO)] [+ d gw ac (ADCUR), gw = (1 - d) gw - a u]
//           else gj = u;  gv = u
//   CUR     gj += (1 - b) gi;  gi = gj;      gx = gj
// Parameter gradients (G: none; G_A: a's only, the common trainable time constant; G_ALL: every
// field the model uses) are summed over time per state element: rows in the order of
// PARAMETER_FIELDS (portable.py), below.
constexpr int CUR = 1, LEAK = 2, SPIKE = 4, ADAPT = 8, EXPO = 16, ADCUR = 32, SUB = 64, REFRAC = 128;
constexpr int G_A = 1, G_ALL = 2;
// a, b, c, d, delta_T, adaptation_current, adaptation_spike, v_leak, v_th, v_reset, beta, rho_reset
enum Field { FA, FB, FC, FD, FDT, FAC, FAS, FVL, FVTH, FVR, FBETA, FRHO, NFIELDS };

// The flag sets compiled here: the built-in feed-forward models (cpp.py asks for this list).
using Compiled = std::integer_sequence<int,
    SPIKE | LEAK | CUR, SPIKE | LEAK, SPIKE | LEAK | SUB, SPIKE, LEAK | CUR, LEAK,  // LIF, LIFBox (either reset), IAF, LI, LIBox
    SPIKE | LEAK | CUR | ADAPT, SPIKE | LEAK | CUR | EXPO, SPIKE | LEAK | CUR | EXPO | ADCUR,  // LSNN, LIFEx, LIFAdEx
    SPIKE | LEAK | CUR | REFRAC, SPIKE | LEAK | CUR | EXPO | ADCUR | REFRAC,  // LIFRefrac, LIFAdExRefrac
    SPIKE | LEAK | CUR | SUB, SPIKE | SUB, SPIKE | LEAK | CUR | ADAPT | SUB, SPIKE | LEAK | CUR | EXPO | SUB,  // ... with the
    SPIKE | LEAK | CUR | EXPO | ADCUR | SUB, SPIKE | LEAK | CUR | REFRAC | SUB, SPIKE | LEAK | CUR | EXPO | ADCUR | REFRAC | SUB>;  // subtract reset

template <int... Fs>
std::vector<int64_t> flag_list(std::integer_sequence<int, Fs...>) { return {Fs...}; }  // the ff_flags op

template <int F>
constexpr bool uses(int f) {
  switch (f) {
    case FA: return F & LEAK;
    case FB: return F & CUR;
    case FC: case FBETA: return F & ADAPT;
    case FD: case FAC: case FAS: return F & ADCUR;
    case FDT: return F & EXPO;
    case FVL: return F & (LEAK | ADCUR);
    case FVTH: return F & (SPIKE | EXPO);
    case FVR: return (F & SPIKE) && !(F & SUB);
    case FRHO: return F & REFRAC;
    default: return false;
  }
}

// LIF and LIFBox (either reset), the models benchmarked against other libraries, compute the
// surrogate derivative inline (one backward block per surrogate method M); every other model
// computes it per step into a row of the block from the saved threshold argument, through a
// function chosen at run time (one backward block for all methods: a fraction of the build;
// for LIF that would cost 10-25% of a backward).
template <int F>
constexpr bool inline_surrogate() { return F == (SPIKE | LEAK | CUR) || F == (SPIKE | LEAK) || F == (SPIKE | LEAK | SUB); }

template <typename S>
using SurrogateRow = void (*)(const S*, S*, int64_t, S);

template <typename S, int M>
void surrogate_row(const S* R x, S* R s, int64_t len, S alpha) {
  for (int64_t k = 0; k < len; ++k) s[k] = surrogate<S, M>(x[k], alpha);
}

template <typename S>
SurrogateRow<S> surrogate_row_of(int64_t method) {
  SurrogateRow<S> fn = nullptr;
  dispatch_method(method, [&](auto m) { fn = &surrogate_row<S, decltype(m)::value>; });
  return fn;
}

// Whether the backward with gradient set G sums the gradient of field f.
template <int F, int G>
constexpr bool wants(int f) { return uses<F>(f) && (G == G_ALL || (G == G_A && f == FA)); }

// The (T, CH) rows of scratch a backward block fills by re-running its forward, and their
// places: the pre-reset voltage vd (spiking), the threshold argument (ADAPT: vd - bd; any, for
// the surrogate row, if ROW: not inline_surrogate), E = exp((v - v_th)/dT) (EXPO), what the
// parameter gradients need: the drive (a), j (b), tw (c, d), the voltage before the step
// (delta_T, adaptation_current); and the countdown before the step (REFRAC).
template <int F, int G, bool ROW>
struct Rows {
  static constexpr bool has_vd = F & SPIKE, has_df = (F & ADAPT) || ((F & SPIKE) && ROW),
                        has_ex = F & EXPO, has_dr = wants<F, G>(FA), has_j = wants<F, G>(FB),
                        has_tw = wants<F, G>(FC) || wants<F, G>(FD), has_vp = wants<F, G>(FDT) || wants<F, G>(FAC),
                        has_rho = F & REFRAC;
  static constexpr int vd = 0, df = vd + has_vd, ex = df + has_df, dr = ex + has_ex, j = dr + has_dr,
                       tw = j + has_j, vp = tw + has_tw, rho = vp + has_vp, count = rho + has_rho;
};

// A neuron parameter: one value v for all neurons (p == nullptr), or p[n % m] for state element n
// (m values repeating over the leading dimensions, e.g. one per neuron for every batch row).
template <typename S>
struct Param {
  const S* p;
  S v;
  int64_t m;
};

// The values of a parameter for the neurons of a block: one register (PER false: one number,
// the fast path) or a local array of the block (PER true).
template <typename S, bool PER, int64_t W>
struct Vals {
  S x;
  Vals(const Param<S>& q, int64_t, int64_t) : x(q.v) {}
  explicit Vals(S value) : x(value) {}
  S operator[](int64_t) const { return x; }
  Vals one_minus(int64_t) const { return Vals(S(1) - x); }
};

template <typename S, int64_t W>
struct Vals<S, true, W> {
  S x[W];
  Vals() = default;
  Vals(const Param<S>& q, int64_t n0, int64_t len) {
    for (int64_t k = 0, n = q.p ? n0 % q.m : 0; k < len; ++k, n = n + 1 == q.m ? 0 : n + 1) x[k] = q.p ? q.p[n] : q.v;
  }
  S operator[](int64_t k) const { return x[k]; }
  Vals one_minus(int64_t len) const {
    Vals r;
    for (int64_t k = 0; k < len; ++k) r.x[k] = S(1) - x[k];
    return r;
  }
};

// The tensors of one call; states by kind: KV (v), KI (i), KW (b or w), KR (rho).
enum Kind { KV, KI, KW, KR };
template <typename S>
struct Seqs {
  const S *X, *S0[4];                    // input, initial state
  S *Z, *ST[4];                          // outputs (spikes or voltages), final state
  const S *GZ, *GT[4];                   // their gradients (GZC: GZ is one block of a broadcast constant)
  bool GZC;
  S *GX, *G0[4], *GP;                    // gradients of the input, initial state, parameters
  Param<S> prm[NFIELDS];
  S alpha;
  SurrogateRow<S> sur;                   // the surrogate derivative (backward, ROW)
  int64_t T, N;
  int64_t XT;                            // X's step between time steps: N, or 0 (seq_input)
};

// Copies the state kinds a call has (v, i, b or w, rho: the tensors t that Slots::fill did not leave null)
// between rows n0.. of those tensors and a block's local arrays a (IN: into the block; ZERO: zeros where null).
template <bool IN, typename S, typename P, bool ZERO = false>
void copy_states(P* const (&t)[4], S* const (&a)[4], int64_t n0, int64_t len) {
  for (int kind = 0; kind < 4; ++kind) {
    if (!t[kind]) { if constexpr (ZERO) std::fill_n(a[kind], len, S(0)); }
    else if constexpr (IN) std::copy_n(t[kind] + n0, len, a[kind]); else std::copy_n(a[kind], len, t[kind] + n0);
  }
}

// Where the parameters of a call live: every one a number (P_NONE), only a per element (P_A: a
// trainable membrane time constant; one block array, the others registers), or any (P_ALL).
constexpr int P_NONE = 0, P_A = 1, P_ALL = 2;
template <int F, int PER>
constexpr bool per_element(int f) { return uses<F>(f) && (PER == P_ALL || (PER == P_A && f == FA)); }

// Every parameter the flags F use: a register (a number) or a block array (per_element);
// unused ones are a register that no code reads.
#define NC_PARAM(name, f) const Vals<S, per_element<F, PER>(f), W> name(q.prm[f], n0, len)
#define NC_PARAMS                                                                                         \
  NC_PARAM(A, FA); NC_PARAM(B, FB); NC_PARAM(C, FC); NC_PARAM(D, FD); NC_PARAM(DT, FDT); NC_PARAM(AC, FAC); \
  NC_PARAM(AS, FAS); NC_PARAM(VL, FVL); NC_PARAM(VTH, FVTH); NC_PARAM(VR, FVR); NC_PARAM(BETA, FBETA);      \
  NC_PARAM(RR, FRHO)

// The scratch rows (Rows) as restrict parameters of the block functions (nullptr where absent;
// restrict parameters, not one pointer with offsets, let the compiler vectorise and interleave
// two time steps as the rows need no overlap checks), and their rows of step t.
#define NC_ROW_PARAMS(P) P R SVD, P R SDF, P R SEX, P R SDR, P R SJ, P R STW, P R SVP, P R SRH
#define NC_NO_ROWS nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr
#define NC_STEP_ROWS(P)                                                                        \
  P R vdt = RW::has_vd ? SVD + t * W : nullptr; P R dft = RW::has_df ? SDF + t * W : nullptr; \
  P R ext = RW::has_ex ? SEX + t * W : nullptr; P R drt = RW::has_dr ? SDR + t * W : nullptr; \
  P R jt = RW::has_j ? SJ + t * W : nullptr; P R twt = RW::has_tw ? STW + t * W : nullptr;    \
  P R vpt = RW::has_vp ? SVP + t * W : nullptr; P R rht = RW::has_rho ? SRH + t * W : nullptr

// A call's block length: `width` (P_ALL: CH, all the block arrays of per-element parameters stay
// in L1) with at least two such blocks per thread and their scratch (bytes per neuron) in 1 MiB.
inline int64_t chunk(int64_t n, int64_t width, int64_t scratch_per_neuron = 0) {
  const bool fits = scratch_per_neuron * width <= (int64_t(1) << 20);
  return width > CH && fits && n >= 2 * width * at::get_num_threads() ? width : CH;
}

// RECOMPUTE false: writes outputs and final states (the forward). RECOMPUTE true: writes only
// the scratch rows Rows<F, G, ROW> (the backward's re-run).
template <typename S, int F, int PER, bool RECOMPUTE, int G, bool ROW, int64_t W>
NC_FWD_VECTORS void ff_fwd_block(const Seqs<S>& q, const S* R X, S* R Z, NC_ROW_PARAMS(S*), int64_t n0, int64_t len) {
  using RW = Rows<F, G, ROW>;
  const int64_t T = q.T, N = q.N;
  NC_PARAMS;
  S v[W], c[W], w[W], rho[W];
  copy_states<true, S>(q.S0, {v, c, w, rho}, n0, len);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t o = t * N + n0;
    const S* R xt = X + t * q.XT + n0;
    S* R zt = RECOMPUTE ? nullptr : Z + o;
    NC_STEP_ROWS(S*);
    for (int64_t k = 0; k < len; ++k) {
      const S vp = v[k];
      S j;
      if constexpr (F & CUR) j = c[k] + xt[k]; else j = xt[k];
      S d, drive = S(0), ex = S(0);
      if constexpr (F & LEAK) {
        drive = VL[k] - vp;
        if constexpr (F & EXPO) {
          ex = std::exp((vp - VTH[k]) / DT[k]);
          drive = drive + DT[k] * ex;
        }
        drive = drive + j;
        if constexpr (F & ADCUR) drive = drive - w[k];
        d = vp + A[k] * drive;
      } else {
        d = vp + j;
      }
      if constexpr (F & CUR) c[k] = j - B[k] * j;
      if constexpr (RECOMPUTE) {
        if constexpr (RW::has_dr) drt[k] = drive;
        if constexpr (RW::has_j) jt[k] = j;
        if constexpr (F & EXPO) ext[k] = ex;
        if constexpr (RW::has_vp) vpt[k] = vp;
      }
      if constexpr (!(F & SPIKE)) {  // a leaky integrator: the voltage is the output
        v[k] = d;
        if constexpr (!RECOMPUTE) zt[k] = d;
        continue;
      }
      S tw = S(0), diff, bd = S(0);
      if constexpr (F & ADCUR) {
        tw = AC[k] * (vp - VL[k]) - w[k];
        w[k] = w[k] + D[k] * tw;
      }
      if constexpr (F & ADAPT) {
        tw = VTH[k] - w[k];
        bd = w[k] + C[k] * tw;
        diff = d - bd;
      } else {
        diff = d - VTH[k];
      }
      const bool spk = diff > S(0);
      S vn;
      if constexpr (F & SUB) vn = spk ? ((F & ADAPT) ? d - VTH[k] : diff) : d; else vn = spk ? VR[k] : d;
      if constexpr (F & ADAPT) w[k] = spk ? bd + BETA[k] : bd;
      if constexpr (F & ADCUR) w[k] = spk ? w[k] + AS[k] : w[k];
      bool zo = spk;
      if constexpr (F & REFRAC) {  // refractory neurons keep their voltage and do not spike
        const S r = rho[k];
        const bool m = r > S(0);
        if constexpr (RECOMPUTE) rht[k] = r;
        vn = m ? vp : vn;
        zo = spk && !m;
        rho[k] = zo ? RR[k] : std::max(r - (m ? S(1) : S(0)), S(0));
      }
      v[k] = vn;
      if constexpr (RECOMPUTE) {
        vdt[k] = d;
        if constexpr (RW::has_df) dft[k] = diff;
        if constexpr (RW::has_tw) twt[k] = tw;
      } else {
        zt[k] = zo ? S(1) : S(0);
      }
    }
  }
  if constexpr (!RECOMPUTE) copy_states<false, S>(q.ST, {v, c, w, rho}, n0, len);
}

// The reverse-time loop over a block's scratch (module comment above); writes the gradients of
// the input and the initial state, and GP rows (f N + n) of the parameter gradients G. M: the
// surrogate method, or -1: the derivatives of a step come from q.sur (ROW).
template <typename S, int M, int F, int PER, int G, int64_t W>
void ff_bwd_block(const Seqs<S>& q, const S* R GZ, S* R GX, NC_ROW_PARAMS(const S*), int64_t n0, int64_t len) {
  using RW = Rows<F, G, (M < 0)>;
  const int64_t T = q.T, N = q.N;
  NC_PARAMS;
  const auto AP = A.one_minus(len);
  const auto BP = B.one_minus(len);
  const auto CP = C.one_minus(len);
  const auto DP = D.one_minus(len);
  const S AL = q.alpha;
  // the parameter gradients' sums, one array each that G wants
#define NC_EACH_SUM(X) X(ga, FA) X(gb, FB) X(gc, FC) X(gd, FD) X(gdt, FDT) X(gac, FAC) X(gas, FAS) X(gvl, FVL) \
  X(gvth, FVTH) X(gvr, FVR) X(gbeta, FBETA) X(grr, FRHO)
#define NC_SUM(name, f) S name[wants<F, G>(f) ? W : 1];
  NC_EACH_SUM(NC_SUM)
#undef NC_SUM
  S gv[W], gi[W], gw[W], gr[W], sd[M < 0 ? W : 1];
  copy_states<true, S, const S, true>(q.GT, {gv, gi, gw, gr}, n0, len);
#define NC_ZERO(name, f) \
  if constexpr (wants<F, G>(f)) for (int64_t k = 0; k < len; ++k) name[k] = S(0);
  NC_EACH_SUM(NC_ZERO)
#undef NC_ZERO
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t o = t * N + n0;
    NC_STEP_ROWS(const S*);
    const S* R gzt = q.GZC ? GZ : GZ + o;
    S* R gxt = GX + o;
    if constexpr (M < 0 && bool(F & SPIKE)) q.sur(dft, sd, len, AL);
    for (int64_t k = 0; k < len; ++k) {
      S gz = gzt[k], gvk = gv[k], gv_kept = S(0), u;
      if constexpr (F & SPIKE) {
        const S d = vdt[k];
        S diff;
        if constexpr (RW::has_df) diff = dft[k]; else diff = d - VTH[k];
        const bool spk = diff > S(0);
        if constexpr (F & REFRAC) {  // m = rho > 0 carries no gradient
          const S r = rht[k];
          const bool m = r > S(0);
          const bool zo = spk && !m;
          const S arg = r - (m ? S(1) : S(0));
          gz = gz + gr[k] * (RR[k] - std::max(arg, S(0)));
          if constexpr (wants<F, G>(FRHO)) grr[k] += zo ? gr[k] : S(0);
          gr[k] = (zo || !(arg > S(0))) ? S(0) : gr[k];
          gz = m ? S(0) : gz;
          gv_kept = m ? gvk : S(0);
          gvk = m ? S(0) : gvk;
        }
        S spike;
        if constexpr (F & SUB) {
          spike = gz - gvk * VTH[k];
          if constexpr (wants<F, G>(FVTH)) gvth[k] -= spk ? gvk : S(0);
        } else {
          spike = gz + gvk * (VR[k] - d);
          if constexpr (wants<F, G>(FVR)) gvr[k] += spk ? gvk : S(0);
        }
        if constexpr (F & ADAPT) {
          if constexpr (wants<F, G>(FBETA)) gbeta[k] += spk ? gw[k] : S(0);
          spike = spike + gw[k] * BETA[k];
        } else if constexpr (F & ADCUR) {
          if constexpr (wants<F, G>(FAS)) gas[k] += spk ? gw[k] : S(0);
          spike = spike + gw[k] * AS[k];
        }
        S s;
        if constexpr (M < 0) s = spike * sd[k]; else s = spike * surrogate<S, M>(diff, AL);
        if constexpr (F & SUB) u = gvk + s; else u = (spk ? S(0) : gvk) + s;
        if constexpr (F & ADAPT) {
          const S gbd = gw[k] - s;
          if constexpr (wants<F, G>(FC)) gc[k] += gbd * twt[k];
          if constexpr (wants<F, G>(FVTH)) gvth[k] += gbd * C[k];
          gw[k] = gbd * CP[k];
        } else if constexpr (wants<F, G>(FVTH)) {
          gvth[k] -= s;
        }
      } else {
        u = gz + gvk;
      }
      S gj;
      if constexpr (F & LEAK) {
        const S ua = u * A[k];
        if constexpr (wants<F, G>(FA)) ga[k] += u * drt[k];
        if constexpr (wants<F, G>(FVL)) gvl[k] += ua;
        gj = ua;
        S gvp = u * AP[k];
        if constexpr (F & EXPO) {  // E of the voltage before the step
          const S uae = ua * ext[k];
          gvp = gvp + uae;
          if constexpr (wants<F, G>(FVTH)) gvth[k] -= uae;
          if constexpr (wants<F, G>(FDT)) gdt[k] += uae * (S(1) - (vpt[k] - VTH[k]) / DT[k]);
        }
        if constexpr (F & ADCUR) {  // w' = w + d (ac (v - v_leak) - w)
          const S gwd = gw[k] * D[k];
          gvp = gvp + gwd * AC[k];
          if constexpr (wants<F, G>(FVL)) gvl[k] -= gwd * AC[k];
          if constexpr (wants<F, G>(FD)) gd[k] += gw[k] * twt[k];
          if constexpr (wants<F, G>(FAC)) gac[k] += gwd * (vpt[k] - VL[k]);
          gw[k] = gw[k] * DP[k] - ua;
        }
        gvk = gvp;
      } else {
        gj = u;
        gvk = u;
      }
      if constexpr (F & REFRAC) gvk = gvk + gv_kept;  // the refractory bypass
      gv[k] = gvk;
      if constexpr (F & CUR) {
        if constexpr (wants<F, G>(FB)) gb[k] -= gi[k] * jt[k];
        gj = gj + BP[k] * gi[k];
        gi[k] = gj;
      }
      gxt[k] = gj;
    }
  }
  copy_states<false, S>(q.G0, {gv, gi, gw, gr}, n0, len);
#define NC_STORE(name, f) \
  if constexpr (wants<F, G>(f)) for (int64_t k = 0; k < len; ++k) q.GP[f * N + n0 + k] = name[k];
  NC_EACH_SUM(NC_STORE)
#undef NC_STORE
#undef NC_EACH_SUM
}
#undef NC_PARAMS

// The sizes, and the parameters from p (NFIELDS numbers) and per = [] (all numbers) or NFIELDS
// tensors: empty (use the number) or m contiguous values repeating over the N state elements
// (m divides N). Returns their least common multiple (1 without tensors).
template <typename S>
int64_t set_params(Seqs<S>& q, Seq sq, at::ArrayRef<double> p, at::TensorList per) {
  q.T = sq.T;
  q.N = sq.N;
  TORCH_CHECK(p.size() == NFIELDS && (per.empty() || per.size() == NFIELDS),
              "norse_core_fused: the kernels take ", int(NFIELDS), " parameters");
  int64_t period = 1;
  for (size_t f = 0; f < NFIELDS; ++f) {
    const int64_t m = per.empty() ? 0 : per[f].numel();
    TORCH_CHECK(!m || (q.N % m == 0 && per[f].is_contiguous() && per[f].device().is_cpu() &&
                       per[f].scalar_type() == c10::CppTypeToScalarType<S>::value),
                "norse_core_fused: a parameter tensor must hold values repeating over the state elements");
    q.prm[f] = Param<S>{m ? per[f].data_ptr<S>() : nullptr, S(p[f]), m};
    period = m ? std::lcm(period, m) : period;  // divides N
  }
  return period;
}

// The parameter mode of per: P_NONE (empty), P_A (no tensor but a's, if any) or P_ALL.
int per_mode(at::TensorList per) {
  for (size_t f = 0; f < per.size(); ++f) if (f != FA && per[f].numel()) return P_ALL;
  return per.empty() ? P_NONE : P_A;
}

// The state tensors of flags F in the order of Dynamics.slots: v, (i), (b or w), (rho); at[kind]
// is the place of a kind in that list (-1: absent).
struct Slots {
  int at[4] = {0, -1, -1, -1}, count = 1;
  explicit Slots(int64_t F) {
    if (F & CUR) at[KI] = count++;
    if (F & (ADAPT | ADCUR)) at[KW] = count++;
    if (F & REFRAC) at[KR] = count++;
  }
  template <typename P, typename S>  // the data pointers of the tensors ts by kind (null: undefined)
  void fill(P* (&out)[4], const std::vector<at::Tensor>& ts, int offset = 0) const {
    for (int kind = 0; kind < 4; ++kind) out[kind] = at[kind] >= 0 ? (P*)ptr<S>(ts[offset + at[kind]]) : nullptr;
  }
};

// A feed-forward input as the kernels read it: one (N) row repeated over time as it is (stride 0 in
// time, e.g. a constant current expanded over the steps: *step = 0), else contiguous (*step = N).
at::Tensor seq_input(const at::Tensor& x, int64_t* step) {
  const bool time_constant = x.dim() >= 2 && x.size(0) > 1 && x.stride(0) == 0 && x.select(0, 0).is_contiguous();
  *step = time_constant || x.size(0) == 0 ? 0 : x.numel() / x.size(0);
  return time_constant ? x : x.contiguous();
}

std::vector<at::Tensor> contiguous(at::TensorList ts) {
  std::vector<at::Tensor> out;
  for (const auto& t : ts) out.push_back(t.defined() ? t.contiguous() : t);
  return out;
}

std::vector<at::Tensor> ff_fwd(const at::Tensor& x_, at::TensorList state_, int64_t flags, at::ArrayRef<double> p,
                               at::TensorList per) {
  const Slots sl(flags);
  TORCH_CHECK(int64_t(state_.size()) == sl.count, "norse_core_fused: wrong number of state tensors");
  int64_t x_step; auto x = seq_input(x_, &x_step);  // x_step: N, or 0 (one row for every step)
  auto state = contiguous(state_);
  const Seq sq = check_seq(x, state);
  auto out = seq_empty(x.sizes(), x);
  std::vector<at::Tensor> finals;
  for (const auto& s : state) finals.push_back(at::empty_like(s));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "ff_fwd", [&] {
    using S = scalar_t;
    Seqs<S> q{};
    set_params(q, sq, p, per);
    q.X = cptr<S>(x);
    q.XT = x_step;
    q.Z = ptr<S>(out);
    sl.fill<const S, S>(q.S0, state);
    sl.fill<S, S>(q.ST, finals);
    dispatch_in(flags, [&](auto f_c) {
      constexpr int F = decltype(f_c)::value;
      auto run = [&](auto per_c) {
        constexpr int PER = decltype(per_c)::value;
        constexpr int64_t W = PER == P_ALL ? CH : CHF;
        for_chunks(q.N, chunk(q.N, W), [&](int64_t n0, int64_t len) {
          ff_fwd_block<S, F, PER, false, 0, false, W>(q, q.X, q.Z, NC_NO_ROWS, n0, len);
        });
      };
      dispatch_in(per_mode(per), run, std::integer_sequence<int, P_NONE, P_A, P_ALL>{}, "the parameter mode");
    }, Compiled{}, "the terms");
  });
  finals.insert(finals.begin(), out);
  return finals;
}

// grads: 0 none, G_A (a's only; all when another parameter is per element) or G_ALL. Returns
// [gx, the gradients of the initial state, (if grads: the parameter gradients summed over time and
// the repeats of the parameter period m (set_params), (NFIELDS, m) with only the rows G wants
// computed, or (1, m): a's, for G_A when only a is a tensor)].
std::vector<at::Tensor> ff_bwd(const at::Tensor& gout, at::TensorList gstate_, const at::Tensor& x_,
                               at::TensorList state_, int64_t flags, at::ArrayRef<double> p, at::TensorList per,
                               int64_t method, double alpha, int64_t grads, int64_t state_grads) {
  const Slots sl(flags);
  auto gstate = contiguous(gstate_);  // undefined: the final state was not used (zeros)
  const Seq sq = check_seq(gout, gstate);
  // x and the initial state as ff_fwd checked them (FfNode); empty where backward does not re-run
  // the forward (leaky integrators without parameter gradients save nothing)
  const bool inputs = x_.numel() > 0;
  int64_t x_step = 0; auto x = inputs ? seq_input(x_, &x_step) : x_;
  auto state = inputs ? contiguous(state_) : std::vector<at::Tensor>(sl.count, x_);
  auto gx = seq_empty(gout.sizes(), gout);
  std::vector<at::Tensor> results{gx};
  for (size_t k = 0; k < gstate.size(); ++k)  // initial state k's gradient if bit k of state_grads asks for it
    results.push_back((state_grads >> k) & 1 ? at::empty_like(gstate[k].defined() ? gstate[k] : state[k]) : at::Tensor());
  const bool only_a = grads == G_A && per_mode(per) != P_ALL;  // one row: a's (FA, row 0 either way)
  auto gp = grads ? at::empty({only_a ? 1 : int64_t(NFIELDS), sq.N}, gx.options()) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "ff_bwd", [&] {
    using S = scalar_t;
    Seqs<S> q{};
    const int64_t m = set_params(q, sq, p, per);
    q.alpha = S(alpha);
    at::Tensor gz_hold;
    q.GZ = seq_grad<S>(gout, gz_hold, q.GZC);
    if (inputs) {
      q.X = cptr<S>(x);
      q.XT = x_step;
      sl.fill<const S, S>(q.S0, state);
    }
    sl.fill<const S, S>(q.GT, gstate);
    q.GX = ptr<S>(gx);
    sl.fill<S, S>(q.G0, results, 1);
    q.GP = ptr<S>(gp);
    dispatch_in(flags, [&](auto f_c) {
      constexpr int F = decltype(f_c)::value;
      auto run = [&](auto m_c, auto per_c, auto g_c) {
        constexpr int M = decltype(m_c)::value, G = decltype(g_c)::value, PER = decltype(per_c)::value;
        using RW = Rows<F, G, (M < 0)>;
        TORCH_CHECK(RW::count == 0 || inputs, "norse_core_fused: this backward needs the input and initial state");
        constexpr int64_t W = PER != P_ALL && RW::count <= 2 ? CHB : CH;
        for_chunks(q.N, chunk(q.N, W, RW::count * q.T * int64_t(sizeof(S))), [&](int64_t n0, int64_t len) {
          const int64_t stride = q.T * W + ROW_GAP;
          S* SC = RW::count ? scratch<S>(RW::count * stride) : nullptr;
          const auto row = [&](int r, bool present) { return present ? SC + r * stride : nullptr; };
          S *SVD = row(RW::vd, RW::has_vd), *SDF = row(RW::df, RW::has_df), *SEX = row(RW::ex, RW::has_ex);
          S *SDR = row(RW::dr, RW::has_dr), *SJ = row(RW::j, RW::has_j), *STW = row(RW::tw, RW::has_tw);
          S *SVP = row(RW::vp, RW::has_vp), *SRH = row(RW::rho, RW::has_rho);
          if constexpr (RW::count > 0) {
            ff_fwd_block<S, F, PER, true, G, (M < 0), W>(q, q.X, nullptr, SVD, SDF, SEX, SDR, SJ, STW, SVP, SRH, n0, len);
          }
          ff_bwd_block<S, M, F, PER, G, W>(q, q.GZ, q.GX, SVD, SDF, SEX, SDR, SJ, STW, SVP, SRH, n0, len);
        });
      };
      // the surrogate inline (one block per method) or from a row (one block for all)
      if constexpr (!inline_surrogate<F>() && bool(F & SPIKE)) q.sur = surrogate_row_of<S>(method);
      auto surrogate_variants = [&](auto per_c, auto g_c) {
        if constexpr (inline_surrogate<F>()) dispatch_method(method, [&](auto m_c) { run(m_c, per_c, g_c); });
        else run(Int<-1>{}, per_c, g_c);
      };
      // (PER, G): numbers; any per-element values; a's gradient, only a per element (PLIF: the
      // other parameters in registers), else all gradients; all gradients
      if (grads && !only_a) {
        surrogate_variants(Int<P_ALL>{}, Int<G_ALL>{});
      } else if (grads) {
        if constexpr (bool(F & LEAK)) surrogate_variants(Int<P_A>{}, Int<G_A>{});
        else TORCH_CHECK(false, "norse_core_fused: this model has no time constant a");
      } else {
        per.empty() ? surrogate_variants(Int<P_NONE>{}, Int<0>{}) : surrogate_variants(Int<P_ALL>{}, Int<0>{});
      }
    }, Compiled{}, "the terms");
    for (S* g = ptr<S>(gp); grads && g < ptr<S>(gp) + gp.numel(); g += sq.N)  // per row: its N / m repeats of period m
      for (int64_t n = m; n < sq.N; n += m) for (int64_t k = 0; k < m; ++k) g[k] += g[n + k];  // summed into its first m
    if (grads) results.push_back(gp.narrow(1, 0, m));
  });
  return results;
}

// ff_fwd and ff_bwd as one autograd node (the op ff_train): a backward without Python. Saved: x
// and the state (none for a leaky integrator without parameter gradients), then per; the gradient
// of a parameter tensor per[f] comes in its shape, summed over its repeats in the period m.
struct FfNode : torch::autograd::Function<FfNode> {
  using Ctx = torch::autograd::AutogradContext;
  static std::vector<at::Tensor> forward(Ctx* ctx, const at::Tensor& x, at::TensorList state, at::TensorList per,
                                         int64_t flags, std::vector<double> p, int64_t method, double alpha,
                                         int64_t grads) {
    TORCH_CHECK(grads == 0 || ((grads == G_A || grads == G_ALL) && !per.empty()),
                "norse_core_fused: gradient set ", grads, " unknown, or without the parameter list");
    std::vector<at::Tensor> saved{x};
    saved.insert(saved.end(), state.begin(), state.end());
    if (!(flags & SPIKE) && !grads) saved = {x.new_empty({0})};
    saved.insert(saved.end(), per.begin(), per.end());
    ctx->save_for_backward(saved);
    ctx->set_materialize_grads(saved[0].numel() == 0);  // unused outputs: no zeros where x and the state are saved
    ctx->saved_data["ints"] = c10::List<int64_t>({int64_t(state.size()), int64_t(per.size()), flags, method, grads});
    ctx->saved_data["p"] = p;
    ctx->saved_data["alpha"] = alpha;
    return ff_fwd(x, state, flags, p, per);
  }
  static std::vector<at::Tensor> backward(Ctx* ctx, std::vector<at::Tensor> g) {
    TORCH_CHECK(!at::GradMode::is_enabled(), "norse_core_fused: the fused loops' backward is not differentiable "
                "(create_graph=True, double backward): run the layer's step loop (fused=False)");
    const auto k = ctx->saved_data["ints"].toIntVector();  // n states, per.size(), flags, method, grads
    const int64_t n = k[0], flags = k[2];
    auto saved = ctx->get_saved_variables();
    const std::vector<at::Tensor> per(saved.end() - k[1], saved.end());
    const auto state = saved[0].numel() ? std::vector<at::Tensor>(saved.begin() + 1, saved.begin() + 1 + n)
                                        : std::vector<at::Tensor>(n, saved[0]);
    int64_t state_grads = 0;  // bit s: the initial state s needs a gradient
    for (int64_t s = 0; s < n; ++s) state_grads |= int64_t(ctx->needs_input_grad(1 + s)) << s;
    const auto gout = g[0].defined() ? g[0] : at::zeros(saved[0].sizes(), saved[0].options());
    auto out = ff_bwd(gout, at::TensorList(g).slice(1, n), saved[0], state, flags, ctx->saved_data["p"].toDoubleVector(),
                      per, k[3], ctx->saved_data["alpha"].toDouble(), k[4], state_grads);
    std::vector<at::Tensor> result(out.begin(), out.begin() + 1 + n);
    for (size_t f = 0; f < per.size(); ++f) {
      if (!ctx->needs_input_grad(1 + n + f) || (f == FVR && (flags & SUB))) {  // (unused, as the portable kernel)
        result.emplace_back();
        continue;
      }
      const auto row = out[1 + n].select(0, out[1 + n].size(0) == 1 ? 0 : int64_t(f));
      result.push_back(row.view({-1, per[f].numel()}).sum(0).view(per[f].sizes()));
    }
    result.resize(result.size() + 5);  // flags, p, method, alpha, grads
    return result;
  }
};

// ---------------------------------------------------------------------------- recurrent LIF / LSNN
// xin (T, B, N) is the input projection, computed outside. Per step and batch row:
//   j = (i + xin_t) + W z_{t-1};  vd = v + a ((vl - v) + j);  i = j - b j
//   LSNN: bd = th + c (vth - th); diff = vd - bd; th = bd + beta z      LIF: diff = vd - vth
//   z = diff > 0;  v = z ? vr : vd
// The spikes after the first step are 0/1, so W z_{t-1} is a sum of the columns of W of the
// neurons that spiked (WT holds them contiguously). Parameters are per neuron: P is (10, N)
// holding a, b, c, vl, vth, vr, beta, 1 - a, 1 - b, 1 - c. Chunks of CR batch rows run in
// parallel; the forward saves diff (T, B, N) for backward when DF is given, and for parameter
// gradients the drive (vl - v) + j, j and the threshold th before the step when DR is given.
constexpr int64_t CR = 8;

template <typename S, bool ADAPT>
void rec_fwd_rows(const S* R X, const S* R Z0, const S* R V0, const S* R I0, const S* R B0, const S* R W,
                  const S* R WT, const S* R P, S* R Z, S* R DF, S* R DR, S* R JS, S* R TH, S* R ZT, S* R VT,
                  S* R IT, S* R BT, int64_t T, int64_t Bn, int64_t N, int64_t r0, int64_t rows) {
  const S *A = P, *Bc = P + N, *C = P + 2 * N, *VL = P + 3 * N, *VTH = P + 4 * N, *VR = P + 5 * N,
          *BETA = P + 6 * N;
  const int64_t M = rows * N;
  std::vector<S> buf(4 * M);
  S *v = buf.data(), *cu = v + M, *th = cu + M, *lin = th + M;
  std::vector<int64_t> active(M), count(rows, 0);
  std::copy_n(V0 + r0 * N, M, v);
  std::copy_n(I0 + r0 * N, M, cu);
  if constexpr (ADAPT) std::copy_n(B0 + r0 * N, M, th);
  // the first step: z0 may hold any values, so the recurrent input is a dense product
  for (int64_t r = 0; r < rows; ++r) {
    const S* R z0 = Z0 + (r0 + r) * N;
    for (int64_t k = 0; k < N; ++k) {
      const S* R w = W + k * N;
      S s = S(0);
      for (int64_t m = 0; m < N; ++m) s += w[m] * z0[m];
      lin[r * N + k] = s;
    }
  }
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t o = (t * Bn + r0 + r) * N;
      const S* R xt = X + o;
      S* R zt = Z + o;
      S* R dft = DF ? DF + o : nullptr;
      S* R drt = DR ? DR + o : nullptr;
      S* R jst = DR ? JS + o : nullptr;
      S* R tht = DR && ADAPT ? TH + o : nullptr;
      S* R vr = v + r * N;
      S* R cr = cu + r * N;
      S* R tr = th + r * N;
      S* R lr = lin + r * N;
      int64_t* R act = active.data() + r * N;
      if (t > 0) {  // W z_{t-1}: the columns of the neurons that spiked
        for (int64_t k = 0; k < N; ++k) lr[k] = S(0);
        for (int64_t q = 0; q < count[r]; ++q) {
          const S* R w = WT + act[q] * N;
          for (int64_t k = 0; k < N; ++k) lr[k] += w[k];
        }
      }
      int64_t na = 0;
      for (int64_t k = 0; k < N; ++k) {
        const S j = (cr[k] + xt[k]) + lr[k];
        const S drive = (VL[k] - vr[k]) + j;
        const S d = vr[k] + A[k] * drive;
        cr[k] = j - Bc[k] * j;
        if (drt) {
          drt[k] = drive;
          jst[k] = j;
          if constexpr (ADAPT) tht[k] = tr[k];
        }
        const S bd = ADAPT ? tr[k] + C[k] * (VTH[k] - tr[k]) : VTH[k];  // the threshold
        const S diff = d - bd;
        const bool spk = diff > S(0);
        if constexpr (ADAPT) tr[k] = spk ? bd + BETA[k] : bd;
        if (dft) dft[k] = diff;
        zt[k] = spk ? S(1) : S(0);
        vr[k] = spk ? VR[k] : d;
        if (spk) act[na++] = k;
      }
      count[r] = na;
    }
  }
  std::copy_n(Z + ((T - 1) * Bn + r0) * N, M, ZT + r0 * N);
  std::copy_n(v, M, VT + r0 * N);
  std::copy_n(cu, M, IT + r0 * N);
  if constexpr (ADAPT) std::copy_n(th, M, BT + r0 * N);
}

// Reverse time (reset with detached spikes, threshold jump with gradient), per row and step:
//   w = (gz_t + r + gb beta) s(diff_t);  u = gv (1 - z_t) + w;  gb = (1 - c)(gb - w)
//   gj = a u + (1 - b) gi  (= dL/dxin_t);  gv = (1 - a) u;  gi = gj;  r = gj W
// G: the parameter gradients, summed over the chunk's rows and time into GP (7, N), the rows of P:
//   g_a += u drive;  g_b -= gi j;  g_vl += u a;  g_vr += gv z;  LIF: g_vth -= w;
//   LSNN: g_beta += gb z;  g_c += (gb - w)(vth - th);  g_vth += (gb - w) c   (gv, gi, gb before the step)
// M: the surrogate method, or -1 (with G): the derivatives of a row come from SUR.
template <typename S, int M, bool ADAPT, bool G>
void rec_bwd_rows(const S* R GZ, const S* R GZT, const S* R GVT, const S* R GIT, const S* R GBT,
                  const S* R DF, const S* R DR, const S* R JS, const S* R TH, const S* R Z, const S* R W,
                  const S* R P, S* R GX, S* R GZ0, S* R GV0, S* R GI0, S* R GB0, S* R GP,
                  int64_t T, int64_t Bn, int64_t N, int64_t r0, int64_t rows, S AL, SurrogateRow<S> SUR) {
  const S *A = P, *C = P + 2 * N, *VTH = P + 4 * N, *BETA = P + 6 * N, *AP = P + 7 * N, *BP = P + 8 * N,
          *CP = P + 9 * N;
  // the chunk's rows side by side (row r at r N): the transposed recurrent matmul r = gj W reads
  // each row of W once per step for all of them (blocked over rows; the same sums in the same
  // order as one row at a time)
  const int64_t M_ = rows * N;
  std::vector<S> buf(4 * M_ + N);
  S *gv = buf.data(), *gi = gv + M_, *gb = gi + M_, *rr = gb + M_, *sd = rr + M_;
  std::vector<S> sums(G ? 7 * N : 0, S(0));
  S *ga = sums.data(), *gbs = ga + N, *gc = gbs + N, *gvl = gc + N, *gvth = gvl + N, *gvr = gvth + N,
    *gbeta = gvr + N;
  for (int64_t q = 0; q < M_; ++q) {
    gv[q] = GVT[r0 * N + q], gi[q] = GIT[r0 * N + q], gb[q] = ADAPT ? GBT[r0 * N + q] : S(0), rr[q] = GZT[r0 * N + q];
  }
  for (int64_t t = T - 1; t >= 0; --t) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t o = (t * Bn + r0 + r) * N;
      const S *R dft = DF + o, *R zt = Z + o, *R gzt = GZ + o, *R rrow = rr + r * N;
      const S *R drt = G ? DR + o : nullptr, *R jst = G ? JS + o : nullptr, *R tht = G && ADAPT ? TH + o : nullptr;
      S *R gxt = GX + o, *R gvrow = gv + r * N, *R girow = gi + r * N, *R gbrow = gb + r * N;
      if constexpr (M < 0) SUR(dft, sd, N, AL);
      for (int64_t k = 0; k < N; ++k) {
        S s;
        if constexpr (M < 0) s = sd[k]; else s = surrogate<S, M>(dft[k], AL);
        const S w = ADAPT ? ((gzt[k] + rrow[k]) + gbrow[k] * BETA[k]) * s : (gzt[k] + rrow[k]) * s;
        const S u = (gvrow[k] - gvrow[k] * zt[k]) + w;  // gv (1 - z), as the portable kernel computes it
        if constexpr (G) {
          ga[k] += u * drt[k];
          gbs[k] -= girow[k] * jst[k];
          gvl[k] += u * A[k];
          gvr[k] += gvrow[k] * zt[k];
          if constexpr (ADAPT) {
            const S gbd = gbrow[k] - w;
            gbeta[k] += gbrow[k] * zt[k];
            gc[k] += gbd * (VTH[k] - tht[k]);
            gvth[k] += gbd * C[k];
          } else {
            gvth[k] -= w;
          }
        }
        if constexpr (ADAPT) gbrow[k] = (gbrow[k] - w) * CP[k];
        const S gj = u * A[k] + girow[k] * BP[k];
        gxt[k] = gj;
        girow[k] = gj;
        gvrow[k] = u * AP[k];
      }
    }
    for (int64_t q = 0; q < M_; ++q) rr[q] = S(0);
    for (int64_t k = 0; k < N; ++k) {
      const S* R w = W + k * N;
      for (int64_t r = 0; r < rows; ++r) {
        const S g = gi[r * N + k];
        S* R rrr = rr + r * N;
        for (int64_t m = 0; m < N; ++m) rrr[m] += g * w[m];
      }
    }
  }
  std::copy_n(rr, M_, GZ0 + r0 * N);
  std::copy_n(gv, M_, GV0 + r0 * N);
  std::copy_n(gi, M_, GI0 + r0 * N);
  if constexpr (ADAPT) std::copy_n(gb, M_, GB0 + r0 * N);
  if constexpr (G) std::copy_n(sums.data(), 7 * N, GP + (r0 / CR) * 7 * N);
}

struct RecShape { int64_t T, B, N; };

// x (T, ..., N) with W (N, N), P (10, N) and states of B N values (undefined: absent).
RecShape check_rec(const at::Tensor& x, const at::Tensor& w, const at::Tensor& p,
                   const std::vector<at::Tensor>& states) {
  TORCH_CHECK(x.dim() >= 2 && x.size(0) > 0, "norse_core_fused: recurrent input must be (T, ..., N)");
  check_input(x);
  const int64_t T = x.size(0), N = x.size(-1), B = x.numel() / (T * N);
  TORCH_CHECK(w.dim() == 2 && w.size(0) == N && w.size(1) == N && w.scalar_type() == x.scalar_type(),
              "norse_core_fused: recurrent weights must be (N, N) in the input's dtype");
  TORCH_CHECK(p.dim() == 2 && p.size(0) == 10 && p.size(1) == N && p.scalar_type() == x.scalar_type(),
              "norse_core_fused: parameters must be (10, N)");
  check_states(states, B * N, x.scalar_type());
  return {T, B, N};
}

// The state (v, i) or (v, i, b) of a recurrent call, contiguous; b undefined for LIF.
std::vector<at::Tensor> rec_state(at::TensorList state) {
  TORCH_CHECK(state.size() == 3 || state.size() == 2, "norse_core_fused: wrong number of state tensors");
  auto out = contiguous(state);
  out.resize(3);
  return out;
}

// Returns [z, z_T, v_T, i_T, (b_T,) diff, drive, j, th] (the last four empty unless saved).
std::vector<at::Tensor> rec_fwd(const at::Tensor& x_, const at::Tensor& z0_, at::TensorList state_,
                                const at::Tensor& w_, const at::Tensor& p_, bool save, bool save_params) {
  auto x = x_.contiguous(), z0 = z0_.contiguous(), w = w_.contiguous(), wt = w_.t().contiguous(), p = p_.contiguous();
  auto st = rec_state(state_);
  const bool adaptive = st[2].defined();
  const RecShape q = check_rec(x, w, p, {z0, st[0], st[1], st[2]});
  std::vector<at::Tensor> out{seq_empty(x.sizes(), x), at::empty_like(z0)};
  for (const auto& s : st) out.push_back(s.defined() ? at::empty_like(s) : at::Tensor());
  const auto none = at::empty({0}, x.options());
  const auto seq = [&](bool wanted) { return wanted ? seq_empty(x.sizes(), x) : none; };
  at::Tensor df = seq(save), dr = seq(save_params), js = seq(save_params), th = seq(save_params && adaptive);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rec_fwd", [&] {
    using S = scalar_t;
    dispatch_bool(adaptive, [&](auto ad) {
      for_chunks(q.B, CR, [&](int64_t r0, int64_t rows) {
        rec_fwd_rows<S, decltype(ad)::value>(
            cptr<S>(x), cptr<S>(z0), cptr<S>(st[0]), cptr<S>(st[1]), ptr<S>(st[2]), cptr<S>(w), cptr<S>(wt),
            cptr<S>(p), ptr<S>(out[0]), ptr<S>(df), ptr<S>(dr), ptr<S>(js), ptr<S>(th), ptr<S>(out[1]),
            ptr<S>(out[2]), ptr<S>(out[3]), ptr<S>(out[4]), q.T, q.B, q.N, r0, rows);
      });
    });
  });
  if (!adaptive) out.pop_back();
  for (const auto& t : {df, dr, js, th}) out.push_back(t);
  return out;
}

// gstate: the gradients of [z_T, v_T, i_T, (b_T)]; saved: [] or [drive, j, th] (parameter
// gradients). Returns [gx, the gradients of z0, v0, i0, (b0), the (chunks, 7, N) parameter
// gradients (empty without saved)].
std::vector<at::Tensor> rec_bwd(const at::Tensor& gz_, at::TensorList gstate_, const at::Tensor& df_,
                                const at::Tensor& z_, const at::Tensor& w_, const at::Tensor& p_, int64_t method,
                                double alpha, at::TensorList saved_) {
  TORCH_CHECK(!gstate_.empty(), "norse_core_fused: wrong number of state tensors");
  auto gz = gz_.contiguous(), gzT = gstate_[0].contiguous(), df = df_.contiguous(), z = z_.contiguous();
  auto w = w_.contiguous(), p = p_.contiguous();
  auto gst = rec_state(gstate_.slice(1));
  const bool adaptive = gst[2].defined();
  const RecShape q = check_rec(df, w, p, {gzT, gst[0], gst[1], gst[2]});
  TORCH_CHECK(gz.numel() == df.numel() && z.numel() == df.numel(), "norse_core_fused: sequence shape mismatch");
  std::vector<at::Tensor> out{seq_empty(df.sizes(), df), at::empty_like(gzT)};
  for (const auto& g : gst) out.push_back(g.defined() ? at::empty_like(g) : at::Tensor());
  // parameter gradients when the forward saved drive, j (and th): one (7, N) block per chunk
  const bool grads = !saved_.empty();
  const auto saved = contiguous(saved_);
  TORCH_CHECK(!grads || (saved.size() == 3 && saved[0].numel() == df.numel() && saved[1].numel() == df.numel() &&
                         saved[2].numel() == (adaptive ? df.numel() : 0)),
              "norse_core_fused: saved sequences mismatch");
  auto gp = grads ? at::empty({(q.B + CR - 1) / CR, 7, q.N}, df.options()) : at::empty({0}, df.options());
  AT_DISPATCH_FLOATING_TYPES(df.scalar_type(), "rec_bwd", [&] {
    using S = scalar_t;
    const auto kept = [&](int k) { return grads && (k < 2 || adaptive) ? cptr<S>(saved[k]) : nullptr; };
    // (M, G): the surrogate inline without parameter gradients (the common case); from a row
    // per step with them (one block for all methods: a shorter build)
    auto run = [&](auto m, auto g) {
      constexpr int MT = decltype(m)::value;
      constexpr bool G = decltype(g)::value;
      const SurrogateRow<S> sur = MT < 0 ? surrogate_row_of<S>(method) : nullptr;
      dispatch_bool(adaptive, [&](auto ad) {
        for_chunks(q.B, CR, [&](int64_t r0, int64_t rows) {
          rec_bwd_rows<S, MT, decltype(ad)::value, G>(
              cptr<S>(gz), cptr<S>(gzT), cptr<S>(gst[0]), cptr<S>(gst[1]), ptr<S>(gst[2]), cptr<S>(df), kept(0),
              kept(1), kept(2), cptr<S>(z), cptr<S>(w), cptr<S>(p), ptr<S>(out[0]), ptr<S>(out[1]), ptr<S>(out[2]),
              ptr<S>(out[3]), ptr<S>(out[4]), ptr<S>(gp), q.T, q.B, q.N, r0, rows, S(alpha), sur);
        });
      });
    };
    if (grads) run(Int<-1>{}, std::true_type{});
    else dispatch_method(method, [&](auto m) { run(m, std::false_type{}); });
  });
  if (!adaptive) out.pop_back();
  out.push_back(gp);
  return out;
}

}  // namespace

TORCH_LIBRARY(norse_core_fused, m) {
  m.def("ff_flags() -> int[]", [] { return flag_list(Compiled{}); });
  m.def("cached_bytes() -> int[]", [] {  // [in live outputs, in freed blocks waiting]
    auto& c = BlockCache::get();
    std::lock_guard<std::mutex> g(c.lock);
    return std::vector<int64_t>{int64_t(c.live), int64_t(c.cached)};
  });
  m.def("empty_cache() -> int", [] {  // frees the blocks waiting; returns their bytes
    auto& c = BlockCache::get();
    std::unordered_map<size_t, std::vector<Block*>> idle;
    {
      std::lock_guard<std::mutex> g(c.lock);
      std::swap(idle, c.idle);
      c.cached = 0;
    }
    int64_t freed = 0;
    for (auto& [n, blocks] : idle) for (Block* b : blocks) freed += int64_t(n), c10::free_cpu(b->data), delete b;
    return freed;
  });
  m.def("ff_fwd(Tensor x, Tensor[] state, int flags, float[] p, Tensor[] per) -> Tensor[]", &ff_fwd);
  m.def("ff_train(Tensor x, Tensor[] state, Tensor[] per, int flags, float[] p, int method, float alpha, int grads) "
        "-> Tensor[]", [](const at::Tensor& x, at::TensorList state, at::TensorList per, int64_t flags,
                          at::ArrayRef<double> p, int64_t method, double alpha, int64_t grads) {
          return FfNode::apply(x, state, per, flags, p.vec(), method, alpha, grads);
        });
  m.def("rec_fwd(Tensor x, Tensor z0, Tensor[] state, Tensor w, Tensor p, bool save, bool save_params) -> Tensor[]",
        &rec_fwd);
  m.def("rec_bwd(Tensor gz, Tensor[] gstate, Tensor df, Tensor z, Tensor w, Tensor p, int method, float alpha, "
        "Tensor[] saved) -> Tensor[]", &rec_bwd);
}
