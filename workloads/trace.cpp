// Trace JSON reading and writing, generated from each op payload's visit() (see trace.h).
#include "workloads/trace.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>
#include <type_traits>
#include <vector>

#include "sim/errors.h"
#include "sim/input_file.h"
#include "sim/json_errors.h"
#include "workloads/inference_report.h"
#include "workloads/routing_loads.h"

namespace mlasim {

namespace {

using Json = nlohmann::json;

class FieldWriter {
 public:
  explicit FieldWriter(nlohmann::ordered_json& out) : out_(out) {}
  // Optional fields are left out while empty, so traces that do not use them stay as before.
  template <class T>
  void operator()(std::string_view key, const T& field, OptionalField) {
    if constexpr (requires { field.empty(); }) {
      if (!field.empty()) (*this)(key, field);
    } else {
      if (field != T{}) (*this)(key, field);
    }
  }
  template <class T>
  void operator()(std::string_view key, const T& field) {
    if constexpr (std::same_as<T, Bytes>) {
      out_[std::string(key)] = field.count();
    } else if constexpr (std::same_as<T, A2ARowField>) {
      out_[std::string(key)] =
          field.send ? field.op->dense_send_bytes() : field.op->dense_recv_bytes();
    } else if constexpr (std::same_as<T, A2ARelayRowField>) {
      out_[std::string(key)] = field.op->dense_relay_send_bytes();
    } else if constexpr (NamedEnum<T>) {
      out_[std::string(key)] = std::string(enum_name(field));
    } else {
      out_[std::string(key)] = field;
    }
  }

