// GpuBase: op-graph replay shared by all GPU models (see gpu_base.h).
#include "models/gpu/gpu_base.h"

#include <fmt/format.h>

#include <algorithm>

#include "sim/errors.h"

namespace mlasim {

GpuBase::GpuBase(const ModuleEnv& env)
    : NetworkNode(env.module_name, env.ctx),
      rank_(env.index),
      memory_(env.memory),
      comm_(
          env.index, env.ctx.seed,
          [this](Message m, std::function<void()> on_sent) {
            m.injected = sim_now();
            inject(std::move(m), std::move(on_sent));
          },
          [this](uint32_t op) { complete(op); }) {
  if (!memory_) throw std::logic_error("GpuBase needs a memory model");
  stats().counter("busy_time", &busy_ps_, "ps", "time the compute engine was running an op");
  stats().counter("ops_completed", &completed_, "count", "ops of the op graph completed");
  stats().counter("flops", &flops_, "FLOP", "floating-point operations executed");
  stats().counter("bytes_received", &bytes_received_, "B", "message bytes received for this GPU");
  stats().counter("messages_forwarded", &messages_forwarded_, "count",
                  "messages for other GPUs passed on (cross-plane forwarding)");
  stats().formula(
      "finish_time", [this] { return static_cast<double>(finish_time_.ps()); }, "ps",
      "time the last op of this GPU finished");
  stats().attach(&memory_->stats());
}

void GpuBase::load_program(RankProgram program) {
  program_ = std::move(program);
  const size_t n = program_.ops.size();
  waiting_deps_.assign(n, 0);
  successors_.assign(n, {});
  started_.assign(n, Time{});
  began_.assign(n, false);
  done_.assign(n, false);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t d : program_.ops[i].deps) {
      ++waiting_deps_[i];
      successors_[d].push_back(static_cast<uint32_t>(i));
    }
  }
}

void GpuBase::start() {
  for (size_t i = 0; i < program_.ops.size(); ++i) {
    if (waiting_deps_[i] == 0) make_ready(static_cast<uint32_t>(i));
  }
}

void GpuBase::make_ready(uint32_t id) {
  const Op& op = program_.ops[id];
  started_[id] = sim_now();
  if (is_compute(op.payload) || CommOps::handles(op.payload)) {
    stream_queue_[op.stream].push_back(id);
    try_start_stream(op.stream);
  } else if (const auto* s = std::get_if<SendOp>(&op.payload)) {
    began_[id] = true;
    Message m;
    m.id = (static_cast<uint64_t>(rank_) << 40) | next_message_id_++;
    m.src = rank_;
    m.dst = s->peer;
    m.tag = s->tag;
    m.bytes = s->bytes;
    m.vl = s->vl;
    m.injected = sim_now();
    m.flow_hash = (static_cast<uint64_t>(rank_) * 0x9E3779B97F4A7C15ULL) ^
                  (static_cast<uint64_t>(s->peer) << 20) ^ static_cast<uint64_t>(s->tag) ^
                  ctx().seed * 0xBF58476D1CE4E5B9ULL;
    // The op is done once its bytes have left the GPU (the last byte's serialisation end).
    inject(std::move(m), [this, id] { complete(id); });
  } else if (const auto* r = std::get_if<RecvOp>(&op.payload)) {
    began_[id] = true;
    auto key = std::make_tuple(r->peer, r->tag);
    auto early = early_messages_.find(key);
    if (early != early_messages_.end() && !early->second.empty()) {
      early->second.pop_front();
      complete(id);
    } else {
      posted_recvs_[key].push_back(id);
    }
  }
}

