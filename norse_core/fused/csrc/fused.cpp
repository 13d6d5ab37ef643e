// The fused CPU loops of norse_core (norse_core/fused/cpp.py builds this file on first use with
// torch.utils.cpp_extension.load_inline and registers the ops as torch.ops.norse_core_fused.*;
// its module docstring describes the design).

#include <torch/library.h>
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

// Layout: sequences are contiguous (T, N) with N neurons; a block of CH neurons keeps its
// state in local arrays while the time loop runs, so the innermost loop (over the neurons of
// the block) is contiguous and vectorises. Block functions take everything by value and use
// restrict pointers so the compiler can keep parameters in registers.

#define R __restrict__

namespace {

constexpr int64_t CH = 256;

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

template <typename F>
void dispatch_method(int64_t method, F&& f) {
  switch (method) {
    case 0: f(std::integral_constant<int, 0>{}); break;
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 5: f(std::integral_constant<int, 5>{}); break;
    case 6: f(std::integral_constant<int, 6>{}); break;
    case 7: f(std::integral_constant<int, 7>{}); break;
    default: TORCH_CHECK(false, "norse_core_fused: unknown surrogate id ", method);
  }
}

template <typename F>
void dispatch_bool(bool value, F&& f) {
  if (value) f(std::true_type{}); else f(std::false_type{});
}

// Runs f(n0, len) over chunks (blocks of CH neurons, or CR batch rows) with torch.get_num_threads() threads: the
// calling thread and (threads - 1) helper tasks on torch's inter-op pool take blocks from a
// shared counter; the caller waits only for blocks in progress. Unlike a fork-join region
// (OpenMP), a helper the OS has not scheduled yet (a busy machine) delays nothing: it finds
// no blocks left and returns.
struct Work {
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  int64_t blocks = 0;
  std::function<void(int64_t)> run;
};

inline void drain(Work& w) {
  for (int64_t blk = w.next.fetch_add(1); blk < w.blocks; blk = w.next.fetch_add(1)) {
    w.run(blk);
    w.done.fetch_add(1, std::memory_order_release);
  }
}

template <typename F>
void for_chunks(int64_t total, int64_t chunk, const F& f) {
  const int64_t blocks = (total + chunk - 1) / chunk;
  const int64_t threads = std::min<int64_t>(at::get_num_threads(), blocks);
  auto run = [&f, total, chunk](int64_t blk) {
    const int64_t n0 = blk * chunk;
    f(n0, std::min(chunk, total - n0));
  };
  if (threads <= 1 || at::in_parallel_region()) {
    for (int64_t blk = 0; blk < blocks; ++blk) run(blk);
    return;
  }
  auto work = std::make_shared<Work>();
  work->blocks = blocks;
  work->run = run;
  for (int64_t h = 1; h < threads; ++h) {
    at::launch([work] { drain(*work); });
  }
  drain(*work);
  while (work->done.load(std::memory_order_acquire) < blocks) std::this_thread::yield();
}

// Blocks of CH neurons.
template <typename F>
void for_blocks(int64_t N, const F& f) {
  for_chunks(N, CH, f);
}

// A gradient over the whole sequence: contiguous, or, when autograd hands over a broadcast
// constant (e.g. from out.sum()), one block of CH copies reused for every step and block.
template <typename S>
const S* seq_grad(const at::Tensor& g, at::Tensor& holder, bool& constant) {
  constant = g.numel() > 1;
  for (int64_t d = 0; d < g.dim() && constant; ++d) constant = g.stride(d) == 0 || g.size(d) == 1;
  if (constant) {
    holder = at::empty({CH}, g.options());
    const S value = *g.data_ptr<S>();
    S* p = holder.data_ptr<S>();
    for (int64_t k = 0; k < CH; ++k) p[k] = value;
  } else {
    holder = g.contiguous();
  }
  return holder.data_ptr<S>();
}

struct Seq {
  int64_t T, N;
};

Seq check_seq(const at::Tensor& x, const std::vector<at::Tensor>& states) {
  TORCH_CHECK(x.dim() >= 1 && x.size(0) > 0, "norse_core_fused: empty sequence");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, "norse_core_fused: float32/64 only");
  TORCH_CHECK(x.device().is_cpu(), "norse_core_fused: CPU tensors only");
  const int64_t T = x.size(0), N = x.numel() / T;
  for (const auto& s : states) {
    TORCH_CHECK(s.numel() == N && s.scalar_type() == x.scalar_type(), "norse_core_fused: state shape/dtype mismatch");
  }
  return {T, N};
}

template <typename S> S* ptr(at::Tensor& t) { return t.defined() && t.numel() ? t.data_ptr<S>() : nullptr; }
template <typename S> const S* cptr(const at::Tensor& t) { return t.data_ptr<S>(); }

// Spiking models save nothing per step: the backward pass of a block first re-runs the block's
// forward (bitwise the same arithmetic) into a thread-local (T, CH) scratch of pre-reset
// voltages, which stays in cache, then runs the reverse-time loop over it.
template <typename S>
S* scratch(int64_t n) {
  thread_local std::vector<S> buffer;
  if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(n);
  return buffer.data();
}

// ---------------------------------------------------------------------------- LIF, LIFBox
// One block code for the LIF family, CUR: with a synaptic current (LIF), else LIFBox; SUB: the
// subtract reset (LIFBox):
//   j = i + x (LIF) or x;  w = (v_leak - v) + j;  vd = v + a w;  i' = j - b j;  z = H(vd - v_th)
//   v' = z ? v_reset : vd     or (SUB)  v' = vd - z v_th
// Backward, reverse in time (u = dL/dvd; gv', gi' the gradients after the step; s the surrogate
// derivative at vd - v_th):
//   gzr = gz + gv' (v_reset - vd)   or (SUB)  gz - gv' v_th        (all of the spike's gradient)
//   u   = (z ? 0 : gv') + gzr s     or (SUB)  gv' + gzr s
//   gj  = a u + (1 - b) gi';  gx = gj;  gv = (1 - a) u;  gi = gj
// and the parameter gradients, summed over time per state element (G: none; G_A: a's only, the
// common trainable time constant; G_ALL: all five):
//   g_a += u w;  g_v_leak += u a;  g_b -= gi' j;  g_v_th -= gzr s (+ gv' z for SUB);
//   g_v_reset += gv' z (not SUB)
// w (and j for g_b) come from the backward's re-run of the block's forward, kept per step.
constexpr int G_A = 1, G_ALL = 2;

// A neuron parameter: one value v for all neurons (p == nullptr), or one per state element p[n]
// (the Python side expands a tensor parameter to the state's shape).
template <typename S>
struct Param {
  const S* p;
  S v;
};

