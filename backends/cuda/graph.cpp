// CUDA graphs for command buffers replayed every tick (opt-in per queue and label; see device.h).
// A buffer's maximal runs of dispatch/copy commands are captured (stream capture, thread-local mode) into one
// graph each; later buffers with the same label launch the instantiated graph when the run's signature matches.
// Kernel arguments are baked into a graph, so the signature covers everything a launch reads: kernel names, grids,
// buffer addresses and sizes, constant bytes, copy ranges. Contents of the buffers may change freely.
#include <cstring>

#include "backends/cuda/internal.h"
#include "timeline/error.h"

namespace ut::cuda::detail {

using namespace ut::detail;

namespace {

template <class T>
void put(std::string& s, const T& v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

std::string signature(const std::vector<Command>& cmds, std::size_t begin, std::size_t end) {
  std::string s;
  for (std::size_t i = begin; i < end; ++i) {
    if (auto* d = std::get_if<DispatchCmd>(&cmds[i])) {
      s += 'D';
      s += d->kernel;
      s += '\0';
      put(s, d->grid.x);
      put(s, d->grid.y);
      put(s, d->grid.z);
      put(s, d->args.buffers.size());
      for (const Buffer& b : d->args.buffers) {
        put(s, b.device_address());
        put(s, b.size());
      }
      put(s, d->args.constants.size());
      s.append(reinterpret_cast<const char*>(d->args.constants.data()), d->args.constants.size());
    } else if (auto* c = std::get_if<CopyCmd>(&cmds[i])) {
      s += 'C';
      put(s, c->src.device_address() + c->src_offset);
      put(s, c->dst.device_address() + c->dst_offset);
      put(s, c->bytes);
    }
  }
  return s;
}

}  // namespace

void CudaQueue::enable_graph(const std::string& label) {
  std::lock_guard lock(graph_mutex_);
  graph_labels_.insert(label);
}

GraphStats CudaQueue::graph_stats() const {
  std::lock_guard lock(graph_mutex_);
  return graph_stats_;
}

void CudaQueue::encode_graph_segment(Inflight& rec, std::size_t begin, std::size_t end, std::size_t segment) {
  const auto& cmds = rec.cb->commands;
  const std::string sig = signature(cmds, begin, end);
  std::lock_guard lock(graph_mutex_);  // submit_mutex_ is held too: one encoder per queue
  auto& segs = graphs_[rec.cb->label];
  if (segs.size() <= segment) segs.resize(segment + 1);
  Segment& seg = segs[segment];
  if (seg.exec && seg.signature == sig) {
    UT_CUDA_CHECK(cudaGraphLaunch(seg.exec.get(), stream_.get()));
    ++graph_stats_.replays;
    for (std::size_t i = begin; i < end; ++i)
      if (auto* d = std::get_if<DispatchCmd>(&cmds[i])) rec.kernels.push_back(d->kernel);
    return;
  }
  // Validate outside the capture (pointer queries are not stream work).
  for (std::size_t i = begin; i < end; ++i) {
    if (std::holds_alternative<DispatchCmd>(cmds[i])) check_dispatch_buffers(std::get<DispatchCmd>(cmds[i]));
  }
  seg.exec.reset();
  UT_CUDA_CHECK(cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeThreadLocal));
  try {
    for (std::size_t i = begin; i < end; ++i) {
      if (std::holds_alternative<DispatchCmd>(cmds[i])) {
        encode_dispatch(rec, i, false);
      } else {
        encode_copy(std::get<CopyCmd>(cmds[i]));
      }
    }
  } catch (...) {
    cudaGraph_t g = nullptr;
    (void)cudaStreamEndCapture(stream_.get(), &g);  // leave capture mode so the stream stays usable
    if (g != nullptr) (void)cudaGraphDestroy(g);
    (void)cudaGetLastError();
    throw;
  }
  cudaGraph_t g = nullptr;
  UT_CUDA_CHECK(cudaStreamEndCapture(stream_.get(), &g));
  GraphHandle graph(g);
  cudaGraphExec_t exec = nullptr;
  UT_CUDA_CHECK(cudaGraphInstantiate(&exec, graph.get(), 0));
  seg.exec.reset(exec);
  seg.signature = sig;
  ++graph_stats_.captures;
  UT_CUDA_CHECK(cudaGraphLaunch(seg.exec.get(), stream_.get()));
}

}  // namespace ut::cuda::detail