 private:
  nlohmann::ordered_json& out_;
};

class FieldReader {
 public:
  // `minor`: the minor schema version the trace declares; `rank`: the rank whose op this is
  // (named in the messages about all_to_all matrix cells).
  FieldReader(const Json& op, std::string where, int minor, size_t rank = 0)
      : op_(op), where_(std::move(where)), minor_(minor), rank_(rank) {}
  template <class T>
  void operator()(std::string_view key, T& field, OptionalField added) {
    if (op_.contains(std::string(key))) {
      if (minor_ < added.since_minor) {
        fail(key, fmt::format("added in trace minor version {}, but the trace declares minor {} "
                              "(set \"minor\": {} or later)",
                              added.since_minor, minor_, added.since_minor));
      }
      (*this)(key, field);
    } else {
      known_.insert(std::string(key));
    }
  }
  template <class T>
  void operator()(std::string_view key, T& field) {
    known_.insert(std::string(key));
    auto it = op_.find(std::string(key));
    if (it == op_.end()) fail(key, "missing field");
    const Json& v = *it;
    if constexpr (std::same_as<T, bool>) {
      if (!v.is_boolean()) fail(key, "expected true or false");
      field = v.get<bool>();
    } else if constexpr (std::same_as<T, Bytes>) {
      if (v.is_number_unsigned()) {
        field = Bytes(v.get<uint64_t>());
      } else if (v.is_string()) {
        try {
          field = Bytes::parse(v.get<std::string>());
        } catch (const UnitError& e) {
          fail(key, e.what());
        }
      } else {
        fail(key,
             "expected a byte count (an integer >= 0 or a size like \"4KiB\"), got " + v.dump());
      }
    } else if constexpr (NamedEnum<T>) {
      if (!v.is_string()) fail(key, "expected one of: " + enum_choices<T>());
      for (const auto& [value, name] : EnumNames<T>::values) {
        if (name == v.get<std::string>()) {
          field = value;
          return;
        }
      }
      fail(key, fmt::format("'{}' is not one of: {}", v.get<std::string>(), enum_choices<T>()));
    } else if constexpr (std::is_integral_v<T>) {
      if (!v.is_number_integer()) fail(key, "expected an integer");
      if constexpr (std::is_unsigned_v<T>) {
        if (!v.is_number_unsigned()) fail(key, "expected a non-negative integer");
        if (v.get<uint64_t>() > std::numeric_limits<T>::max()) fail(key, "out of range");
        field = static_cast<T>(v.get<uint64_t>());
      } else {
        if (v.is_number_unsigned() &&
            v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          fail(key, "out of range");
        }
        const int64_t x = v.get<int64_t>();
        if (x < std::numeric_limits<T>::min() || x > std::numeric_limits<T>::max()) {
          fail(key, "out of range");
        }
        field = static_cast<T>(x);
      }
    } else if constexpr (std::same_as<T, A2ARowField> || std::same_as<T, A2ARelayRowField>) {
      // An all_to_all byte row: kept here until the collective's shared matrix is built.
      if (!v.is_array()) fail(key, "expected a list of integers");
      bool send = true;
      if constexpr (std::same_as<T, A2ARowField>) send = field.send;
      std::vector<uint64_t>& row = std::same_as<T, A2ARelayRowField> ? relay_row_
                                   : send                            ? send_row_
                                                                     : recv_row_;
      if constexpr (std::same_as<T, A2ARelayRowField>) has_relay_row_ = true;
      row.clear();
      for (const auto& x : v) {
        if (!x.is_number_unsigned()) fail(key, "expected a list of non-negative integers");
        // Each cell within the op byte limit, the receiver's own entry too (it is not compared
        // with the senders' rows); row and column sums are checked with the op sizes.
        const uint64_t bytes = x.get<uint64_t>();
        if (bytes > kMaxOpBytes) {
          const size_t other = row.size();
          fail(key, fmt::format("entry {} = {} B (row {}, column {} of the matrix) exceeds the "
                                "limit of 2^48 bytes",
                                other, bytes, send ? rank_ : other, send ? other : rank_));
        }
        row.push_back(bytes);
      }
    } else if constexpr (requires { typename T::value_type; } && !std::is_same_v<T, std::string>) {
      // Lists of integers (grouped GEMM rows) or of finite numbers >= 0 (per-layer figures).
      using Item = typename T::value_type;
      if (!v.is_array()) fail(key, "expected a list of numbers");
      field.clear();
      for (const auto& x : v) {
        if constexpr (std::is_floating_point_v<Item>) {
          if (!x.is_number() || !std::isfinite(x.get<double>()) || x.get<double>() < 0) {
            fail(key, "expected a list of finite numbers >= 0");
          }
          field.push_back(x.get<Item>());
        } else {
          if (!x.is_number_unsigned() || x.get<uint64_t>() > std::numeric_limits<Item>::max()) {
            fail(key, "expected a list of non-negative integers");
          }
          field.push_back(static_cast<Item>(x.get<uint64_t>()));
        }
      }
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!v.is_number()) fail(key, "expected a number");
      field = v.get<T>();
    } else {
      static_assert(std::is_same_v<T, std::string>, "unsupported trace field type");
      if (!v.is_string()) fail(key, "expected a string");
      field = v.get<std::string>();
    }
  }
  const std::set<std::string>& known() const { return known_; }
  const std::vector<uint64_t>& send_row() const { return send_row_; }
  const std::vector<uint64_t>& recv_row() const { return recv_row_; }
  // The op's `relay_bytes` row, or null when it has none.
  const std::vector<uint64_t>* relay_row() const { return has_relay_row_ ? &relay_row_ : nullptr; }
  [[noreturn]] void fail(std::string_view key, std::string_view msg) const {
    throw InputError(fmt::format("{}, field '{}': {}", where_, key, msg));
  }