// The values of a parameter for the neurons of a block: one register (PER false: every
// parameter is one number, the fast path) or a local array of the block (PER true).
template <typename S, bool PER>
struct Vals {
  S x;
  Vals(const Param<S>& q, int64_t, int64_t) : x(q.v) {}
  explicit Vals(S value) : x(value) {}
  S operator[](int64_t) const { return x; }
  Vals one_minus(int64_t) const { return Vals(S(1) - x); }
};

template <typename S>
struct Vals<S, true> {
  S x[CH];
  Vals() = default;
  Vals(const Param<S>& q, int64_t n0, int64_t len) {
    for (int64_t k = 0; k < len; ++k) x[k] = q.p ? q.p[n0 + k] : q.v;
  }
  S operator[](int64_t k) const { return x[k]; }
  Vals one_minus(int64_t len) const {
    Vals r;
    for (int64_t k = 0; k < len; ++k) r.x[k] = S(1) - x[k];
    return r;
  }
};

// Parameters of the LIF family, in the order of LIFConfig: a, b, v_leak, v_th, v_reset
// (LIFBox: b unused).
template <typename S>
struct LifParams {
  Param<S> a, b, vl, vth, vr;
};

// Per-step scratch rows a backward block keeps for the parameter gradients G: w (any), j (G_ALL,
// LIF); the pre-reset voltages come first.
template <bool CUR>
constexpr int64_t kept_rows(int G) { return 1 + (G >= G_A ? 1 : 0) + (CUR && G == G_ALL ? 1 : 0); }

// FWD: write spikes Z and final states (forward); RECOMPUTE: write only the pre-reset voltages
// into VD[t*CH + k] (backward), with G the rows the gradients need: w into WS, j into JS.
template <typename S, bool CUR, bool SUB, bool PER, bool RECOMPUTE, int G>
void lif_fwd_block(const S* R X, const S* R V0, const S* R I0, S* R Z, S* R VD, S* R WS, S* R JS, S* R VT, S* R IT,
                   int64_t T, int64_t N, int64_t n0, int64_t len, LifParams<S> p) {
  const Vals<S, PER> A(p.a, n0, len), B(p.b, n0, len), VL(p.vl, n0, len), VTH(p.vth, n0, len), VR(p.vr, n0, len);
  S v[CH], c[CH];
  for (int64_t k = 0; k < len; ++k) {
    v[k] = V0[n0 + k];
    if constexpr (CUR) c[k] = I0[n0 + k];
  }
  for (int64_t t = 0; t < T; ++t) {
    const int64_t o = t * N + n0;
    const S* R xt = X + o;
    S* R zt = RECOMPUTE ? nullptr : Z + o;
    S* R vdt = RECOMPUTE ? VD + t * CH : nullptr;
    S* R wt = G >= G_A ? WS + t * CH : nullptr;
    S* R jt = CUR && G == G_ALL ? JS + t * CH : nullptr;
    for (int64_t k = 0; k < len; ++k) {
      S j;
      if constexpr (CUR) j = c[k] + xt[k]; else j = xt[k];
      const S w = (VL[k] - v[k]) + j;
      const S d = v[k] + A[k] * w;
      if constexpr (CUR) c[k] = j - B[k] * j;
      const S diff = d - VTH[k];
      const bool spk = diff > S(0);
      if constexpr (RECOMPUTE) vdt[k] = d; else zt[k] = spk ? S(1) : S(0);
      if constexpr (G >= G_A) wt[k] = w;
      if constexpr (CUR && G == G_ALL) jt[k] = j;
      v[k] = spk ? (SUB ? diff : VR[k]) : d;
    }
  }
  if constexpr (!RECOMPUTE) {
    for (int64_t k = 0; k < len; ++k) {
      VT[n0 + k] = v[k];
      if constexpr (CUR) IT[n0 + k] = c[k];
    }
  }
}

// GP: the parameter gradients G, rows a, b, v_leak, v_th, v_reset of N each (G_A: row a only).
template <typename S, int M, bool CUR, bool SUB, bool PER, int G>
void lif_bwd_block(bool GZC, const S* R GZ, const S* R GVT, const S* R GIT, const S* R VD, const S* R WS,
                   const S* R JS, S* R GX, S* R GV0, S* R GI0, S* R GP,
                   int64_t T, int64_t N, int64_t n0, int64_t len, LifParams<S> p, S AL) {
  constexpr int64_t NA = G >= G_A ? CH : 1, NALL = G == G_ALL ? CH : 1;
  const Vals<S, PER> A(p.a, n0, len), B(p.b, n0, len), VTH(p.vth, n0, len), VR(p.vr, n0, len);
  const Vals<S, PER> AP = A.one_minus(len), BP = B.one_minus(len);
  S gv[CH], gi[CH], ga[NA], gb[NALL], gvl[NALL], gvth[NALL], gvr[NALL];
  for (int64_t k = 0; k < len; ++k) {
    gv[k] = GVT[n0 + k];
    if constexpr (CUR) gi[k] = GIT[n0 + k];
    if constexpr (G >= G_A) ga[k] = S(0);
    if constexpr (G == G_ALL) { gb[k] = S(0); gvl[k] = S(0); gvth[k] = S(0); gvr[k] = S(0); }
  }
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t o = t * N + n0;
    const S* R vdt = VD + t * CH;
    const S* R wt = G >= G_A ? WS + t * CH : nullptr;
    const S* R jt = CUR && G == G_ALL ? JS + t * CH : nullptr;
    const S* R gzt = GZC ? GZ : GZ + o;
    S* R gxt = GX + o;
    for (int64_t k = 0; k < len; ++k) {
      const S d = vdt[k], diff = d - VTH[k];
      const S s = surrogate<S, M>(diff, AL);
      const bool spk = diff > S(0);
      S gzr, u;
      if constexpr (SUB) {
        gzr = gzt[k] - gv[k] * VTH[k];
        u = gv[k] + gzr * s;
      } else {
        gzr = gzt[k] + gv[k] * (VR[k] - d);
        u = (spk ? S(0) : gv[k]) + gzr * s;
      }
      if constexpr (G >= G_A) ga[k] += u * wt[k];
      if constexpr (G == G_ALL) {
        const S gvz = spk ? gv[k] : S(0);
        gvl[k] += u * A[k];
        if constexpr (CUR) gb[k] -= gi[k] * jt[k];
        if constexpr (SUB) gvth[k] -= gzr * s + gvz; else gvth[k] -= gzr * s;
        if constexpr (!SUB) gvr[k] += gvz;
      }
      if constexpr (CUR) {
        const S gj = A[k] * u + BP[k] * gi[k];
        gxt[k] = gj;
        gi[k] = gj;
      } else {
        gxt[k] = A[k] * u;
      }
      gv[k] = AP[k] * u;
    }
  }
  for (int64_t k = 0; k < len; ++k) {
    GV0[n0 + k] = gv[k];
    if constexpr (CUR) GI0[n0 + k] = gi[k];
    if constexpr (G >= G_A) GP[n0 + k] = ga[k];
    if constexpr (G == G_ALL) {
      if constexpr (CUR) GP[N + n0 + k] = gb[k];
      GP[2 * N + n0 + k] = gvl[k];
      GP[3 * N + n0 + k] = gvth[k];
      GP[4 * N + n0 + k] = gvr[k];
    }
  }
}

