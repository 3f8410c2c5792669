// Synthetic network traffic (`workload: {type: network_traffic}`): the op graphs the network
// scenarios and tests run, with no compute.
//   p2p          `src` sends `count` messages of each size in `sizes` to `dst`, back to back;
//                between sizes `dst` returns an 8 B ack and `src` waits for it, so sizes do
//                not overlap (latency: count 1, FCT = one-way latency; bandwidth: count > 1);
//                after the last size nothing comes back, so one size sends only its messages.
//   incast       `senders` GPUs (0: all others) each send `count` messages of `bytes` to `dst`.
//   permutation  GPU r sends `bytes` to GPU (r + shift) mod n; shift 0: a random single-cycle
//                permutation drawn with `seed`.
//   all_to_all   every GPU sends `bytes` to every other, `iterations` times one after the
//                other; as one all_to_all op per GPU (`op: collective`, optionally DeepEP
//                forwarding) or as send/recv pairs (`op: send`).
//   ring         one ring collective (`collective`) over all GPUs with a `bytes` buffer.
// It lives with the network models because it exercises them; it only builds op graphs.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/params.h"
#include "workloads/workload_generator.h"

namespace mlasim {

enum class TrafficPattern : uint8_t { P2p, Incast, Permutation, AllToAll, Ring };
enum class TrafficOps : uint8_t { Collective, Send };

template <>
struct EnumNames<TrafficPattern> {
  static constexpr std::array<std::pair<TrafficPattern, std::string_view>, 5> values{
      {{TrafficPattern::P2p, "p2p"},
       {TrafficPattern::Incast, "incast"},
       {TrafficPattern::Permutation, "permutation"},
       {TrafficPattern::AllToAll, "all_to_all"},
       {TrafficPattern::Ring, "ring"}}};
};

template <>
struct EnumNames<TrafficOps> {
  static constexpr std::array<std::pair<TrafficOps, std::string_view>, 2> values{
      {{TrafficOps::Collective, "collective"}, {TrafficOps::Send, "send"}}};
};

// Limits that keep a pattern's op graph buildable in a few seconds: messages per size or sender
// and all_to_all rounds, and the ops (sends and receives, collectives) of the whole pattern
// (about 300 B each).
inline constexpr int32_t kMaxTrafficRepeats = int32_t{1} << 20;
inline constexpr uint64_t kMaxTrafficOps = uint64_t{1} << 21;

struct NetworkTrafficParams {
  TrafficPattern pattern = TrafficPattern::AllToAll;
  Bytes bytes = Bytes::parse("64KiB");
  std::vector<Bytes> sizes;
  int32_t count = 1;
  int32_t src = 0;
  int32_t dst = 1;
  int32_t senders = 0;
  int32_t shift = 0;
  uint64_t seed = 1;
  int32_t iterations = 1;
  TrafficOps op = TrafficOps::Collective;
  bool nvlink_forwarding = false;
  CommIssuer issuer = CommIssuer::Sm;
  RingCollective collective = RingCollective::AllReduce;
  uint32_t vl = 0;

  template <class V>
  void visit(V& v) {
    v("pattern", pattern, "-", "p2p, incast, permutation, all_to_all or ring");
    v("bytes", bytes, "B", "message size (all_to_all: per ordered pair; ring: whole buffer)");
    v("sizes", sizes, "B", "p2p: message sizes, sent one size after the other (empty: [bytes])");
    v("count", count, "count",
      "p2p: messages per size; incast: messages per sender (at most 2^20; the pattern at most "
      "2^21 ops)");
    v("src", src, "-", "p2p: sending GPU");
    v("dst", dst, "-", "p2p and incast: receiving GPU");
    v("senders", senders, "count", "incast: senders, the GPUs after dst (0: every other GPU)");
    v("shift", shift, "-", "permutation: GPU r sends to r + shift (0: random single cycle)");
    v("seed", seed, "-", "permutation: seed of the random permutation");
    v("iterations", iterations, "count",
      "all_to_all: rounds, each after the previous one (at most 2^20; the pattern at most 2^21 "
      "ops)");
    v("op", op, "-", "all_to_all as one all_to_all op per GPU (collective) or send/recv pairs");
    v("nvlink_forwarding", nvlink_forwarding, "-",
      "all_to_all collective: data for another node goes to the same-index GPU there, which "
      "forwards it over NVLink (DeepEP)");
    v("issuer", issuer, "-", "collectives: SMs issue the transfers (sm) or the NIC alone (nic)");
    v("collective", collective, "-", "ring: all_gather, reduce_scatter or all_reduce");
    v("vl", vl, "-",
      "virtual lane (traffic class) of every message, 0..14; packet level puts it on lane vl mod "
      "network.vls");
  }
  void validate(const ParamCheck& c) const {
    c.require(count >= 1 && count <= kMaxTrafficRepeats, "count",
              "must be between 1 and 1048576 (2^20)");
    c.require(iterations >= 1 && iterations <= kMaxTrafficRepeats, "iterations",
              "must be between 1 and 1048576 (2^20)");
    c.require(senders >= 0, "senders", "must be >= 0");
    c.require(vl <= kMaxVl, "vl", kVlRange);
    // Settings another pattern reads would be silently ignored. Compared with the defaults
    // rather than with the keys a file names, so that a resolved config (every key listed)
    // still loads.
    const NetworkTrafficParams d;
    const std::string_view name = enum_name(pattern);
    auto only = [&](bool used, bool is_default, std::string_view key, std::string_view where) {
      if (!used && !is_default)
        c.fail(key, fmt::format("applies to {} only (this pattern is {})", where, name));
    };
    const bool p2p = pattern == TrafficPattern::P2p, incast = pattern == TrafficPattern::Incast;
    const bool a2a = pattern == TrafficPattern::AllToAll, ring = pattern == TrafficPattern::Ring;
    const bool perm = pattern == TrafficPattern::Permutation;
    const bool a2a_collective = a2a && op == TrafficOps::Collective;
    c.require(!p2p || sizes.empty() || bytes == d.bytes, "bytes",
              "p2p sends the sizes listed in `sizes`; bytes is read only when sizes is empty");
    only(p2p, sizes.empty(), "sizes", "the p2p pattern");
    only(p2p || incast, count == d.count, "count", "the p2p and incast patterns");
    only(p2p, src == d.src, "src", "the p2p pattern");
    only(p2p || incast, dst == d.dst, "dst", "the p2p and incast patterns");
    only(incast, senders == d.senders, "senders", "the incast pattern");
    only(perm, shift == d.shift, "shift", "the permutation pattern");
    only(perm, seed == d.seed, "seed", "the permutation pattern");
    c.require(!perm || shift == 0 || seed == d.seed, "seed",
              "draws the random permutation of shift 0; a shift other than 0 is a fixed one");
    only(a2a, iterations == d.iterations, "iterations", "the all_to_all pattern");
    only(a2a, op == d.op, "op", "the all_to_all pattern");
    only(a2a_collective, nvlink_forwarding == d.nvlink_forwarding, "nvlink_forwarding",
         "the all_to_all pattern with op collective");
    only(a2a_collective || ring, issuer == d.issuer, "issuer",
         "the ring pattern and the all_to_all pattern with op collective");
    only(ring, collective == d.collective, "collective", "the ring pattern");
  }
};

class NetworkTraffic : public WorkloadGenerator {
 public:
  explicit NetworkTraffic(const NetworkTrafficParams& params) : params_(params) {}
  Workload generate(const ClusterShape& cluster) const override;

 private:
  NetworkTrafficParams params_;
};

}  // namespace mlasim