 private:
  const Json& op_;
  std::string where_;
  int minor_;
  size_t rank_;
  std::set<std::string> known_;
  std::vector<uint64_t> send_row_, recv_row_, relay_row_;
  bool has_relay_row_ = false;
};

// The all_to_all ops of one tag as a trace lists them: each rank's send row goes into the
// shared matrix; its receive row must match that matrix's column.
struct A2ACollector {
  struct Member {
    size_t op;                                        // index in the rank's ops
    std::vector<std::pair<uint32_t, uint64_t>> recv;  // non-zero entries from other ranks
    bool relay = false;                               // it gave relay_bytes
  };
  std::unique_ptr<A2AMatrix::Builder> sends;
  std::unique_ptr<A2AMatrix::Builder> relays;        // the ranks' relay_bytes rows, if any
  std::vector<std::pair<uint32_t, Member>> members;  // by rank
};

// Builds each tag's shared matrix and checks every receive row against it; the first mismatch
// (in order of sender, then receiver) is reported as validate_workload() would.
void finish_all_to_alls(std::map<int32_t, A2ACollector>& collectors, Workload& w) {
  const auto ranks = static_cast<uint32_t>(w.ranks.size());
  for (auto& [tag, c] : collectors) {
    const std::shared_ptr<const A2AMatrix> m = c.sends->build();
    c.sends.reset();
    std::vector<const A2ACollector::Member*> of_rank(ranks, nullptr);
    for (const auto& [r, member] : c.members)
      of_rank[r] = &member;
    // Smallest (sender, receiver) whose counts disagree.
    std::optional<std::tuple<uint32_t, uint32_t, uint64_t, uint64_t>> worst;
    auto note = [&](uint32_t a, uint32_t b, uint64_t sent, uint64_t expected) {
      if (a == b || sent == expected) return;
      if (!worst || std::pair(a, b) < std::pair(std::get<0>(*worst), std::get<1>(*worst)))
        worst = std::tuple(a, b, sent, expected);
    };
    for (uint32_t b = 0; b < ranks; ++b) {
      const A2ACollector::Member* member = of_rank[b];
      // Compare column b of the matrix (zero for senders without the op) with b's receive row.
      std::map<uint32_t, uint64_t> sent;
      m->for_each_in_col(b, [&](uint32_t a, uint64_t v) {
        if (of_rank[a]) sent[a] = v;
      });
      std::map<uint32_t, uint64_t> expected;
      if (member) {
        for (const auto& [a, v] : member->recv)
          expected[a] = v;
      }
      for (const auto& [a, v] : sent)
        note(a, b, v, expected.count(a) ? expected[a] : 0);
      for (const auto& [a, v] : expected)
        note(a, b, sent.count(a) ? sent[a] : 0, v);
    }
    if (worst) {
      const auto& [a, b, sent, expected] = *worst;
      auto side = [&](uint32_t r, std::string_view field) {
        if (!of_rank[r]) return fmt::format("rank {} (no all_to_all with this tag)", r);
        const size_t i = of_rank[r]->op;
        return fmt::format("rank {} op {} '{}' (field '{}')", r, i, w.ranks[r].ops[i].name, field);
      };
      throw InputError(
          fmt::format("all_to_all tag {}: {} sends {} B to rank {}, but {} expects {} B", tag,
                      side(a, "send_bytes"), sent, b, side(b, "recv_bytes"), expected));
    }
    // The relay rows, where ops of the tag give them, form the tag's relay matrix: the ops
    // without one read zeros there (validate_workload checks each against its parts).
    if (c.relays) {
      // All or none: a rank without the row would read zeros and wait, or send, wrongly.
      // (A plain loop: Clang before 16 cannot capture the structured binding `c`.)
      const std::pair<uint32_t, A2ACollector::Member>* with = nullptr;
      const std::pair<uint32_t, A2ACollector::Member>* without = nullptr;
      for (const auto& member : c.members) {
        auto& first = member.second.relay ? with : without;
        if (first == nullptr) first = &member;
      }
      if (without != nullptr) {
        const uint32_t a = with->first, b = without->first;
        const size_t ia = with->second.op, ib = without->second.op;
        throw InputError(fmt::format(
            "all_to_all tag {}: rank {} op {} '{}' gives relay_bytes but rank {} op {} '{}' does "
            "not (every rank of a collective gives them, or none)",
            tag, a, ia, w.ranks[a].ops[ia].name, b, ib, w.ranks[b].ops[ib].name));
      }
    }
    const std::shared_ptr<const A2AMatrix> relay = c.relays ? c.relays->build() : nullptr;
    for (auto& [r, member] : c.members) {
      auto& op = std::get<AllToAllOp>(w.ranks[r].ops[member.op].payload);
      op.matrix = m;
      op.relay = relay;
    }
  }
}

// Builds the payload whose kind matches `kind` by trying each alternative of OpPayload.
template <size_t I = 0>
bool read_payload(std::string_view kind, FieldReader& r, OpPayload& out) {
  if constexpr (I < std::variant_size_v<OpPayload>) {
    using P = std::variant_alternative_t<I, OpPayload>;
    if (P::kind == kind) {
      P p{};
      p.visit(r);
      out = p;
      return true;
    }
    return read_payload<I + 1>(kind, r, out);
  }
  return false;
}

template <size_t I = 0>
std::string kind_list() {
  if constexpr (I < std::variant_size_v<OpPayload>) {
    std::string rest = kind_list<I + 1>();
    return std::string(std::variant_alternative_t<I, OpPayload>::kind) +
           (rest.empty() ? "" : ", ") + rest;
  }
  return "";
}

}  // namespace