// The parameters from p = [a, b, v_leak, v_th, v_reset] (numbers) and per = [] (all numbers)
// or five tensors: empty (use the number) or N contiguous values (one per state element).
template <typename S>
LifParams<S> lif_params(at::ArrayRef<double> p, at::TensorList per, int64_t N) {
  TORCH_CHECK(p.size() == 5 && (per.empty() || per.size() == 5), "norse_core_fused: LIF takes 5 parameters");
  Param<S> q[5];
  for (size_t f = 0; f < 5; ++f) {
    q[f] = Param<S>{nullptr, S(p[f])};
    if (!per.empty() && per[f].numel()) {
      TORCH_CHECK(per[f].numel() == N && per[f].is_contiguous() && per[f].device().is_cpu() &&
                  per[f].scalar_type() == c10::CppTypeToScalarType<S>::value,
                  "norse_core_fused: a parameter tensor must hold one value per state element");
      q[f].p = per[f].data_ptr<S>();
    }
  }
  return {q[0], q[1], q[2], q[3], q[4]};
}

// The model variant as compile-time flags: LIF (current), LIFBox value / subtract reset.
template <typename F>
void dispatch_lif_variant(bool current, bool subtract, F&& f) {
  TORCH_CHECK(!(current && subtract), "norse_core_fused: LIF has no subtract reset");
  if (current) f(std::true_type{}, std::false_type{});
  else if (subtract) f(std::false_type{}, std::true_type{});
  else f(std::false_type{}, std::false_type{});
}

std::vector<at::Tensor> lif_fwd(const at::Tensor& x_, const at::Tensor& v0_, const std::optional<at::Tensor>& i0_,
                                at::ArrayRef<double> p, at::TensorList per, bool subtract) {
  const bool current = i0_.has_value();
  auto x = x_.contiguous(), v0 = v0_.contiguous();
  auto i0 = current ? i0_->contiguous() : v0;
  const Seq q = check_seq(x, {v0, i0});
  auto z = at::empty_like(x), vT = at::empty_like(v0), iT = current ? at::empty_like(i0) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_fwd", [&] {
    using S = scalar_t;
    const LifParams<S> prm = lif_params<S>(p, per, q.N);
    const S *X = cptr<S>(x), *V0 = cptr<S>(v0), *I0 = cptr<S>(i0);
    S *Z = ptr<S>(z), *VT = ptr<S>(vT), *IT = ptr<S>(iT);
    const int64_t T = q.T, N = q.N;
    dispatch_lif_variant(current, subtract, [&](auto cur_c, auto sub_c) {
      dispatch_bool(!per.empty(), [&](auto per_c) {
        constexpr bool CUR = decltype(cur_c)::value, SUB = decltype(sub_c)::value, PER = decltype(per_c)::value;
        for_blocks(N, [&](int64_t n0, int64_t len) {
          lif_fwd_block<S, CUR, SUB, PER, false, 0>(X, V0, I0, Z, nullptr, nullptr, nullptr, VT, IT, T, N, n0, len, prm);
        });
      });
    });
  });
  if (current) return {z, vT, iT};
  return {z, vT};
}

// grads: 0 none, G_A (a's only) or G_ALL. Returns [gx, gv0, (gi0 for LIF), (the (5, N) parameter
// gradients, rows a, b, v_leak, v_th, v_reset, if grads; G_A: row a only)].
std::vector<at::Tensor> lif_bwd(const at::Tensor& gz_, const at::Tensor& gvT_, const std::optional<at::Tensor>& giT_,
                                const at::Tensor& x_, const at::Tensor& v0_, const std::optional<at::Tensor>& i0_,
                                at::ArrayRef<double> p, at::TensorList per, bool subtract,
                                int64_t method, double alpha, int64_t grads) {
  const bool current = i0_.has_value();
  TORCH_CHECK(current == giT_.has_value(), "norse_core_fused: LIF needs both i0 and its gradient");
  TORCH_CHECK(grads == 0 || grads == G_A || grads == G_ALL, "norse_core_fused: unknown gradient set ", grads);
  TORCH_CHECK(!grads || !per.empty(), "norse_core_fused: parameter gradients need the parameter list");
  auto gvT = gvT_.contiguous(), x = x_.contiguous(), v0 = v0_.contiguous();
  auto giT = current ? giT_->contiguous() : gvT, i0 = current ? i0_->contiguous() : v0;
  const Seq q = check_seq(x, {gvT, giT, v0, i0});
  auto gx = at::empty_like(x), gv0 = at::empty_like(gvT), gi0 = current ? at::empty_like(giT) : at::Tensor();
  auto gp = grads ? at::empty({5, q.N}, x.options()) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_bwd", [&] {
    using S = scalar_t;
    const LifParams<S> prm = lif_params<S>(p, per, q.N);
    at::Tensor gz_hold;
    bool GZC = false;
    const S* GZ = seq_grad<S>(gz_, gz_hold, GZC);
    const S *GVT = cptr<S>(gvT), *GIT = cptr<S>(giT), *X = cptr<S>(x), *V0 = cptr<S>(v0), *I0 = cptr<S>(i0);
    S *GX = ptr<S>(gx), *GV0 = ptr<S>(gv0), *GI0 = ptr<S>(gi0), *GP = ptr<S>(gp);
    const int64_t T = q.T, N = q.N;
    dispatch_method(method, [&](auto m) {
      dispatch_lif_variant(current, subtract, [&](auto cur_c, auto sub_c) {
        // (PER, G): numbers; per-element values; and a's gradient; and all gradients
        auto run = [&](auto per_c, auto g_c) {
          constexpr int M = decltype(m)::value, G = decltype(g_c)::value;
          constexpr bool CUR = decltype(cur_c)::value, SUB = decltype(sub_c)::value, PER = decltype(per_c)::value;
          for_blocks(N, [&](int64_t n0, int64_t len) {
            S* VD = scratch<S>(kept_rows<CUR>(G) * T * CH);
            S* WS = G >= G_A ? VD + T * CH : nullptr;
            S* JS = CUR && G == G_ALL ? WS + T * CH : nullptr;
            lif_fwd_block<S, CUR, SUB, PER, true, G>(X, V0, I0, nullptr, VD, WS, JS, nullptr, nullptr, T, N, n0, len, prm);
            lif_bwd_block<S, M, CUR, SUB, PER, G>(GZC, GZ, GVT, GIT, VD, WS, JS, GX, GV0, GI0, GP,
                                                  T, N, n0, len, prm, S(alpha));
          });
        };
        if (grads == G_ALL) run(std::true_type{}, std::integral_constant<int, G_ALL>{});
        else if (grads == G_A) run(std::true_type{}, std::integral_constant<int, G_A>{});
        else if (!per.empty()) run(std::true_type{}, std::integral_constant<int, 0>{});
        else run(std::false_type{}, std::integral_constant<int, 0>{});
      });
    });
  });
  std::vector<at::Tensor> out{gx, gv0};
  if (current) out.push_back(gi0);
  if (grads) out.push_back(gp);
  return out;
}

