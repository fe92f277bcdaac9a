// The Python package's native module, acx._acx (nanobind; docs/python.md).
// Plain C++, compiled by the host compiler only: it reaches the kernels
// and the CUDA runtime through acx_core, never directly, so nvcc never sees
// it. What Python sees from here is thin; the Gymnasium face (spaces,
// autoreset modes, infos) is python/acx/vector.py.
//
// Arrays: the env's observation, final observation, reward, terminated and
// truncated arrays are returned as views of the env's own buffers, without
// a copy (NumPy arrays on the CPU; DLPack-capable arrays on CUDA). Every
// view holds a reference to its env, so a view kept after the env is
// closed or deleted stays valid; the next step overwrites what it shows.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cmath>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "envs/vec_env.h"
#include "host/io/config.h"
#include "host/io/read_file.h"
#include "host/learn/train_config.h"
#include "host/learn/trainer.h"
#include "kernels/runtime/buffer.h"
#include "kernels/runtime/device.h"
#include "kernels/runtime/error.h"

namespace nb = nanobind;

namespace acx {
namespace {

using F32In = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using F64In = nb::ndarray<const double, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using MaskIn = nb::ndarray<const bool, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// Rows i of every per-env array of `from` (VecEnv::to_host's layout: env.state
// is (state_dim, n), the others (n, ...)) into `into`, where mask[i].
void splice_envs(std::vector<HostArray>& into, const std::vector<HostArray>& from, const bool* mask, int64_t n) {
  for (HostArray& a : into) {
    const HostArray* b = nullptr;
    for (const HostArray& x : from)
      if (x.name == a.name) b = &x;
    if (!b || b->bytes.size() != a.bytes.size() || a.shape.empty()) continue;
    const bool columns = a.name == "env.state";  // (state_dim, n)
    if (!columns && a.shape[0] != n) continue;   // not per env (the seed, the engine's version)
    if (columns) {
      const int64_t rows = a.shape[0], elem = static_cast<int64_t>(a.bytes.size()) / (rows * n);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < n; ++i)
          if (mask[i]) std::memcpy(&a.bytes[(r * n + i) * elem], &b->bytes[(r * n + i) * elem], elem);
    } else {
      const int64_t row = static_cast<int64_t>(a.bytes.size()) / n;
      for (int64_t i = 0; i < n; ++i)
        if (mask[i]) std::memcpy(&a.bytes[i * row], &b->bytes[i * row], row);
    }
  }
}

// A NumPy array that owns `values` (freed with the array): what the module
// returns when it hands out a copy rather than a view.
nb::ndarray<nb::numpy, float> owned_array(std::vector<float> values, std::vector<size_t> shape) {
  auto* owned = new std::vector<float>(std::move(values));
  nb::capsule del(owned, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
  return nb::ndarray<nb::numpy, float>(owned->data(), shape.size(), shape.data(), del);
}

uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32 | rd()) & ((uint64_t{1} << 53) - 1);
}

class PyVecEnv {
 public:
  PyVecEnv(const std::string& name, int64_t num_envs, const std::string& device, int threads, int max_steps)
      : dev_(Device::create(device, threads)), name_(name) {
    ACX_USAGE_CHECK(num_envs >= 1, "num_envs must be at least 1, got " + std::to_string(num_envs));
    env_ = make_vec_env(dev_, name, num_envs);
    if (max_steps > 0) env_->set_max_steps(max_steps);
    max_steps_ = max_steps;
    actions_ = Buffer<float>(dev_, num_envs * env_->info().act_dim);
    env_->reset(0);
  }

  // Freed memory goes back to the system: an env's per-env simulator data is
  // allocated by the OpenMP threads in glibc's per-thread arenas, which keep
  // what is freed, so that making and dropping large envs in one
  // interpreter grew its memory by the env's size each time (measured: 1.8
  // GB per HalfCheetah env of 16384) until trimmed.
  ~PyVecEnv() {
    env_.reset();
    actions_ = Buffer<float>();
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
  }
  PyVecEnv(const PyVecEnv&) = delete;
  PyVecEnv& operator=(const PyVecEnv&) = delete;

  int64_t num_envs() const { return env_->n_envs(); }
  const EnvInfo& info() const { return env_->info(); }
  std::string device() const { return dev_.describe(); }
  bool is_cuda() const { return dev_.is_cuda(); }
  bool closed() const { return closed_; }
  void close() { closed_ = true; }  // the buffers live on while a view holds them
  int max_steps() const { return env_->max_steps(); }

