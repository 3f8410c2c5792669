// Common part of every GPU model: replays the rank's op graph. Ops start when their
// dependencies have finished. Compute ops and collectives of one stream run one at a time, in
// the order they became ready: compute on the timing model of the concrete GPU
// (start_compute), collectives through CommOps, each holding its stream until it completes.
// Point-to-point sends and receives are posted to the network port as soon as their
// dependencies are done and take no part in stream order (a send is a posted work request; a
// receive a posted buffer that completes when its message has fully arrived). Messages for other
// GPUs (cross-plane forwarding) are passed on. Records busy time, a timeline and, for the watchdog,
// what each unfinished op waits on.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "models/common/comm_ops.h"
#include "models/common/memory_model.h"
#include "models/common/module_env.h"
#include "models/common/network_node.h"
#include "workloads/op_graph.h"

namespace mlasim {

// One finished op (its name and kind are the program's: a step of a large cluster finishes
// hundreds of millions of ops, so none of their text is copied).
struct TimelineEvent {
  uint32_t op = 0;  // index in the GPU's program
  int thread = 0;   // 0 compute, 1 communication
  Time start, end;
};

class GpuBase : public NetworkNode {
 public:
  GpuBase(const ModuleEnv& env);

  int rank() const { return rank_; }
  void load_program(RankProgram program);
  const RankProgram& program() const { return program_; }
  void start();  // called once at time 0 after elaboration
  bool finished() const { return completed_ == program_.ops.size(); }
  uint64_t ops_completed() const { return completed_; }
  bool computing() const { return computing_ > 0; }  // a compute op is running
  Time finish_time() const { return finish_time_; }
  uint64_t busy_ps() const { return busy_ps_; }
  uint64_t bytes_received() const { return bytes_received_; }
  const std::vector<TimelineEvent>& timeline() const { return timeline_; }
  // One line per unfinished op, in op order: what it waits on.
  std::vector<std::string> describe_pending() const;
  bool op_done(size_t op) const { return done_[op]; }
  // The op has begun: computing, collective started, send injected or receive posted.
  bool op_started(size_t op) const { return began_[op]; }
  // For an op ready but queued on its stream: the op it waits for there (the one running, or
  // the one queued just ahead of it).
  std::optional<uint32_t> stream_ahead(uint32_t op) const;

  void receive(Message msg, int in_port) override;

 protected:
  // Runs a compute op on the concrete timing model and calls `done` when it finishes.
  virtual void start_compute(const Op& op, std::function<void()> done) = 0;
  MemoryModel& memory() { return *memory_; }

 private:
  void make_ready(uint32_t op);
  void try_start_stream(int32_t stream);
  void complete(uint32_t op);
  void deliver_local(const Message& msg);

  int rank_;
  MemoryModel* memory_;
  CommOps comm_;  // all-to-all and ring collectives
  RankProgram program_;
  std::vector<uint32_t> waiting_deps_;
  std::vector<std::vector<uint32_t>> successors_;
  std::vector<Time> started_;
  std::vector<bool> began_;
  std::vector<bool> done_;
  std::map<int32_t, std::deque<uint32_t>> stream_queue_;
  std::map<int32_t, uint32_t> stream_running_;  // stream -> the op holding it
  // Receives posted but not yet matched, and messages arrived before their receive was posted.
  std::map<std::tuple<int32_t, int32_t>, std::deque<uint32_t>> posted_recvs_;
  std::map<std::tuple<int32_t, int32_t>, std::deque<Message>> early_messages_;
  std::vector<TimelineEvent> timeline_;
  uint64_t completed_ = 0;
  uint32_t computing_ = 0;
  Time finish_time_;
  uint64_t busy_ps_ = 0;
  uint64_t flops_ = 0;
  uint64_t bytes_received_ = 0;
  uint64_t messages_forwarded_ = 0;
  uint64_t next_message_id_ = 0;
};

}  // namespace mlasim