// ---------------------------------------------------------------------------- IAF
template <typename S, bool RECOMPUTE>
void iaf_fwd_block(const S* R X, const S* R V0, S* R Z, S* R VD, S* R VT,
                   int64_t T, int64_t N, int64_t n0, int64_t len, S VTH, S VR) {
  S v[CH];
  for (int64_t k = 0; k < len; ++k) v[k] = V0[n0 + k];
  for (int64_t t = 0; t < T; ++t) {
    const int64_t o = t * N + n0;
    const S* R xt = X + o;
    S* R zt = RECOMPUTE ? nullptr : Z + o;
    S* R vdt = RECOMPUTE ? VD + t * CH : nullptr;
    for (int64_t k = 0; k < len; ++k) {
      const S d = v[k] + xt[k];
      const bool spk = (d - VTH) > S(0);
      if constexpr (RECOMPUTE) vdt[k] = d; else zt[k] = spk ? S(1) : S(0);
      v[k] = spk ? VR : d;
    }
  }
  if constexpr (!RECOMPUTE) {
    for (int64_t k = 0; k < len; ++k) VT[n0 + k] = v[k];
  }
}

template <typename S, int M>
void iaf_bwd_block(bool GZC, const S* R GZ, const S* R GVT, const S* R VD, S* R GX, S* R GV0,
                   int64_t T, int64_t N, int64_t n0, int64_t len, S VTH, S VR, S AL) {
  S gv[CH];
  for (int64_t k = 0; k < len; ++k) gv[k] = GVT[n0 + k];
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t o = t * N + n0;
    const S* R vdt = VD + t * CH;
    const S* R gzt = GZC ? GZ : GZ + o;
    S* R gxt = GX + o;
    for (int64_t k = 0; k < len; ++k) {
      const S d = vdt[k], diff = d - VTH;
      const S s = surrogate<S, M>(diff, AL);
      const S u = (diff > S(0) ? S(0) : gv[k]) + (gzt[k] + gv[k] * (VR - d)) * s;
      gxt[k] = u;
      gv[k] = u;
    }
  }
  for (int64_t k = 0; k < len; ++k) GV0[n0 + k] = gv[k];
}

std::vector<at::Tensor> iaf_fwd(const at::Tensor& x_, const at::Tensor& v0_, double vth, double vr) {
  auto x = x_.contiguous(), v0 = v0_.contiguous();
  const Seq q = check_seq(x, {v0});
  auto z = at::empty_like(x), vT = at::empty_like(v0);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "iaf_fwd", [&] {
    using S = scalar_t;
    const S *X = cptr<S>(x), *V0 = cptr<S>(v0);
    S *Z = ptr<S>(z), *VT = ptr<S>(vT);
    const int64_t T = q.T, N = q.N;
    for_blocks(N, [&](int64_t n0, int64_t len) {
      iaf_fwd_block<S, false>(X, V0, Z, nullptr, VT, T, N, n0, len, S(vth), S(vr));
    });
  });
  return {z, vT};
}

std::vector<at::Tensor> iaf_bwd(const at::Tensor& gz_, const at::Tensor& gvT_, const at::Tensor& x_,
                                const at::Tensor& v0_, double vth, double vr, int64_t method, double alpha) {
  auto gvT = gvT_.contiguous(), x = x_.contiguous(), v0 = v0_.contiguous();
  const Seq q = check_seq(x, {gvT, v0});
  auto gx = at::empty_like(x), gv0 = at::empty_like(gvT);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "iaf_bwd", [&] {
    using S = scalar_t;
    at::Tensor gz_hold;
    bool GZC = false;
    const S* GZ = seq_grad<S>(gz_, gz_hold, GZC);
    const S *GVT = cptr<S>(gvT), *X = cptr<S>(x), *V0 = cptr<S>(v0);
    S *GX = ptr<S>(gx), *GV0 = ptr<S>(gv0);
    const int64_t T = q.T, N = q.N;
    dispatch_method(method, [&](auto m) {
      constexpr int M = decltype(m)::value;
      for_blocks(N, [&](int64_t n0, int64_t len) {
        S* VD = scratch<S>(T * CH);
        iaf_fwd_block<S, true>(X, V0, nullptr, VD, nullptr, T, N, n0, len, S(vth), S(vr));
        iaf_bwd_block<S, M>(GZC, GZ, GVT, VD, GX, GV0, T, N, n0, len, S(vth), S(vr), S(alpha));
      });
    });
  });
  return {gx, gv0};
}

// ---------------------------------------------------------------------------- LI, LIBox
template <typename S>
void li_fwd_block(const S* R X, const S* R V0, const S* R I0, S* R O, S* R VT, S* R IT,
                  int64_t T, int64_t N, int64_t n0, int64_t len, S A, S B, S VL) {
  S v[CH], c[CH];
  for (int64_t k = 0; k < len; ++k) { v[k] = V0[n0 + k]; c[k] = I0[n0 + k]; }
  for (int64_t t = 0; t < T; ++t) {
    const int64_t o = t * N + n0;
    const S* R xt = X + o;
    S* R ot = O + o;
    for (int64_t k = 0; k < len; ++k) {
      const S j = c[k] + xt[k];
      v[k] = v[k] + A * ((VL - v[k]) + j);
      c[k] = j - B * j;
      ot[k] = v[k];
    }
  }
  for (int64_t k = 0; k < len; ++k) { VT[n0 + k] = v[k]; IT[n0 + k] = c[k]; }
}

template <typename S>
void li_bwd_block(bool GZC, const S* R GO, const S* R GVT, const S* R GIT, S* R GX, S* R GV0, S* R GI0,
                  int64_t T, int64_t N, int64_t n0, int64_t len, S A, S AP, S BP) {
  S gv[CH], gi[CH];
  for (int64_t k = 0; k < len; ++k) { gv[k] = GVT[n0 + k]; gi[k] = GIT[n0 + k]; }
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t o = t * N + n0;
    const S* R got = GZC ? GO : GO + o;
    S* R gxt = GX + o;
    for (int64_t k = 0; k < len; ++k) {
      const S u = got[k] + gv[k];
      const S gj = A * u + BP * gi[k];
      gxt[k] = gj;
      gv[k] = AP * u;
      gi[k] = gj;
    }
  }
  for (int64_t k = 0; k < len; ++k) { GV0[n0 + k] = gv[k]; GI0[n0 + k] = gi[k]; }
}