nlohmann::ordered_json workload_to_json(const Workload& w, const nlohmann::ordered_json& metadata) {
  nlohmann::ordered_json ranks = nlohmann::ordered_json::array();
  for (size_t r = 0; r < w.ranks.size(); ++r) {
    nlohmann::ordered_json ops = nlohmann::ordered_json::array();
    for (const Op& op : w.ranks[r].ops) {
      nlohmann::ordered_json j;
      j["name"] = op.name;
      j["op"] = std::string(op_kind_name(op.payload));
      j["deps"] = op.deps;
      j["stream"] = op.stream;
      j["micro_batch"] = op.micro_batch;
      FieldWriter fw(j);
      std::visit([&](const auto& p) { const_cast<std::decay_t<decltype(p)>&>(p).visit(fw); },
                 op.payload);
      ops.push_back(std::move(j));
    }
    ranks.push_back({{"rank", r}, {"ops", std::move(ops)}});
  }
  nlohmann::ordered_json out{
      {"format", "mlasim-trace"}, {"version", kTraceVersion}, {"minor", kTraceMinorVersion}};
  if (!metadata.is_null()) out["metadata"] = metadata;
  out["ranks"] = std::move(ranks);
  return out;
}

nlohmann::ordered_json inference_trace_metadata(const InferenceFacts& facts) {
  nlohmann::ordered_json j{{"generator", "deepseek_inference"}};
  FieldWriter fw(j);
  InferenceFacts copy = facts;  // visit() takes its fields by reference, for reading too
  copy.visit(fw);
  return j;
}

namespace {

// Visits a record's fields: each unsigned integer must be at most 2^60 (lists are not visited
// here).
struct FiguresInRange {
  FieldReader& rd;
  template <class T, class... Since>
  void operator()(std::string_view key, const T& value, Since&&...) {
    if constexpr (std::is_same_v<T, uint64_t>) {
      if (value > (uint64_t{1} << 60)) rd.fail(key, "out of range (at most 2^60)");
    }
  }
};

}  // namespace

InferenceFacts inference_facts_from_metadata(const Json& metadata, const std::string& source,
                                             int minor) {
  const std::string where = source + ": metadata";
  if (!metadata.is_object()) throw InputError(where + ": expected a JSON object");
  FieldReader rd(metadata, where, minor);
  std::string generator;
  rd("generator", generator);
  if (generator != "deepseek_inference") {
    rd.fail("generator", fmt::format("'{}' is not one of: deepseek_inference", generator));
  }
  InferenceFacts f;
  f.visit(rd);
  for (const auto& [k, v] : metadata.items()) {
    if (!rd.known().count(k)) rd.fail(k, "unknown field");
  }
  // Values the report divides by or indexes with.
  if (!(std::isfinite(f.mtp_accepted_tokens_per_step) && f.mtp_accepted_tokens_per_step >= 1))
    rd.fail("mtp_accepted_tokens_per_step", "must be a finite number >= 1");
  if (f.model_layers < 1 || f.model_layers > static_cast<uint64_t>(kMaxModelLayers))
    rd.fail("model_layers", fmt::format("must be 1..{}", kMaxModelLayers));
  // Byte and token figures the report adds up and subtracts in 64-bit arithmetic: every
  // integer field (lists apart: prompts_done below, layer numbers after it).
  FiguresInRange range{rd};
  f.visit(range);
  if (f.phase != InferencePhase::Prefill && (f.prefill_passes != 0 || !f.prompts_done.empty()))
    rd.fail(f.prefill_passes != 0 ? "prefill_passes" : "prompts_done", "only for a prefill step");
  // Layer numbers as layers.csv has them: the model's, then its MTP modules' (one each).
  for (size_t i = 0; i < f.imbalance_layers.size(); ++i) {
    const uint64_t layer = f.imbalance_layers[i];
    if (layer >= f.model_layers + static_cast<uint64_t>(kMaxModelLayers) ||
        (i > 0 && layer <= f.imbalance_layers[i - 1])) {
      rd.fail("imbalance_layers",
              fmt::format("entry {} ({}): layer numbers must increase and be below model_layers "
                          "+ {} (the MTP modules follow the model's layers)",
                          i, layer, kMaxModelLayers));
    }
  }
  if (const auto [key, why] = router_fields_error(f); !key.empty()) rd.fail(key, why);
  if (const auto [key, why] = prompt_fields_error(f); !key.empty()) rd.fail(key, why);
  for (const auto& [key, value] : {std::pair{"expert_imbalance", f.expert_imbalance},
                                   {"expert_imbalance_max", f.expert_imbalance_max},
                                   {"gpu_imbalance", f.gpu_imbalance},
                                   {"gpu_imbalance_max", f.gpu_imbalance_max}}) {
    if (!(std::isfinite(value) && value >= 0)) rd.fail(key, "must be a finite number >= 0");
  }
  return f;
}