  void reset(std::optional<uint64_t> seed, std::optional<MaskIn> mask) {
    check_open();
    const uint64_t s = seed ? *seed : random_seed();
    const int64_t n = num_envs();
    if (!mask) {
      env_->reset(s);
      return;
    }
    ACX_USAGE_CHECK(mask->shape(0) == static_cast<size_t>(n),
                    "reset_mask must have one entry per env (" + std::to_string(n) + "), got " +
                        std::to_string(mask->shape(0)));
    const bool* m = mask->data();
    bool any = false, all = true;
    for (int64_t i = 0; i < n; ++i) any |= m[i], all &= m[i];
    ACX_USAGE_CHECK(any, "reset_mask has no True entry: nothing to reset");
    if (all) {
      env_->reset(s);
      return;
    }
    // The masked envs start the episode a full reset with this seed would
    // start; the others keep theirs.
    auto fresh = make_vec_env(dev_, name_, n);
    if (max_steps_ > 0) fresh->set_max_steps(max_steps_);
    fresh->reset(s);
    std::vector<HostArray> now = env_->to_host();
    splice_envs(now, fresh->to_host(), m, n);
    env_->from_host(now);
  }

  // One step of every env; with `skip`, the envs where skip[i] is true are
  // not stepped (gymnasium's NEXT_STEP autoreset: they just began a new
  // episode) and report reward 0, not terminated, not truncated.
  void step(F32In actions, std::optional<MaskIn> skip) {
    check_open();
    const int64_t n = num_envs(), ad = info().act_dim;
    ACX_USAGE_CHECK(actions.shape(0) == static_cast<size_t>(n) && actions.shape(1) == static_cast<size_t>(ad),
                    "actions must have shape (" + std::to_string(n) + ", " + std::to_string(ad) + "), got (" +
                        std::to_string(actions.shape(0)) + ", " + std::to_string(actions.shape(1)) + ")");
    const float* a = actions.data();
    for (int64_t i = 0; i < n * ad; ++i)
      if (!std::isfinite(a[i]))
        throw UsageError("actions hold " + std::to_string(a[i]) + " at env " + std::to_string(i / ad) +
                         ": actions must be finite");
    const float* d_actions = a;
    if (dev_.is_cuda()) {
      memory::copy_host_to_device(dev_, actions_.data(), a, static_cast<size_t>(n * ad) * sizeof(float));
      d_actions = actions_.data();
    }
    const bool* s = skip ? skip->data() : nullptr;
    bool any = false, all = true;
    if (s) {
      ACX_USAGE_CHECK(skip->shape(0) == static_cast<size_t>(n), "the skip mask must have one entry per env");
      for (int64_t i = 0; i < n; ++i) any |= s[i], all &= s[i];
    }
    if (!any) {
      nb::gil_scoped_release release;
      env_->step(d_actions);
    } else {
      std::vector<HostArray> before = env_->to_host();
      if (!all) env_->step(d_actions);
      std::vector<HostArray> after = env_->to_host();
      splice_envs(after, before, s, n);
      for (HostArray& h : after) {  // the skipped envs: reward 0, neither flag
        if (h.name != "env.reward" && h.name != "env.terminated" && h.name != "env.truncated") continue;
        const int64_t w = static_cast<int64_t>(h.bytes.size()) / n;
        for (int64_t i = 0; i < n; ++i)
          if (s[i]) std::memset(&h.bytes[i * w], 0, w);
      }
      env_->from_host(after);
    }
    if (dev_.is_cuda()) dev_.synchronize();  // the views are complete for any consumer stream
  }

  void set_state(F64In rows) {
    check_open();
    const int64_t n = num_envs();
    ACX_USAGE_CHECK(rows.shape(0) == static_cast<size_t>(n) && rows.shape(1) == static_cast<size_t>(info().state_dim),
                    "states must have shape (" + std::to_string(n) + ", " + std::to_string(info().state_dim) + ")");
    env_->set_state_rows(std::vector<double>(rows.data(), rows.data() + rows.size()));
  }
  void set_auto_reset(bool on) { env_->set_auto_reset(on); }
  nb::ndarray<nb::numpy, float> state() const {
    return owned_array(env_->state_host(),
                       {static_cast<size_t>(num_envs()), static_cast<size_t>(info().state_dim)});
  }