std::vector<at::Tensor> li_fwd(const at::Tensor& x_, const at::Tensor& v0_, const at::Tensor& i0_,
                               double a, double b, double vl) {
  auto x = x_.contiguous(), v0 = v0_.contiguous(), i0 = i0_.contiguous();
  const Seq q = check_seq(x, {v0, i0});
  auto out = at::empty_like(x), vT = at::empty_like(v0), iT = at::empty_like(i0);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "li_fwd", [&] {
    using S = scalar_t;
    const S *X = cptr<S>(x), *V0 = cptr<S>(v0), *I0 = cptr<S>(i0);
    S *O = ptr<S>(out), *VT = ptr<S>(vT), *IT = ptr<S>(iT);
    const int64_t T = q.T, N = q.N;
    for_blocks(N, [&](int64_t n0, int64_t len) {
      li_fwd_block<S>(X, V0, I0, O, VT, IT, T, N, n0, len, S(a), S(b), S(vl));
    });
  });
  return {out, vT, iT};
}

std::vector<at::Tensor> li_bwd(const at::Tensor& go_, const at::Tensor& gvT_, const at::Tensor& giT_, double a, double b) {
  auto gvT = gvT_.contiguous(), giT = giT_.contiguous();
  const Seq q = check_seq(go_, {gvT, giT});
  auto gx = at::empty(go_.sizes(), go_.options()), gv0 = at::empty_like(gvT), gi0 = at::empty_like(giT);
  AT_DISPATCH_FLOATING_TYPES(go_.scalar_type(), "li_bwd", [&] {
    using S = scalar_t;
    at::Tensor go_hold;
    bool GZC = false;
    const S* GO = seq_grad<S>(go_, go_hold, GZC);
    const S *GVT = cptr<S>(gvT), *GIT = cptr<S>(giT);
    S *GX = ptr<S>(gx), *GV0 = ptr<S>(gv0), *GI0 = ptr<S>(gi0);
    const int64_t T = q.T, N = q.N;
    for_blocks(N, [&](int64_t n0, int64_t len) {
      li_bwd_block<S>(GZC, GO, GVT, GIT, GX, GV0, GI0, T, N, n0, len, S(a), S(1) - S(a), S(1) - S(b));
    });
  });
  return {gx, gv0, gi0};
}

template <typename S>
void li_box_fwd_block(const S* R X, const S* R V0, S* R O, S* R VT,
                      int64_t T, int64_t N, int64_t n0, int64_t len, S A, S VL) {
  S v[CH];
  for (int64_t k = 0; k < len; ++k) v[k] = V0[n0 + k];
  for (int64_t t = 0; t < T; ++t) {
    const int64_t o = t * N + n0;
    const S* R xt = X + o;
    S* R ot = O + o;
    for (int64_t k = 0; k < len; ++k) {
      v[k] = v[k] + A * ((VL - v[k]) + xt[k]);
      ot[k] = v[k];
    }
  }
  for (int64_t k = 0; k < len; ++k) VT[n0 + k] = v[k];
}

template <typename S>
void li_box_bwd_block(bool GZC, const S* R GO, const S* R GVT, S* R GX, S* R GV0,
                      int64_t T, int64_t N, int64_t n0, int64_t len, S A, S AP) {
  S gv[CH];
  for (int64_t k = 0; k < len; ++k) gv[k] = GVT[n0 + k];
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t o = t * N + n0;
    const S* R got = GZC ? GO : GO + o;
    S* R gxt = GX + o;
    for (int64_t k = 0; k < len; ++k) {
      const S u = got[k] + gv[k];
      gxt[k] = A * u;
      gv[k] = AP * u;
    }
  }
  for (int64_t k = 0; k < len; ++k) GV0[n0 + k] = gv[k];
}

std::vector<at::Tensor> li_box_fwd(const at::Tensor& x_, const at::Tensor& v0_, double a, double vl) {
  auto x = x_.contiguous(), v0 = v0_.contiguous();
  const Seq q = check_seq(x, {v0});
  auto out = at::empty_like(x), vT = at::empty_like(v0);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "li_box_fwd", [&] {
    using S = scalar_t;
    const S *X = cptr<S>(x), *V0 = cptr<S>(v0);
    S *O = ptr<S>(out), *VT = ptr<S>(vT);
    const int64_t T = q.T, N = q.N;
    for_blocks(N, [&](int64_t n0, int64_t len) {
      li_box_fwd_block<S>(X, V0, O, VT, T, N, n0, len, S(a), S(vl));
    });
  });
  return {out, vT};
}

std::vector<at::Tensor> li_box_bwd(const at::Tensor& go_, const at::Tensor& gvT_, double a) {
  auto gvT = gvT_.contiguous();
  const Seq q = check_seq(go_, {gvT});
  auto gx = at::empty(go_.sizes(), go_.options()), gv0 = at::empty_like(gvT);
  AT_DISPATCH_FLOATING_TYPES(go_.scalar_type(), "li_box_bwd", [&] {
    using S = scalar_t;
    at::Tensor go_hold;
    bool GZC = false;
    const S* GO = seq_grad<S>(go_, go_hold, GZC);
    const S *GVT = cptr<S>(gvT);
    S *GX = ptr<S>(gx), *GV0 = ptr<S>(gv0);
    const int64_t T = q.T, N = q.N;
    for_blocks(N, [&](int64_t n0, int64_t len) {
      li_box_bwd_block<S>(GZC, GO, GVT, GX, GV0, T, N, n0, len, S(a), S(1) - S(a));
    });
  });
  return {gx, gv0};
}

// ---------------------------------------------------------------------------- LSNN
// RECOMPUTE writes the pre-reset voltage and the threshold argument vd - bd into VD and DF.
template <typename S, bool RECOMPUTE>
void lsnn_fwd_block(const S* R X, const S* R V0, const S* R I0, const S* R B0, S* R Z, S* R VD, S* R DF,
                    S* R VT, S* R IT, S* R BT, int64_t T, int64_t N, int64_t n0, int64_t len,
                    S A, S B, S C, S VL, S VTH, S VR, S BETA) {
  S v[CH], cu[CH], th[CH];
  for (int64_t k = 0; k < len; ++k) { v[k] = V0[n0 + k]; cu[k] = I0[n0 + k]; th[k] = B0[n0 + k]; }
  for (int64_t t = 0; t < T; ++t) {
    const int64_t o = t * N + n0;
    const S* R xt = X + o;
    S* R zt = RECOMPUTE ? nullptr : Z + o;
    S* R vdt = RECOMPUTE ? VD + t * CH : nullptr;
    S* R dft = RECOMPUTE ? DF + t * CH : nullptr;
    for (int64_t k = 0; k < len; ++k) {
      const S j = cu[k] + xt[k];
      const S d = v[k] + A * ((VL - v[k]) + j);
      cu[k] = j - B * j;
      const S bd = th[k] + C * (VTH - th[k]);
      const S diff = d - bd;
      const bool spk = diff > S(0);
      if constexpr (RECOMPUTE) { vdt[k] = d; dft[k] = diff; } else { zt[k] = spk ? S(1) : S(0); }
      v[k] = spk ? VR : d;
      th[k] = spk ? bd + BETA : bd;
    }
  }
  if constexpr (!RECOMPUTE) {
    for (int64_t k = 0; k < len; ++k) { VT[n0 + k] = v[k]; IT[n0 + k] = cu[k]; BT[n0 + k] = th[k]; }
  }
}