Workload workload_from_json(const Json& j, const std::string& source, Json* metadata,
                            int* minor_out) {
  auto bad = [&](const std::string& msg) { throw InputError(fmt::format("{}: {}", source, msg)); };
  if (!j.is_object()) bad("a trace must be a JSON object");
  // Typed lookups never throw nlohmann's type errors: a wrong type is bad input, not a crash.
  if (!j.contains("format") || !j["format"].is_string() ||
      j["format"].get<std::string>() != "mlasim-trace") {
    bad("'format' must be \"mlasim-trace\"");
  }
  if (!j.contains("version")) bad("missing 'version' (an integer)");
  if (!j["version"].is_number_integer()) {
    bad(fmt::format("'version' must be an integer, not {}", j["version"].dump()));
  }
  if (j["version"].dump() != std::to_string(kTraceVersion)) {
    bad(fmt::format("trace version {} is not supported (this build reads version {})",
                    j["version"].dump(), kTraceVersion));
  }
  int minor = 0;  // absent: minor 0
  if (j.contains("minor")) {
    const Json& m = j["minor"];
    if (!m.is_number_unsigned()) bad("'minor' must be a non-negative integer, got " + m.dump());
    if (m.get<uint64_t>() > kTraceMinorVersion) {
      bad(fmt::format("trace minor version {} is not supported (this build reads 0..{})", m.dump(),
                      kTraceMinorVersion));
    }
    minor = static_cast<int>(m.get<uint64_t>());
  }
  if (minor_out) *minor_out = minor;
  for (const auto& [k, v] : j.items()) {
    if (k != "format" && k != "version" && k != "minor" && k != "metadata" && k != "ranks") {
      bad(fmt::format("unknown key '{}'", k));
    }
  }
  if (j.contains("metadata")) {
    if (!j["metadata"].is_object()) bad("'metadata' must be a JSON object");
    if (minor < 1) {
      bad("'metadata' was added in trace minor version 1, but the trace declares minor 0 (set "
          "\"minor\": 1 or later)");
    }
    if (metadata) *metadata = j["metadata"];
  }
  if (!j.contains("ranks") || !j["ranks"].is_array()) bad("'ranks' must be a list");
  Workload w;
  std::map<int32_t, A2ACollector> all_to_alls;  // by tag
  const Json& ranks = j["ranks"];
  w.ranks.resize(ranks.size());
  for (size_t r = 0; r < ranks.size(); ++r) {
    const Json& rank = ranks[r];
    const std::string rwhere = fmt::format("{}: rank {}", source, r);
    if (!rank.is_object() || !rank.contains("ops") || !rank["ops"].is_array()) {
      throw InputError(rwhere + ": expected {\"rank\": N, \"ops\": [...]}");
    }
    if (!rank.contains("rank") || !rank["rank"].is_number_unsigned() ||
        rank["rank"].get<uint64_t>() != r) {
      throw InputError(rwhere + ": 'rank' must equal its position in 'ranks'");
    }
    for (const auto& [k, v] : rank.items()) {
      if (k != "rank" && k != "ops")
        throw InputError(fmt::format("{}: unknown key '{}'", rwhere, k));
    }
    const Json& ops = rank["ops"];
    for (size_t i = 0; i < ops.size(); ++i) {
      const Json& jo = ops[i];
      const bool named = jo.is_object() && jo.contains("name") && jo["name"].is_string();
      const std::string where =
          fmt::format("{}, op {} '{}'", rwhere, i, named ? jo["name"].get<std::string>() : "?");
      if (!jo.is_object()) throw InputError(where + ": an op must be a JSON object");
      Op op;
      std::string kind;
      FieldReader rd(jo, where, minor, r);
      rd("name", op.name);
      rd("op", kind);
      if (!jo.contains("deps") || !jo["deps"].is_array())
        rd.fail("deps", "expected a list of op indices");
      for (const auto& d : jo["deps"]) {
        if (!d.is_number_unsigned())
          rd.fail("deps", d.dump() + " is not an op index (a non-negative integer)");
        if (d.get<uint64_t>() >= ops.size()) {
          rd.fail("deps", fmt::format("dependency {} does not exist (this rank has ops 0..{})",
                                      d.dump(), ops.size() - 1));
        }
        op.deps.push_back(static_cast<uint32_t>(d.get<uint64_t>()));
      }
      if (jo.contains("stream")) rd("stream", op.stream);
      if (jo.contains("micro_batch")) rd("micro_batch", op.micro_batch);
      if (!read_payload(kind, rd, op.payload)) {
        rd.fail("op", fmt::format("unknown op kind '{}' (one of: {})", kind, kind_list()));
      }
      for (const auto& [k, v] : jo.items()) {
        if (k != "deps" && !rd.known().count(k)) rd.fail(k, "unknown field");
      }
      if (auto* a = std::get_if<AllToAllOp>(&op.payload)) {
        const std::string at = fmt::format("{}: rank {} op {} '{}'", source, r, i, op.name);
        if (rd.send_row().size() != ranks.size() || rd.recv_row().size() != ranks.size()) {
          throw InputError(fmt::format(
              "{}: all_to_all needs send_bytes and recv_bytes with {} entries", at, ranks.size()));
        }
        A2ACollector& c = all_to_alls[a->tag];
        if (!c.sends) {
          if (ranks.size() > A2AMatrix::kMaxRanks) {
            throw InputError(fmt::format("{}: an all_to_all over {} ranks exceeds the supported {}",
                                         at, ranks.size(), A2AMatrix::kMaxRanks));
          }
          c.sends = std::make_unique<A2AMatrix::Builder>(static_cast<uint32_t>(ranks.size()));
        }
        if (!c.members.empty() && c.members.back().first == r) {
          throw InputError(fmt::format("{}: a second all_to_all with tag {}", at, a->tag));
        }
        a->rank = static_cast<int32_t>(r);
        a->transposed = false;
        a->unit_bytes = 1;
        c.sends->add_row(static_cast<uint32_t>(r), rd.send_row());
        A2ACollector::Member m{i, {}, rd.relay_row() != nullptr};
        if (const std::vector<uint64_t>* relay_row = rd.relay_row()) {
          if (relay_row->size() != ranks.size()) {
            throw InputError(
                fmt::format("{}, field 'relay_bytes': needs {} entries", at, ranks.size()));
          }
          if (!c.relays) {
            c.relays = std::make_unique<A2AMatrix::Builder>(static_cast<uint32_t>(ranks.size()));
          }
          c.relays->add_row(static_cast<uint32_t>(r), *relay_row);
        }
        for (uint32_t from = 0; from < rd.recv_row().size(); ++from) {
          if (from != r && rd.recv_row()[from] != 0) m.recv.emplace_back(from, rd.recv_row()[from]);
        }
        c.members.emplace_back(static_cast<uint32_t>(r), std::move(m));
      }
      w.ranks[r].ops.push_back(std::move(op));
    }
  }
  try {
    finish_all_to_alls(all_to_alls, w);
    validate_workload(w);
  } catch (const InputError& e) {
    bad(e.what());
  }
  return w;
}

