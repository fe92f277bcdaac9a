// graph.cpp: StreamGraph over the CUDA API's capture calls.
#include "kernels/runtime/graph.h"

#include <utility>

#include "kernels/runtime/cuda_api.h"
#include "kernels/runtime/error.h"

namespace acx {

StreamGraph::~StreamGraph() { cuda_api::graph_destroy(exec_); }

StreamGraph::StreamGraph(StreamGraph&& o) noexcept
    : dev_(o.dev_), exec_(std::exchange(o.exec_, nullptr)), nodes_(std::exchange(o.nodes_, 0)) {}

StreamGraph& StreamGraph::operator=(StreamGraph&& o) noexcept {
  if (this != &o) {
    cuda_api::graph_destroy(exec_);
    dev_ = o.dev_;
    exec_ = std::exchange(o.exec_, nullptr);
    nodes_ = std::exchange(o.nodes_, 0);
  }
  return *this;
}

StreamGraph StreamGraph::capture(const Device& dev, const std::function<void()>& body) {
  ACX_CHECK(dev.is_cuda(), "CUDA graphs need a CUDA device");
  StreamGraph g;
  g.dev_ = dev;
  cuda_api::graph_begin_capture(dev.stream());
  try {
    body();
  } catch (...) {
    cuda_api::graph_end_capture(dev.stream(), nullptr, /*abandon=*/true);
    throw;
  }
  g.exec_ = cuda_api::graph_end_capture(dev.stream(), &g.nodes_);
  return g;
}

void StreamGraph::launch() const {
  ACX_CHECK(exec_ != nullptr, "launch of an empty graph");
  cuda_api::graph_launch(exec_, dev_.stream());
}

void run_host_only(const Device& dev, const std::function<void()>& body) {
  ACX_CHECK(dev.is_cuda(), "run_host_only needs a CUDA device");
  cuda_api::discard_begin();
  try {
    body();
  } catch (...) {
    cuda_api::discard_end();
    throw;
  }
  cuda_api::discard_end();
}

bool graphs_supported(const Device& dev, std::string* why_not) {
  if (!dev.is_cuda()) {
    if (why_not) *why_not = "the device is a CPU";
    return false;
  }
  return cuda_api::graphs_supported(why_not);
}

}  // namespace acx