template <typename S, int M>
void lsnn_bwd_block(bool GZC, const S* R GZ, const S* R GVT, const S* R GIT, const S* R GBT, const S* R VD, const S* R DF,
                    S* R GX, S* R GV0, S* R GI0, S* R GB0, int64_t T, int64_t N, int64_t n0, int64_t len,
                    S A, S AP, S BP, S CP, S VR, S BETA, S AL) {
  S gv[CH], gi[CH], gb[CH];
  for (int64_t k = 0; k < len; ++k) { gv[k] = GVT[n0 + k]; gi[k] = GIT[n0 + k]; gb[k] = GBT[n0 + k]; }
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t o = t * N + n0;
    const S* R vdt = VD + t * CH;
    const S* R dft = DF + t * CH;
    const S* R gzt = GZC ? GZ : GZ + o;
    S* R gxt = GX + o;
    for (int64_t k = 0; k < len; ++k) {
      const S d = vdt[k], diff = dft[k];
      const S s = surrogate<S, M>(diff, AL);
      const S w = (gzt[k] + gv[k] * (VR - d) + gb[k] * BETA) * s;
      const S u = (diff > S(0) ? S(0) : gv[k]) + w;
      const S gj = A * u + BP * gi[k];
      gxt[k] = gj;
      gb[k] = CP * (gb[k] - w);
      gv[k] = AP * u;
      gi[k] = gj;
    }
  }
  for (int64_t k = 0; k < len; ++k) { GV0[n0 + k] = gv[k]; GI0[n0 + k] = gi[k]; GB0[n0 + k] = gb[k]; }
}

std::vector<at::Tensor> lsnn_fwd(const at::Tensor& x_, const at::Tensor& v0_, const at::Tensor& i0_,
                                 const at::Tensor& b0_, double a, double b, double c, double vl,
                                 double vth, double vr, double beta) {
  auto x = x_.contiguous(), v0 = v0_.contiguous(), i0 = i0_.contiguous(), b0 = b0_.contiguous();
  const Seq q = check_seq(x, {v0, i0, b0});
  auto z = at::empty_like(x), vT = at::empty_like(v0), iT = at::empty_like(i0), bT = at::empty_like(b0);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lsnn_fwd", [&] {
    using S = scalar_t;
    const S *X = cptr<S>(x), *V0 = cptr<S>(v0), *I0 = cptr<S>(i0), *B0 = cptr<S>(b0);
    S *Z = ptr<S>(z), *VT = ptr<S>(vT), *IT = ptr<S>(iT), *BT = ptr<S>(bT);
    const int64_t T = q.T, N = q.N;
    for_blocks(N, [&](int64_t n0, int64_t len) {
      lsnn_fwd_block<S, false>(X, V0, I0, B0, Z, nullptr, nullptr, VT, IT, BT, T, N, n0, len,
                               S(a), S(b), S(c), S(vl), S(vth), S(vr), S(beta));
    });
  });
  return {z, vT, iT, bT};
}

std::vector<at::Tensor> lsnn_bwd(const at::Tensor& gz_, const at::Tensor& gvT_, const at::Tensor& giT_,
                                 const at::Tensor& gbT_, const at::Tensor& x_, const at::Tensor& v0_,
                                 const at::Tensor& i0_, const at::Tensor& b0_, double a, double b, double c,
                                 double vl, double vth, double vr, double beta, int64_t method, double alpha) {
  auto gvT = gvT_.contiguous(), giT = giT_.contiguous(), gbT = gbT_.contiguous();
  auto x = x_.contiguous(), v0 = v0_.contiguous(), i0 = i0_.contiguous(), b0 = b0_.contiguous();
  const Seq q = check_seq(x, {gvT, giT, gbT, v0, i0, b0});
  auto gx = at::empty_like(x), gv0 = at::empty_like(gvT), gi0 = at::empty_like(giT), gb0 = at::empty_like(gbT);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lsnn_bwd", [&] {
    using S = scalar_t;
    at::Tensor gz_hold;
    bool GZC = false;
    const S* GZ = seq_grad<S>(gz_, gz_hold, GZC);
    const S *GVT = cptr<S>(gvT), *GIT = cptr<S>(giT), *GBT = cptr<S>(gbT);
    const S *X = cptr<S>(x), *V0 = cptr<S>(v0), *I0 = cptr<S>(i0), *B0 = cptr<S>(b0);
    S *GX = ptr<S>(gx), *GV0 = ptr<S>(gv0), *GI0 = ptr<S>(gi0), *GB0 = ptr<S>(gb0);
    const int64_t T = q.T, N = q.N;
    dispatch_method(method, [&](auto m) {
      constexpr int M = decltype(m)::value;
      for_blocks(N, [&](int64_t n0, int64_t len) {
        S* VD = scratch<S>(2 * T * CH);
        S* DF = VD + T * CH;
        lsnn_fwd_block<S, true>(X, V0, I0, B0, nullptr, VD, DF, nullptr, nullptr, nullptr, T, N, n0, len,
                                S(a), S(b), S(c), S(vl), S(vth), S(vr), S(beta));
        lsnn_bwd_block<S, M>(GZC, GZ, GVT, GIT, GBT, VD, DF, GX, GV0, GI0, GB0, T, N, n0, len,
                             S(a), S(1) - S(a), S(1) - S(b), S(1) - S(c), S(vr), S(beta), S(alpha));
      });
    });
  });
  return {gx, gv0, gi0, gb0};
}

// ---------------------------------------------------------------------------- recurrent LIF / LSNN
// xin (T, B, N) is the input projection, computed outside. Per step and batch row:
//   j = (i + xin_t) + W z_{t-1};  vd = v + a ((vl - v) + j);  i = j - b j
//   LSNN: bd = th + c (vth - th); diff = vd - bd; th = bd + beta z      LIF: diff = vd - vth
//   z = diff > 0;  v = z ? vr : vd
// The spikes after the first step are 0/1, so W z_{t-1} is a sum of the columns of W of the
// neurons that spiked (WT holds them contiguously). Parameters are per neuron: P is (10, N)
// holding a, b, c, vl, vth, vr, beta, 1 - a, 1 - b, 1 - c. Chunks of CR batch rows run in
// parallel; the forward saves diff (T, B, N) for backward when DF is given.
constexpr int64_t CR = 8;