Workload read_trace_file(const std::filesystem::path& path, Json* metadata, int* minor,
                         const std::string& label) {
  const std::string name = label.empty() ? path.string() : label;
  // Where a relative path was resolved, say where it was looked for.
  const std::string looked = name == path.string() ? "" : " (" + path.string() + ")";
  if (std::filesystem::is_directory(path)) {
    throw InputError(fmt::format("{}: is a folder, not a trace file{}", name, looked));
  }
  if (const std::string why = non_regular_file_problem(path); !why.empty())
    throw InputError(fmt::format("{}: {}{}", name, why, looked));
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open trace file{}", name, looked));
  Json j;
  // A key written twice in one object would silently lose its first value: reject it.
  std::vector<std::set<std::string>> keys;
  std::string duplicate;
  const Json::parser_callback_t check_keys = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      keys.pop_back();
    } else if (event == Json::parse_event_t::key && !keys.empty() &&
               !keys.back().insert(parsed.get<std::string>()).second && duplicate.empty()) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  try {
    j = Json::parse(in, check_keys);
  } catch (const Json::exception& e) {  // syntax, or a number beyond the range of a double
    throw InputError(json_error_message(name, "invalid JSON", e));
  }
  if (!duplicate.empty()) {
    throw InputError(fmt::format("{}: key '{}' appears twice in one object", name, duplicate));
  }
  return workload_from_json(j, name, metadata, minor);
}

}  // namespace mlasim