void GpuBase::try_start_stream(int32_t stream) {
  if (stream_running_.count(stream) != 0) return;
  auto& q = stream_queue_[stream];
  if (q.empty()) return;
  const uint32_t id = q.front();
  q.pop_front();
  stream_running_[stream] = id;
  const Time begin = sim_now();
  started_[id] = begin;
  began_[id] = true;
  if (!is_compute(program_.ops[id].payload)) {
    // A collective holds its stream until it completes (complete() frees it).
    comm_.start(id, program_.ops[id].payload);
    return;
  }
  ++computing_;
  start_compute(program_.ops[id], [this, id, stream, begin] {
    --computing_;
    busy_ps_ += static_cast<uint64_t>((sim_now() - begin).ps());
    flops_ += static_cast<uint64_t>(op_flops(program_.ops[id].payload));
    stream_running_.erase(stream);
    complete(id);
    try_start_stream(stream);
  });
}

void GpuBase::complete(uint32_t id) {
  const Op& op = program_.ops[id];
  const bool compute = is_compute(op.payload);
  timeline_.push_back(TimelineEvent{id, compute ? 0 : 1, started_[id], sim_now()});
  done_[id] = true;
  ++completed_;
  finish_time_ = sim_now();
  const bool frees_stream = CommOps::handles(op.payload);
  if (frees_stream) stream_running_.erase(op.stream);
  for (uint32_t s : successors_[id]) {
    if (--waiting_deps_[s] == 0) make_ready(s);
  }
  if (frees_stream) try_start_stream(op.stream);
}

void GpuBase::receive(Message msg, int /*in_port*/) {
  if (msg.dst != rank_) {
    ++messages_forwarded_;
    const int port = route(msg);
    send(std::move(msg), port);
    return;
  }
  deliver_local(msg);
}

void GpuBase::deliver_local(const Message& msg) {
  bytes_received_ += msg.bytes_for_dst();  // a relay's other parts are counted where they go
  if (msg.kind != MessageKind::PointToPoint) {
    comm_.on_message(msg);
    return;
  }
  auto key = std::make_tuple(msg.src, msg.tag);
  auto posted = posted_recvs_.find(key);
  if (posted != posted_recvs_.end() && !posted->second.empty()) {
    const uint32_t id = posted->second.front();
    posted->second.pop_front();
    complete(id);
  } else {
    early_messages_[key].push_back(msg);
  }
}

std::optional<uint32_t> GpuBase::stream_ahead(uint32_t id) const {
  if (done_[id] || began_[id] || waiting_deps_[id] > 0) return std::nullopt;
  const int32_t stream = program_.ops[id].stream;
  const auto q = stream_queue_.find(stream);
  if (q == stream_queue_.end()) return std::nullopt;
  const auto it = std::find(q->second.begin(), q->second.end(), id);
  if (it == q->second.end()) return std::nullopt;
  if (it != q->second.begin()) return *(it - 1);
  const auto running = stream_running_.find(stream);
  if (running == stream_running_.end()) return std::nullopt;
  return running->second;
}

std::vector<std::string> GpuBase::describe_pending() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < program_.ops.size(); ++i) {
    if (done_[i]) continue;
    const Op& op = program_.ops[i];
    std::string what;
    if (waiting_deps_[i] > 0) {
      what = fmt::format("waits on {} unfinished dependencies", waiting_deps_[i]);
    } else if (const auto* r = std::get_if<RecvOp>(&op.payload)) {
      what = fmt::format("waits for a message from GPU {} with tag {}", r->peer, r->tag);
    } else if (const auto ahead = stream_ahead(static_cast<uint32_t>(i))) {
      what = fmt::format("waits for its stream {}: op {} '{}' runs or is queued ahead of it",
                         op.stream, *ahead, program_.ops[*ahead].name);
    } else if (std::string c = comm_.describe(static_cast<uint32_t>(i), op.payload); !c.empty()) {
      what = "waits: " + c;
    } else {
      what = "started but not finished";
    }
    out.push_back(
        fmt::format("{}: op {} '{}' ({}) {}", name(), i, op.name, op_kind_name(op.payload), what));
  }
  return out;
}

}  // namespace mlasim