template <typename S, bool ADAPT>
void rec_fwd_rows(const S* R X, const S* R Z0, const S* R V0, const S* R I0, const S* R B0, const S* R W,
                  const S* R WT, const S* R P, S* R Z, S* R DF, S* R ZT, S* R VT, S* R IT, S* R BT,
                  int64_t T, int64_t Bn, int64_t N, int64_t r0, int64_t rows) {
  const S *A = P, *Bc = P + N, *C = P + 2 * N, *VL = P + 3 * N, *VTH = P + 4 * N, *VR = P + 5 * N,
          *BETA = P + 6 * N;
  const int64_t M = rows * N;
  std::vector<S> buf(4 * M);
  S *v = buf.data(), *cu = v + M, *th = cu + M, *lin = th + M;
  std::vector<int64_t> active(M);
  std::vector<int64_t> count(rows, 0);
  for (int64_t q = 0; q < M; ++q) {
    v[q] = V0[r0 * N + q];
    cu[q] = I0[r0 * N + q];
    if constexpr (ADAPT) th[q] = B0[r0 * N + q];
  }
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
        const S d = vr[k] + A[k] * ((VL[k] - vr[k]) + j);
        cr[k] = j - Bc[k] * j;
        S diff;
        bool spk;
        if constexpr (ADAPT) {
          const S bd = tr[k] + C[k] * (VTH[k] - tr[k]);
          diff = d - bd;
          spk = diff > S(0);
          tr[k] = spk ? bd + BETA[k] : bd;
        } else {
          diff = d - VTH[k];
          spk = diff > S(0);
        }
        if (dft) dft[k] = diff;
        zt[k] = spk ? S(1) : S(0);
        vr[k] = spk ? VR[k] : d;
        if (spk) act[na++] = k;
      }
      count[r] = na;
    }
  }
  for (int64_t q = 0; q < M; ++q) {
    const int64_t g = r0 * N + q;
    ZT[g] = Z[(T - 1) * Bn * N + g];
    VT[g] = v[q];
    IT[g] = cu[q];
    if constexpr (ADAPT) BT[g] = th[q];
  }
}

// Reverse time (reset with detached spikes, threshold jump with gradient), per row:
//   w = (gz_t + r + gb beta) s(diff_t);  u = gv (1 - z_t) + w;  gb = (1 - c)(gb - w)
//   gj = a u + (1 - b) gi  (= dL/dxin_t);  gv = (1 - a) u;  gi = gj;  r = gj W
template <typename S, int M, bool ADAPT>
void rec_bwd_rows(const S* R GZ, const S* R GZT, const S* R GVT, const S* R GIT, const S* R GBT,
                  const S* R DF, const S* R Z, const S* R W, const S* R P, S* R GX, S* R GZ0, S* R GV0,
                  S* R GI0, S* R GB0, int64_t T, int64_t Bn, int64_t N, int64_t r0, int64_t rows, S AL) {
  const S *A = P, *BETA = P + 6 * N, *AP = P + 7 * N, *BP = P + 8 * N, *CP = P + 9 * N;
  std::vector<S> buf(4 * N);
  S *gv = buf.data(), *gi = gv + N, *gb = gi + N, *rr = gb + N;
  for (int64_t r = r0; r < r0 + rows; ++r) {
    for (int64_t k = 0; k < N; ++k) {
      gv[k] = GVT[r * N + k];
      gi[k] = GIT[r * N + k];
      gb[k] = ADAPT ? GBT[r * N + k] : S(0);
      rr[k] = GZT[r * N + k];
    }
    for (int64_t t = T - 1; t >= 0; --t) {
      const int64_t o = (t * Bn + r) * N;
      const S* R dft = DF + o;
      const S* R zt = Z + o;
      const S* R gzt = GZ + o;
      S* R gxt = GX + o;
      for (int64_t k = 0; k < N; ++k) {
        const S s = surrogate<S, M>(dft[k], AL);
        S w;
        if constexpr (ADAPT) {
          w = ((gzt[k] + rr[k]) + gb[k] * BETA[k]) * s;
        } else {
          w = (gzt[k] + rr[k]) * s;
        }
        const S u = (gv[k] - gv[k] * zt[k]) + w;  // gv (1 - z), as the portable kernel computes it
        if constexpr (ADAPT) gb[k] = (gb[k] - w) * CP[k];
        const S gj = u * A[k] + gi[k] * BP[k];
        gxt[k] = gj;
        gi[k] = gj;
        gv[k] = u * AP[k];
      }
      for (int64_t m = 0; m < N; ++m) rr[m] = S(0);
      for (int64_t k = 0; k < N; ++k) {
        const S g = gi[k];
        const S* R w = W + k * N;
        for (int64_t m = 0; m < N; ++m) rr[m] += g * w[m];
      }
    }
    for (int64_t k = 0; k < N; ++k) {
      GZ0[r * N + k] = rr[k];
      GV0[r * N + k] = gv[k];
      GI0[r * N + k] = gi[k];
      if constexpr (ADAPT) GB0[r * N + k] = gb[k];
    }
  }
}

struct RecShape {
  int64_t T, B, N;
};

RecShape check_rec(const at::Tensor& x, const at::Tensor& w, const at::Tensor& p,
                   const std::vector<at::Tensor>& states) {
  TORCH_CHECK(x.dim() >= 2 && x.size(0) > 0, "norse_core_fused: recurrent input must be (T, ..., N)");
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, "norse_core_fused: float32/64 only");
  TORCH_CHECK(x.device().is_cpu(), "norse_core_fused: CPU tensors only");
  const int64_t T = x.size(0), N = x.size(-1), B = x.numel() / (T * N);
  TORCH_CHECK(w.dim() == 2 && w.size(0) == N && w.size(1) == N && w.scalar_type() == x.scalar_type(),
              "norse_core_fused: recurrent weights must be (N, N) in the input's dtype");
  TORCH_CHECK(p.dim() == 2 && p.size(0) == 10 && p.size(1) == N && p.scalar_type() == x.scalar_type(),
              "norse_core_fused: parameters must be (10, N)");
  for (const auto& s : states) {
    TORCH_CHECK(!s.defined() || (s.numel() == B * N && s.scalar_type() == x.scalar_type()),
                "norse_core_fused: state shape/dtype mismatch");
  }
  return {T, B, N};
}