  // Views of the env's own buffers (see the file's comment).
  template <typename T>
  nb::object view(nb::handle self, T* data, std::initializer_list<size_t> shape) const {
    if (dev_.is_cuda()) {  // a DLPack-capable array on the GPU (torch.from_dlpack, jax.dlpack)
      return nb::cast(nb::ndarray<T>(data, shape.size(), shape.begin(), self, nullptr, nb::dtype<T>(),
                                     nb::device::cuda::value, dev_.cuda_ordinal()));
    }
    return nb::cast(nb::ndarray<nb::numpy, T>(data, shape.size(), shape.begin(), self));
  }
  uintptr_t obs_address() const { return reinterpret_cast<uintptr_t>(env_->obs()); }

  void check_open() const { ACX_USAGE_CHECK(!closed_, "this env is closed"); }

  const VecEnvArrays& arrays() const { return env_->arrays(); }

 private:
  Device dev_;
  std::string name_;
  std::unique_ptr<VecEnv> env_;
  Buffer<float> actions_;
  int max_steps_ = 0;
  bool closed_ = false;
};

class PyPolicy {
 public:
  PyPolicy(const std::string& checkpoint, const std::string& device)
      : dev_(Device::create(device, 0)), policy_(dev_, checkpoint) {}

  int agents() const { return policy_.agents(); }
  const EnvInfo& info() const { return policy_.env(); }
  std::string algo() const { return policy_.algo(); }

  // obs (K, n, obs_dim) -> actions (K, n, act_dim), a new array.
  nb::ndarray<nb::numpy, float> act(nb::ndarray<const float, nb::ndim<3>, nb::c_contig, nb::device::cpu> obs) const {
    const size_t K = static_cast<size_t>(agents()), od = static_cast<size_t>(info().obs_dim),
                 ad = static_cast<size_t>(info().act_dim);
    ACX_USAGE_CHECK(obs.shape(0) == K && obs.shape(2) == od,
                    "observations must have shape (" + std::to_string(K) + ", n, " + std::to_string(od) + ")");
    const size_t n = obs.shape(1);
    for (size_t i = 0; i < obs.size(); ++i)
      if (!std::isfinite(obs.data()[i])) throw UsageError("observations must be finite (element " + std::to_string(i) + ")");
    std::vector<float> out(K * n * ad);
    {
      nb::gil_scoped_release release;
      policy_.act(obs.data(), static_cast<int64_t>(n), out.data());
    }
    return owned_array(std::move(out), {K, n, ad});
  }

  nb::dict parameters() const {
    nb::dict d;
    for (const HostArray& a : policy_.parameters()) {
      ACX_CHECK(a.dtype == "F32", "actor layers are float32");
      std::vector<float> v(a.bytes.size() / sizeof(float));
      std::memcpy(v.data(), a.bytes.data(), a.bytes.size());
      d[a.name.c_str()] = owned_array(std::move(v), std::vector<size_t>(a.shape.begin(), a.shape.end()));
    }
    return d;
  }

 private:
  Device dev_;
  LoadedPolicy policy_;
};

nb::dict env_info_dict(const EnvInfo& e) {
  nb::dict d;
  d["name"] = e.name;
  d["obs_dim"] = e.obs_dim;
  d["act_dim"] = e.act_dim;
  d["state_dim"] = e.state_dim;
  d["max_steps"] = e.max_steps;
  d["action_low"] = e.action_low;
  d["action_high"] = e.action_high;
  d["obs_low"] = e.obs_low;
  d["obs_high"] = e.obs_high;
  return d;
}

// acx.train's engine: the resolved config of `acx train`, trained into out.
std::pair<std::string, std::string> train_run(const std::string& env, const std::string& config_file,
                                              const std::vector<std::string>& overrides, const std::string& out,
                                              const std::string& device, bool resume, bool quiet) {
  std::string summary_path;
  {
    nb::gil_scoped_release release;
    // The config `acx train` (or `acx train --resume`) would run.
    Config cfg = resume ? resume_train_config(out, overrides, device)
                        : resolve_train_config(env, config_file, overrides, device);
    const Device dev = Device::create(cfg.get_string("run.device"), cfg.get_int32("run.threads"), &std::cerr);
    summary_path = train(dev, std::move(cfg), out, resume, quiet ? Output::kQuiet : Output::kProgress).summary_path;
  }
  return {out, read_file(summary_path, 64 << 20, "summary.json")};
}

}  // namespace
}  // namespace acx

