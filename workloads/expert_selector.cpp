// Expert selection for one token (see expert_selector.h).
#include "workloads/expert_selector.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>

#include "sim/errors.h"

namespace mlasim {

namespace {

constexpr float kNegInf = kNoScore;
// Up to this many groups are ranked by pairwise comparison instead of TopScores.
constexpr uint32_t kRankedGroups = 32;
// Up to this many candidates are ranked by pairwise comparison instead of TopScores.
constexpr uint32_t kRankedCandidates = 32;
// Up to this node limit M, classes below the M-th best class score are skipped before ranking.
constexpr uint32_t kPrefilteredNodes = 8;

// Four floats in one SIMD register (GCC/Clang vector extension, portable across targets).
using Float4 = float __attribute__((vector_size(16)));

inline Float4 load4(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The two largest of v[0..len) (b = -inf when len == 1). Branch-free, four or eight lanes at a
// time when len allows, because a compare-and-branch version mispredicts on random scores.
inline void top_two(const float* v, uint32_t len, float& a, float& b) {
  if (len % 8 != 0) {
    a = v[0];
    b = kNegInf;
    for (uint32_t j = 1; j < len; ++j) {
      b = std::max(b, std::min(a, v[j]));
      a = std::max(a, v[j]);
    }
    return;
  }
  Float4 a0 = load4(v), a1 = load4(v + 4);
  Float4 b0 = {kNegInf, kNegInf, kNegInf, kNegInf}, b1 = b0;
  for (uint32_t j = 8; j < len; j += 8) {
    const Float4 x0 = load4(v + j), x1 = load4(v + j + 4);
    b0 = b0 > (a0 < x0 ? a0 : x0) ? b0 : (a0 < x0 ? a0 : x0);
    a0 = a0 > x0 ? a0 : x0;
    b1 = b1 > (a1 < x1 ? a1 : x1) ? b1 : (a1 < x1 ? a1 : x1);
    a1 = a1 > x1 ? a1 : x1;
  }
  // Merge the two vectors lane-wise, then the four lanes.
  const Float4 hi = a0 > a1 ? a0 : a1, lo = a0 > a1 ? a1 : a0;
  Float4 second = b0 > b1 ? b0 : b1;
  second = second > lo ? second : lo;
  a = hi[0];
  b = second[0];
  for (int l = 1; l < 4; ++l) {
    b = std::max(std::max(b, second[l]), std::min(a, hi[l]));
    a = std::max(a, hi[l]);
  }
}

// The k-th largest value of `seeds` (reordered), or -inf when there are fewer than k. Seeds are
// scores of distinct experts known to be among a token's candidates, so no candidate below this
// value can be in its top k, and the scan for the top k skips almost everything without
// mispredicting. With `may_repeat` (a replicated expert seeded by two nodes) equal values are
// counted once.
inline float kth_largest(std::vector<float>& seeds, uint32_t k, bool may_repeat) {
  if (seeds.size() < k) return kNegInf;
  if (!may_repeat) {
    if (seeds.size() == k) return *std::min_element(seeds.begin(), seeds.end());
    std::nth_element(seeds.begin(), seeds.begin() + (k - 1), seeds.end(), std::greater<>());
    return seeds[k - 1];
  }
  std::sort(seeds.begin(), seeds.end(), std::greater<>());
  const auto end = std::unique(seeds.begin(), seeds.end());
  return static_cast<uint32_t>(end - seeds.begin()) < k ? kNegInf : seeds[k - 1];
}

}  // namespace

void TopScores::clear(float at_least) {
  size_ = 0;
  floor_ = std::nextafter(at_least, kNegInf);
}

ExpertSelector::ExpertSelector(const RouterConfig& cfg, const ExpertPlacement& pl)
    : k_(cfg.num_experts_per_tok),
      groups_(cfg.n_group),
      group_size_(cfg.n_routed_experts / cfg.n_group),
      nodes_(pl.num_nodes()),
      max_nodes_(cfg.max_nodes_per_token),
      per_node_(max_nodes_ ? (k_ + max_nodes_ - 1) / max_nodes_ : 1),
      top2_groups_(cfg.topk_method == TopkMethod::NoauxTc),
      use_groups_(cfg.topk_method != TopkMethod::Greedy && groups_ > 1 && cfg.topk_group < groups_),
      use_nodes_(max_nodes_ > 0 && max_nodes_ < nodes_),
      group_ok_(groups_, 1),
      top_groups_cap_(cfg.topk_group),
      masked_(cfg.n_routed_experts),
      node_class_(nodes_, 0),
      node_stamp_(nodes_, 0),
      expert_stamp_(cfg.n_routed_experts, 0),
      top_groups_(cfg.topk_group),
      top_classes_(use_nodes_ ? max_nodes_ : 1),
      all_nodes_(nodes_),
      top_(k_) {
  std::vector<uint32_t> nodes_of_expert(cfg.n_routed_experts, 0);
  std::map<std::vector<uint32_t>, uint32_t> class_of_set;
  std::vector<std::vector<uint32_t>> members;
  for (uint32_t node = 0; node < nodes_; ++node) {
    const auto experts = pl.experts_on_node(node);
    for (uint32_t e : experts)
      ++nodes_of_expert[e];
    const auto [it, added] =
        class_of_set.try_emplace(std::vector<uint32_t>(experts.begin(), experts.end()), classes_);
    node_class_[node] = it->second;
    if (!added) {
      members[it->second].push_back(node);
      continue;
    }
    members.push_back({node});
    ++classes_;
    class_run_begin_.push_back(static_cast<uint32_t>(runs_.size()));
    class_loose_begin_.push_back(static_cast<uint32_t>(loose_.size()));
    for (size_t i = 0; i < experts.size();) {
      size_t j = i + 1;
      while (j < experts.size() && experts[j] == experts[j - 1] + 1)
        ++j;
      if (j - i >= 8) {
        runs_.push_back({experts[i], experts[j - 1] + 1});
      } else {
        loose_.insert(loose_.end(), experts.begin() + i, experts.begin() + j);
      }
      i = j;
    }
  }
  class_run_begin_.push_back(static_cast<uint32_t>(runs_.size()));
  class_loose_begin_.push_back(static_cast<uint32_t>(loose_.size()));
  class_node_begin_.push_back(0);
  for (const auto& m : members) {
    class_nodes_.insert(class_nodes_.end(), m.begin(), m.end());
    class_node_begin_.push_back(static_cast<uint32_t>(class_nodes_.size()));
  }
  class_score_.resize(classes_);
  picked_.resize(std::max(max_nodes_, 1U));
  picked_score_.resize(picked_.size());
  // Candidates: at most every expert without node limit, every node's experts with it.
  size_t listable = cfg.n_routed_experts;
  if (use_nodes_) {
    size_t incidences = 0;
    for (uint32_t node = 0; node < nodes_; ++node)
      incidences += pl.experts_on_node(node).size();
    listable = std::max(listable, incidences);
  }
  cand_id_.resize(listable);
  cand_val_.resize(listable);
  ranked_.resize(size_t{k_} + 1);
  class_best_.resize(size_t{classes_} * per_node_);
  shared_across_nodes_ =
      std::any_of(nodes_of_expert.begin(), nodes_of_expert.end(), [](uint32_t c) { return c > 1; });
}

bool ExpertSelector::select(const float* sel, uint32_t* chosen) {
  seeds_.clear();
  listed_ = 0;
  if (use_groups_) choose_groups(sel);
  bool overflow = false;
  if (use_nodes_) {
    overflow = choose_nodes(use_groups_ ? masked_.data() : sel);
  } else {
    top_.clear(kth_largest(seeds_, k_, false));
    // As in admit: list the experts above the floor branch-free.
    const float floor = top_.floor();
    uint32_t* id = cand_id_.data();
    float* val = cand_val_.data();
    uint32_t n = 0;
    for (uint32_t g = 0; g < groups_; ++g) {
      if (!group_ok_[g]) continue;
      for (uint32_t e = g * group_size_; e < (g + 1) * group_size_; ++e) {
        id[n] = e;
        val[n] = sel[e];
        n += sel[e] > floor ? 1 : 0;
      }
    }
    listed_ = n;
  }
  take_best(chosen);
  return overflow;
}

// The k best listed candidates by (score, earlier listing first), as TopScores fed in listing
// order keeps them. A few candidates are ranked by branch-free pairwise counting.
void ExpertSelector::take_best(uint32_t* chosen) {
  const uint32_t n = listed_;
  const uint32_t* id = cand_id_.data();
  const float* val = cand_val_.data();
  if (n < k_) throw SimulationError("router: fewer allowed experts than num_experts_per_tok");
  if (n <= kRankedCandidates) {
    uint32_t* slot = ranked_.data();  // k_ + 1 entries, the last one a sink
    for (uint32_t i = 0; i < n; ++i) {
      uint32_t ahead = 0;
      for (uint32_t j = 0; j < i; ++j)
        ahead += val[j] >= val[i] ? 1 : 0;
      for (uint32_t j = i + 1; j < n; ++j)
        ahead += val[j] > val[i] ? 1 : 0;
      slot[std::min(ahead, k_)] = id[i];
    }
    std::copy(slot, slot + k_, chosen);
    return;
  }
  for (uint32_t i = 0; i < n; ++i)
    top_.push(val[i], id[i]);
  if (top_.size() < k_) {
    throw SimulationError("router: fewer allowed experts than num_experts_per_tok");
  }
  for (uint32_t j = 0; j < k_; ++j)
    chosen[j] = top_.id(j);
}

// Group score: sum of the two best scores (noaux_tc) or the best (group_limited_greedy).
// Leaves masked_ = sel with the experts of dropped groups at -inf, for the node stage.
void ExpertSelector::choose_groups(const float* sel) {
  group_a_.resize(groups_);
  group_b_.resize(groups_);
  group_score_.resize(groups_);
  for (uint32_t g = 0; g < groups_; ++g) {
    top_two(sel + size_t{g} * group_size_, group_size_, group_a_[g], group_b_[g]);
    group_score_[g] = top2_groups_ && group_size_ > 1 ? group_a_[g] + group_b_[g] : group_a_[g];
  }
  if (groups_ <= kRankedGroups) {
    // Branch-free: a group is kept when fewer than topk_group groups rank above it (a higher
    // score, or the same score and a lower id), as TopScores would keep it.
    const float* score = group_score_.data();
    for (uint32_t g = 0; g < groups_; ++g) {
      uint32_t ahead = 0;
      for (uint32_t h = 0; h < groups_; ++h)
        ahead += (score[h] > score[g]) | ((score[h] == score[g]) & (h < g));
      group_ok_[g] = (ahead < top_groups_cap_) & (score[g] > kNegInf);
    }
  } else {
    top_groups_.clear();
    for (uint32_t g = 0; g < groups_; ++g)
      top_groups_.push(group_score_[g], g);
    std::fill(group_ok_.begin(), group_ok_.end(), 0);
    for (uint32_t j = 0; j < top_groups_.size(); ++j)
      group_ok_[top_groups_.id(j)] = 1;
  }
  // Only their values matter (kth_largest), not their order.
  for (uint32_t g = 0; g < groups_; ++g) {
    if (!group_ok_[g]) continue;
    seeds_.push_back(group_a_[g]);
    if (group_size_ > 1) seeds_.push_back(group_b_[g]);
  }
  if (!use_nodes_) return;
  for (uint32_t g = 0; g < groups_; ++g) {
    float* out = masked_.data() + size_t{g} * group_size_;
    if (group_ok_[g]) {
      std::copy(sel + size_t{g} * group_size_, sel + size_t{g + 1} * group_size_, out);
    } else {
      std::fill(out, out + group_size_, kNegInf);
    }
  }
}

// Node score: sum of the ceil(k/M) best allowed scores on the node (masked: -inf = not allowed),
// computed once per class of nodes with the same experts.
void ExpertSelector::score_classes(const float* masked) {
  for (uint32_t c = 0; c < classes_; ++c) {
    float* best = class_best_.data() + size_t{c} * per_node_;
    const uint32_t* loose = loose_.data() + class_loose_begin_[c];
    const uint32_t loose_count = class_loose_begin_[c + 1] - class_loose_begin_[c];
    if (per_node_ <= 2) {
      float a = kNegInf, b = kNegInf;  // DeepSeek's case: k/M = 2
      for (uint32_t r = class_run_begin_[c]; r < class_run_begin_[c + 1]; ++r) {
        float ra, rb;
        top_two(masked + runs_[r].first, runs_[r].second - runs_[r].first, ra, rb);
        b = std::max(std::max(b, rb), std::min(a, ra));
        a = std::max(a, ra);
      }
      // Loose experts in two independent lanes, merged at the end.
      float a1 = kNegInf, b1 = kNegInf;
      uint32_t i = 0;
      for (; i + 1 < loose_count; i += 2) {
        const float v0 = masked[loose[i]], v1 = masked[loose[i + 1]];
        b = std::max(b, std::min(a, v0));
        a = std::max(a, v0);
        b1 = std::max(b1, std::min(a1, v1));
        a1 = std::max(a1, v1);
      }
      if (i < loose_count) {
        const float v = masked[loose[i]];
        b = std::max(b, std::min(a, v));
        a = std::max(a, v);
      }
      best[0] = std::max(a, a1);
      if (per_node_ == 2) best[1] = std::max(std::max(b, b1), std::min(a, a1));
    } else {
      std::fill(best, best + per_node_, kNegInf);
      auto insert = [&](float v) {  // branch-free insertion
        for (uint32_t j = 0; j < per_node_; ++j) {
          const float hi = std::max(best[j], v);
          v = std::min(best[j], v);
          best[j] = hi;
        }
      };
      for (uint32_t r = class_run_begin_[c]; r < class_run_begin_[c + 1]; ++r) {
        for (uint32_t e = runs_[r].first; e < runs_[r].second; ++e)
          insert(masked[e]);
      }
      for (uint32_t i = 0; i < loose_count; ++i)
        insert(masked[loose[i]]);
    }
    float sum = best[0];
    for (uint32_t j = 1; j < per_node_ && best[j] > kNegInf; ++j)
      sum += best[j];
    class_score_[c] = sum;
  }
}

// The M best nodes by (score, lower node first). A class outside the M best classes (ranked by
// score, then lowest node) cannot place a node there: the lowest nodes of those M classes all
// rank above every node of it. So only the M best classes' M lowest nodes are ranked.
bool ExpertSelector::choose_nodes(const float* masked) {
  ++stamp_;
  score_classes(masked);
  top_classes_.clear();
  if (classes_ > max_nodes_ && max_nodes_ <= kPrefilteredNodes) {
    // The M-th best class score (equal scores counted apart), by a branch-free insertion network:
    // a class below it cannot be among the M best, so only the few others are pushed.
    std::array<float, kPrefilteredNodes> best;
    std::fill(best.begin(), best.end(), kNegInf);
    for (uint32_t c = 0; c < classes_; ++c) {
      float v = class_score_[c];
      for (uint32_t j = 0; j < max_nodes_; ++j) {
        const float hi = std::max(best[j], v);
        v = std::min(best[j], v);
        best[j] = hi;
      }
    }
    const float at_least = best[max_nodes_ - 1];
    for (uint32_t c = 0; c < classes_; ++c) {
      if (class_score_[c] >= at_least) top_classes_.push(class_score_[c], c);
    }
  } else {
    for (uint32_t c = 0; c < classes_; ++c)
      top_classes_.push(class_score_[c], c);
  }
  // Classes arrive best first, so a node usually just appends; equal scores merge by node.
  uint32_t count = 0;
  for (uint32_t j = 0; j < top_classes_.size(); ++j) {
    const uint32_t c = top_classes_.id(j);
    const float v = class_score_[c];
    const uint32_t end = std::min(class_node_begin_[c + 1], class_node_begin_[c] + max_nodes_);
    for (uint32_t q = class_node_begin_[c]; q < end; ++q) {
      const uint32_t node = class_nodes_[q];
      uint32_t pos = count;
      while (pos > 0 && (picked_score_[pos - 1] < v ||
                         (picked_score_[pos - 1] == v && picked_[pos - 1] > node))) {
        --pos;
      }
      if (pos >= max_nodes_) break;  // the class's later nodes rank lower still
      count = std::min(count + 1, max_nodes_);
      for (uint32_t x = count - 1; x > pos; --x) {
        picked_[x] = picked_[x - 1];
        picked_score_[x] = picked_score_[x - 1];
      }
      picked_[pos] = node;
      picked_score_[pos] = v;
    }
  }
  seeds_.clear();
  for (uint32_t x = 0; x < count; ++x) {
    const float* best = class_best_.data() + size_t{node_class_[picked_[x]]} * per_node_;
    for (uint32_t q = 0; q < per_node_ && best[q] > kNegInf; ++q)
      seeds_.push_back(best[q]);
  }
  top_.clear(kth_largest(seeds_, k_, shared_across_nodes_));
  uint32_t candidates = 0;
  for (uint32_t x = 0; x < count; ++x)
    candidates += admit(picked_[x], masked);
  if (candidates >= k_) return false;
  // Rare: add further nodes in score order until k experts are allowed.
  all_nodes_.clear();
  for (uint32_t node = 0; node < nodes_; ++node)
    all_nodes_.push(class_score_[node_class_[node]], node);
  for (uint32_t j = count; j < all_nodes_.size() && candidates < k_; ++j) {
    candidates += admit(all_nodes_.id(j), masked);
  }
  return true;
}

// Lists the node's allowed experts above the seeded floor as candidates, branch-free, each
// expert once (at its first listing); returns how many allowed experts it adds. (Duplicates below
// the floor count again, which cannot change whether k are reached: the floor is finite only when
// the seeds already name k distinct allowed experts.)
uint32_t ExpertSelector::admit(uint32_t node, const float* masked) {
  node_stamp_[node] = stamp_;
  const float floor = top_.floor();
  uint32_t added = 0, n = listed_;
  uint32_t* id = cand_id_.data();
  float* val = cand_val_.data();
  auto scan = [&](uint32_t e) {
    const float v = masked[e];
    added += v > kNegInf ? 1 : 0;
    id[n] = e;
    val[n] = v;
    n += v > floor ? 1 : 0;
  };
  const uint32_t c = node_class_[node];
  for (uint32_t r = class_run_begin_[c]; r < class_run_begin_[c + 1]; ++r) {
    for (uint32_t e = runs_[r].first; e < runs_[r].second; ++e)
      scan(e);
  }
  for (uint32_t i = class_loose_begin_[c]; i < class_loose_begin_[c + 1]; ++i)
    scan(loose_[i]);
  if (shared_across_nodes_) {
    uint32_t kept = listed_;
    for (uint32_t i = listed_; i < n; ++i) {
      const uint32_t e = id[i];
      if (expert_stamp_[e] == stamp_) {  // already listed via another node
        --added;
        continue;
      }
      expert_stamp_[e] = stamp_;
      id[kept] = e;
      val[kept] = val[i];
      ++kept;
    }
    n = kept;
  }
  listed_ = n;
  return added;
}

}  // namespace mlasim