std::vector<at::Tensor> rec_fwd(const at::Tensor& x_, const at::Tensor& z0_, const at::Tensor& v0_,
                                const at::Tensor& i0_, const at::Tensor& b0_, const at::Tensor& w_,
                                const at::Tensor& p_, bool adaptive, bool save) {
  auto x = x_.contiguous(), z0 = z0_.contiguous(), v0 = v0_.contiguous(), i0 = i0_.contiguous();
  auto b0 = adaptive ? b0_.contiguous() : at::Tensor();
  auto w = w_.contiguous(), wt = w_.t().contiguous(), p = p_.contiguous();
  const RecShape q = check_rec(x, w, p, {z0, v0, i0, b0});
  auto z = at::empty_like(x), zT = at::empty_like(z0), vT = at::empty_like(v0), iT = at::empty_like(i0);
  auto bT = adaptive ? at::empty_like(b0) : at::empty({0}, x.options());
  auto df = save ? at::empty_like(x) : at::empty({0}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rec_fwd", [&] {
    using S = scalar_t;
    const S *X = cptr<S>(x), *Z0 = cptr<S>(z0), *V0 = cptr<S>(v0), *I0 = cptr<S>(i0);
    const S* B0 = adaptive ? cptr<S>(b0) : nullptr;
    const S *W = cptr<S>(w), *WT = cptr<S>(wt), *P = cptr<S>(p);
    S *Z = ptr<S>(z), *DF = save ? ptr<S>(df) : nullptr, *ZT = ptr<S>(zT), *VT = ptr<S>(vT), *IT = ptr<S>(iT);
    S* BT = adaptive ? ptr<S>(bT) : nullptr;
    dispatch_bool(adaptive, [&](auto ad) {
      constexpr bool AD = decltype(ad)::value;
      for_chunks(q.B, CR, [&](int64_t r0, int64_t rows) {
        rec_fwd_rows<S, AD>(X, Z0, V0, I0, B0, W, WT, P, Z, DF, ZT, VT, IT, BT, q.T, q.B, q.N, r0, rows);
      });
    });
  });
  return {z, zT, vT, iT, bT, df};
}

std::vector<at::Tensor> rec_bwd(const at::Tensor& gz_, const at::Tensor& gzT_, const at::Tensor& gvT_,
                                const at::Tensor& giT_, const at::Tensor& gbT_, const at::Tensor& df_,
                                const at::Tensor& z_, const at::Tensor& w_, const at::Tensor& p_, bool adaptive,
                                int64_t method, double alpha) {
  auto gz = gz_.contiguous(), gzT = gzT_.contiguous(), gvT = gvT_.contiguous(), giT = giT_.contiguous();
  auto gbT = adaptive ? gbT_.contiguous() : at::Tensor();
  auto df = df_.contiguous(), z = z_.contiguous(), w = w_.contiguous(), p = p_.contiguous();
  const RecShape q = check_rec(df, w, p, {gzT, gvT, giT, gbT});
  TORCH_CHECK(gz.numel() == df.numel() && z.numel() == df.numel(), "norse_core_fused: sequence shape mismatch");
  auto gx = at::empty_like(df), gz0 = at::empty_like(gzT), gv0 = at::empty_like(gvT), gi0 = at::empty_like(giT);
  auto gb0 = adaptive ? at::empty_like(gbT) : at::empty({0}, df.options());
  AT_DISPATCH_FLOATING_TYPES(df.scalar_type(), "rec_bwd", [&] {
    using S = scalar_t;
    const S *GZ = cptr<S>(gz), *GZT = cptr<S>(gzT), *GVT = cptr<S>(gvT), *GIT = cptr<S>(giT);
    const S* GBT = adaptive ? cptr<S>(gbT) : nullptr;
    const S *DF = cptr<S>(df), *Z = cptr<S>(z), *W = cptr<S>(w), *P = cptr<S>(p);
    S *GX = ptr<S>(gx), *GZ0 = ptr<S>(gz0), *GV0 = ptr<S>(gv0), *GI0 = ptr<S>(gi0);
    S* GB0 = adaptive ? ptr<S>(gb0) : nullptr;
    dispatch_method(method, [&](auto m) {
      constexpr int MT = decltype(m)::value;
      dispatch_bool(adaptive, [&](auto ad) {
        constexpr bool AD = decltype(ad)::value;
        for_chunks(q.B, CR, [&](int64_t r0, int64_t rows) {
          rec_bwd_rows<S, MT, AD>(GZ, GZT, GVT, GIT, GBT, DF, Z, W, P, GX, GZ0, GV0, GI0, GB0, q.T, q.B, q.N, r0,
                                  rows, S(alpha));
        });
      });
    });
  });
  return {gx, gz0, gv0, gi0, gb0};
}

}  // namespace

TORCH_LIBRARY(norse_core_fused, m) {
  m.def("lif_fwd(Tensor x, Tensor v0, Tensor? i0, float[] p, Tensor[] per, bool subtract) -> Tensor[]", &lif_fwd);
  m.def("lif_bwd(Tensor gz, Tensor gv, Tensor? gi, Tensor x, Tensor v0, Tensor? i0, float[] p, Tensor[] per, bool subtract, int method, float alpha, int grads) -> Tensor[]", &lif_bwd);
  m.def("iaf_fwd(Tensor x, Tensor v0, float vth, float vr) -> Tensor[]", &iaf_fwd);
  m.def("iaf_bwd(Tensor gz, Tensor gv, Tensor x, Tensor v0, float vth, float vr, int method, float alpha) -> Tensor[]", &iaf_bwd);
  m.def("li_fwd(Tensor x, Tensor v0, Tensor i0, float a, float b, float vl) -> Tensor[]", &li_fwd);
  m.def("li_bwd(Tensor gout, Tensor gv, Tensor gi, float a, float b) -> Tensor[]", &li_bwd);
  m.def("li_box_fwd(Tensor x, Tensor v0, float a, float vl) -> Tensor[]", &li_box_fwd);
  m.def("li_box_bwd(Tensor gout, Tensor gv, float a) -> Tensor[]", &li_box_bwd);
  m.def("lsnn_fwd(Tensor x, Tensor v0, Tensor i0, Tensor b0, float a, float b, float c, float vl, float vth, float vr, float beta) -> Tensor[]", &lsnn_fwd);
  m.def("lsnn_bwd(Tensor gz, Tensor gv, Tensor gi, Tensor gb, Tensor x, Tensor v0, Tensor i0, Tensor b0, float a, float b, float c, float vl, float vth, float vr, float beta, int method, float alpha) -> Tensor[]", &lsnn_bwd);
  m.def("rec_fwd(Tensor x, Tensor z0, Tensor v0, Tensor i0, Tensor b0, Tensor w, Tensor p, bool adaptive, bool save) -> Tensor[]", &rec_fwd);
  m.def("rec_bwd(Tensor gz, Tensor gzT, Tensor gvT, Tensor giT, Tensor gbT, Tensor df, Tensor z, Tensor w, Tensor p, bool adaptive, int method, float alpha) -> Tensor[]", &rec_bwd);
}