NB_MODULE(_acx, m) {
  using namespace acx;
  m.doc() = "acx's native module (see the acx package)";
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const UsageError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
  m.def("envs_json", &registered_envs_json, "every registered env as `acx envs --json` prints it");
  m.def("version", [] { return std::string(ACX_VERSION); });
  // The seed of a stream derived from run.seed (host/learn/train_config.h):
  // acx eval's envs are keyed by mix_seed(--seed, EVAL_SALT).
  m.def("mix_seed", &mix_seed, nb::arg("seed"), nb::arg("salt"));
  m.attr("EVAL_SALT") = static_cast<uint64_t>(kSaltEval);
  m.def("train", &train_run, nb::arg("env"), nb::arg("config_file"), nb::arg("overrides"), nb::arg("out"),
        nb::arg("device"), nb::arg("resume"), nb::arg("quiet"));

  nb::class_<PyVecEnv>(m, "VecEnv")
      .def(nb::init<const std::string&, int64_t, const std::string&, int, int>(), nb::arg("name"),
           nb::arg("num_envs"), nb::arg("device") = "cpu", nb::arg("threads") = 0, nb::arg("max_steps") = 0)
      .def_prop_ro("num_envs", &PyVecEnv::num_envs)
      .def_prop_ro("info", [](const PyVecEnv& e) { return env_info_dict(e.info()); })
      .def_prop_ro("device", &PyVecEnv::device)
      .def_prop_ro("is_cuda", &PyVecEnv::is_cuda)
      .def_prop_ro("closed", &PyVecEnv::closed)
      .def_prop_ro("max_steps", &PyVecEnv::max_steps)
      .def("close", &PyVecEnv::close)
      .def("reset", &PyVecEnv::reset, nb::arg("seed").none(), nb::arg("mask").none())
      .def("step", &PyVecEnv::step, nb::arg("actions"), nb::arg("skip").none())
      .def("set_state", &PyVecEnv::set_state)
      .def("set_auto_reset", &PyVecEnv::set_auto_reset)
      .def("state", &PyVecEnv::state)
      .def("obs_address", &PyVecEnv::obs_address)
      .def("obs", [](nb::handle self) {
        const PyVecEnv& e = nb::cast<const PyVecEnv&>(self);
        return e.view(self, e.arrays().obs, {static_cast<size_t>(e.num_envs()), static_cast<size_t>(e.info().obs_dim)});
      })
      .def("final_obs", [](nb::handle self) {
        const PyVecEnv& e = nb::cast<const PyVecEnv&>(self);
        return e.view(self, e.arrays().final_obs,
                      {static_cast<size_t>(e.num_envs()), static_cast<size_t>(e.info().obs_dim)});
      })
      .def("reward", [](nb::handle self) {
        const PyVecEnv& e = nb::cast<const PyVecEnv&>(self);
        return e.view(self, e.arrays().reward, {static_cast<size_t>(e.num_envs())});
      })
      .def("terminated", [](nb::handle self) {
        const PyVecEnv& e = nb::cast<const PyVecEnv&>(self);
        return e.view(self, reinterpret_cast<bool*>(e.arrays().terminated), {static_cast<size_t>(e.num_envs())});
      })
      .def("truncated", [](nb::handle self) {
        const PyVecEnv& e = nb::cast<const PyVecEnv&>(self);
        return e.view(self, reinterpret_cast<bool*>(e.arrays().truncated), {static_cast<size_t>(e.num_envs())});
      })
      .def("done_return", [](nb::handle self) {
        const PyVecEnv& e = nb::cast<const PyVecEnv&>(self);
        return e.view(self, e.arrays().done_return, {static_cast<size_t>(e.num_envs())});
      })
      .def("done_length", [](nb::handle self) {
        const PyVecEnv& e = nb::cast<const PyVecEnv&>(self);
        return e.view(self, e.arrays().done_length, {static_cast<size_t>(e.num_envs())});
      });

  nb::class_<PyPolicy>(m, "Policy")
      .def(nb::init<const std::string&, const std::string&>(), nb::arg("checkpoint"), nb::arg("device") = "cpu")
      .def_prop_ro("agents", &PyPolicy::agents)
      .def_prop_ro("algo", &PyPolicy::algo)
      .def_prop_ro("info", [](const PyPolicy& p) { return env_info_dict(p.info()); })
      .def("act", &PyPolicy::act)
      .def("parameters", &PyPolicy::parameters);
}
