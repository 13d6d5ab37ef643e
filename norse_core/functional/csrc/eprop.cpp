// e-prop's two time loops over a chunk of K steps (norse_core/functional/eprop_cpp.py builds
// this file on first use; norse_core/functional/eprop.py has the same loops in PyTorch, which
// define them):
//
//  eprop_forward: the recurrent LIF/LSNN layer, K steps, from the input currents W_in x^t
//    (computed before, one matrix product); returns the spikes, the threshold arguments (for
//    the surrogate derivative) and the final state.
//  eprop_adjoint: the backward recursion of the eligibility traces' linear dynamics over the
//    chunk (eprop.py, trace_adjoint): for each functional k (the gradient, then each trace's
//    state at the chunk's end) the coefficient of every presynaptic signal p^t and of every
//    trace state at the chunk's start. Everything per (batch row, neuron): O(K*B*H) work.
//
// Single-threaded: a chunk is a few thousand numbers per step.
#include <torch/library.h>
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <algorithm>
#include <vector>

namespace {

// params rows: a = dt*tau_mem_inv, c = dt*tau_syn_inv, r = dt*tau_adapt_inv, beta, v_leak, v_th, v_reset
template <typename T>
void forward_loop(int64_t K, int64_t B, int64_t H, const T* current, T* v, T* i, T* b, T* z, const T* w_t,
                  const T* prm, bool adaptive, bool subtract, T* z_out, T* dist) {
  const T *a = prm, *c = prm + H, *r = prm + 2 * H, *beta = prm + 3 * H, *v_leak = prm + 4 * H,
          *v_th = prm + 5 * H, *v_reset = prm + 6 * H;
  std::vector<T> rec(H);
  for (int64_t t = 0; t < K; ++t) {
    for (int64_t n = 0; n < B; ++n) {
      T *vn = v + n * H, *in = i + n * H, *bn = b + n * H, *zn = z + n * H;
      const T* cur = current + (t * B + n) * H;
      T* zo = z_out + (t * B + n) * H;
      T* dn = dist + (t * B + n) * H;
      std::fill(rec.begin(), rec.end(), T(0));
      for (int64_t k = 0; k < H; ++k) {  // W_rec z^{t-1}: the columns of the neurons that spiked
        const T zk = zn[k];
        if (zk != T(0)) {
          const T* w = w_t + k * H;
          for (int64_t j = 0; j < H; ++j) rec[j] += zk * w[j];
        }
      }
      for (int64_t j = 0; j < H; ++j) {
        const T i_jump = (in[j] + cur[j]) + rec[j];
        const T v_d = vn[j] + a[j] * ((v_leak[j] - vn[j]) + i_jump);
        in[j] = i_jump - c[j] * i_jump;
        T threshold = v_th[j];
        if (adaptive) {
          threshold = bn[j] + r[j] * (v_th[j] - bn[j]);
        }
        const T d = v_d - threshold;
        const T s = d > T(0) ? T(1) : T(0);
        vn[j] = subtract ? v_d - s * v_th[j] : (T(1) - s) * v_d + s * v_reset[j];
        if (adaptive) bn[j] = threshold + beta[j] * s;
        zn[j] = s;
        zo[j] = s;
        dn[j] = d;
      }
    }
  }
}

std::vector<at::Tensor> eprop_forward(const at::Tensor& current, const at::Tensor& v0, const at::Tensor& i0,
                                      const at::Tensor& b0, const at::Tensor& z0, const at::Tensor& w_rec_t,
                                      const at::Tensor& params, bool adaptive, bool subtract) {
  TORCH_CHECK(current.dim() == 3 && current.is_contiguous(), "eprop_forward: current must be contiguous (K, B, H)");
  const int64_t K = current.size(0), B = current.size(1), H = current.size(2);
  at::Tensor v = v0.contiguous().clone(), i = i0.contiguous().clone(), b = b0.contiguous().clone(),
             z = z0.contiguous().clone();
  at::Tensor z_out = at::empty({K, B, H}, current.options()), dist = at::empty({K, B, H}, current.options());
  at::Tensor w = w_rec_t.contiguous(), p = params.contiguous();
  TORCH_CHECK(v.numel() == B * H && i.numel() == B * H && b.numel() == B * H && z.numel() == B * H,
              "eprop_forward: states must be (B, H)");
  TORCH_CHECK(w.numel() == H * H && p.numel() == 7 * H, "eprop_forward: w_rec_t (H, H), params (7, H)");
  AT_DISPATCH_FLOATING_TYPES(current.scalar_type(), "eprop_forward", [&] {
    forward_loop<scalar_t>(K, B, H, current.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(), i.data_ptr<scalar_t>(),
                           b.data_ptr<scalar_t>(), z.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(),
                           p.data_ptr<scalar_t>(), adaptive, subtract, z_out.data_ptr<scalar_t>(),
                           dist.data_ptr<scalar_t>());
  });
  return {z_out, dist, v, i, b, z};
}

// The states' adjoints mu_* (one row of B*H per functional k), updated backwards through
// each step; rho[t, k] = the coefficient of p^t (see eprop.py, trace_adjoint, for the
// equations). coef rows: a, c, r, beta (per neuron); am = dt*tau_mem_inv and as = dt*tau_syn_inv
// of the readout filter. lam/sig: (K, B*H) rows, zero rows where absent; they enter functional 0.
template <typename T, bool ADAPTIVE, bool FILTER>
void adjoint_loop(int64_t K, int64_t B, int64_t H, int64_t nk, const T* psi, const T* gate, const T* lam,
                  const T* sig, const T* coef, T am, T as, T* rho, T* mu) {
  const int64_t N = B * H;
  // mu layout: (ns, nk, N), states in the order v, b (adaptive), fv, fi (filter), i
  const int64_t ns = 2 + (ADAPTIVE ? 1 : 0) + (FILTER ? 2 : 0);
  T* mv = mu;
  T* mb = ADAPTIVE ? mu + nk * N : nullptr;
  T* mfv = FILTER ? mu + (ADAPTIVE ? 2 : 1) * nk * N : nullptr;
  T* mfi = FILTER ? mfv + nk * N : nullptr;
  T* mi = mu + (ns - 1) * nk * N;
  // per-neuron coefficients expanded over the batch rows: the inner loop runs over B*H
  std::vector<T> a(N), one_a(N), one_c(N), one_r(N), beta(N);
  for (int64_t x = 0; x < N; ++x) {
    const int64_t j = x % H;
    a[x] = coef[j];
    one_a[x] = T(1) - coef[j];
    one_c[x] = T(1) - coef[H + j];
    one_r[x] = T(1) - coef[2 * H + j];
    beta[x] = coef[3 * H + j];
  }
  std::vector<T> zeros(N, T(0));
  const T one_am = T(1) - am, one_as = T(1) - as;
  for (int64_t t = K - 1; t >= 0; --t) {
    const T* ps = psi + t * N;
    const T* gt = gate + t * N;
    for (int64_t k = 0; k < nk; ++k) {
      const T* lt = (k == 0 && lam != nullptr) ? lam + t * N : zeros.data();
      const T* st = (k == 0 && sig != nullptr) ? sig + t * N : zeros.data();
      T* __restrict__ out = rho + (t * nk + k) * N;
      T* __restrict__ v_ = mv + k * N;
      T* __restrict__ i_ = mi + k * N;
      T* __restrict__ b_ = ADAPTIVE ? mb + k * N : nullptr;
      T* __restrict__ fv_ = FILTER ? mfv + k * N : nullptr;
      T* __restrict__ fi_ = FILTER ? mfi + k * N : nullptr;
      for (int64_t x = 0; x < N; ++x) {
        T g_e;
        if (FILTER) {
          const T g_fv = fv_[x] + lt[x];
          const T g_fj = am * g_fv + one_as * fi_[x];
          fv_[x] = one_am * g_fv;
          fi_[x] = g_fj;
          g_e = g_fj + st[x];
        } else {
          g_e = lt[x] + st[x];
        }
        if (ADAPTIVE) g_e += beta[x] * b_[x];
        const T g_vd = ps[x] * g_e + gt[x] * v_[x];
        if (ADAPTIVE) b_[x] = one_r[x] * (b_[x] - ps[x] * g_e);
        v_[x] = one_a[x] * g_vd;
        const T g_q = a[x] * g_vd + one_c[x] * i_[x];
        out[x] = g_q;
        i_[x] = g_q;
      }
    }
  }
}

std::vector<at::Tensor> eprop_adjoint(const at::Tensor& psi, const at::Tensor& gate, const at::Tensor& lam,
                                      const at::Tensor& sig, const at::Tensor& coef, double am, double as,
                                      bool adaptive, bool filter) {
  TORCH_CHECK(psi.dim() == 3 && psi.is_contiguous() && gate.is_contiguous(), "eprop_adjoint: psi, gate (K, B, H)");
  const int64_t K = psi.size(0), B = psi.size(1), H = psi.size(2);
  const int64_t ns = 2 + (adaptive ? 1 : 0) + (filter ? 2 : 0), nk = ns;  // the gradient + every state but i
  at::Tensor rho = at::empty({K, nk, B, H}, psi.options());
  at::Tensor mu = at::zeros({ns, nk, B, H}, psi.options());
  for (int64_t k = 1; k < nk; ++k) mu[k - 1][k].fill_(1.0);  // functional k: the state k-1 at the end
  const bool has_lam = lam.numel() > 0, has_sig = sig.numel() > 0;
  TORCH_CHECK(!has_lam || (lam.is_contiguous() && lam.numel() == psi.numel()), "eprop_adjoint: lam (K, B, H)");
  TORCH_CHECK(!has_sig || (sig.is_contiguous() && sig.numel() == psi.numel()), "eprop_adjoint: sig (K, B, H)");
  at::Tensor cf = coef.contiguous();
  TORCH_CHECK(cf.numel() == 4 * H, "eprop_adjoint: coef (4, H)");
  AT_DISPATCH_FLOATING_TYPES(psi.scalar_type(), "eprop_adjoint", [&] {
    auto loop = adaptive ? (filter ? adjoint_loop<scalar_t, true, true> : adjoint_loop<scalar_t, true, false>)
                         : (filter ? adjoint_loop<scalar_t, false, true> : adjoint_loop<scalar_t, false, false>);
    loop(K, B, H, nk, psi.data_ptr<scalar_t>(), gate.data_ptr<scalar_t>(),
         has_lam ? lam.data_ptr<scalar_t>() : nullptr, has_sig ? sig.data_ptr<scalar_t>() : nullptr,
         cf.data_ptr<scalar_t>(), static_cast<scalar_t>(am), static_cast<scalar_t>(as), rho.data_ptr<scalar_t>(),
         mu.data_ptr<scalar_t>());
  });
  return {rho, mu};
}

}  // namespace

TORCH_LIBRARY(norse_core_eprop, m) {
  m.def("forward(Tensor current, Tensor v, Tensor i, Tensor b, Tensor z, Tensor w_rec_t, Tensor params, bool adaptive, bool subtract) -> Tensor[]", &eprop_forward);
  m.def("adjoint(Tensor psi, Tensor gate, Tensor lam, Tensor sig, Tensor coef, float am, float asyn, bool adaptive, bool filter) -> Tensor[]", &eprop_adjoint);
}
