// Address mapping of the HBM model: a physical address is cut into a burst offset and a
// mixed-radix number whose digits, from least to most significant, are the fields named by
// `controller.address_map` (stack, channel, pseudo-channel, SID, bank group, bank, row,
// column; the column may be split into several digits). Mixed radix rather than bit slicing
// lets the 5-stack H100 interleave over all 160 pseudo-channels.
//
// A Cursor walks, in increasing address order, the bursts of one address range that fall in
// one pseudo-channel, without visiting the others: the controller splits a 1 GiB request into
// 160 cursors instead of 33 million bursts.
//
// Leaves out: XOR bank hashing and any GPU-side physical address permutation.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "models/hbm/hbm_params.h"

namespace mlasim {

enum class HbmField : uint8_t { Stack, Channel, PseudoChannel, Sid, BankGroup, Bank, Row, Column };
inline constexpr int kHbmFields = 8;

class HbmAddressMap {
 public:
  static constexpr int kMaxLevels = 16;

  // Throws std::invalid_argument with a readable message for a malformed spec.
  HbmAddressMap(const HbmOrganisation& org, std::string_view spec);
  // Empty when `spec` is valid for `org`, else what is wrong.
  static std::string check(const HbmOrganisation& org, std::string_view spec);

  struct Location {
    uint32_t pc = 0;    // global pseudo-channel: (stack * channels + channel) * pcs + pc
    uint32_t bank = 0;  // within the pseudo-channel: (sid * bank_groups + bg) * banks + bank
    uint32_t row = 0;
    uint32_t column = 0;
  };
  Location locate(uint64_t burst_index) const;
  uint64_t bursts() const { return total_; }  // capacity in bursts
  // Bursts of an aligned run that stays in one pseudo-channel: the digits below the first PC
  // digit.
  uint64_t pc_chunk() const { return chunk_; }
  // The pseudo-channel of the k-th such run (the bursts from k x pc_chunk()): a table look-up
  // where the PC digits sit together right above the run's digits (then runs visit the PCs in
  // a cycle), else locate().
  uint32_t pc_of_chunk(uint64_t k) const {
    return chunk_pc_.empty() ? locate(k * chunk_).pc : chunk_pc_[k % chunk_pc_.size()];
  }
  uint32_t bank_group_of(uint32_t bank) const { return bank / banks_per_group_; }

  class Cursor {
   public:
    bool valid() const { return x_ < end_; }
    uint64_t index() const { return x_; }
    uint32_t bank() const { return bank_; }
    uint32_t row() const { return row_; }
    // Moves to the next burst of the range in the same pseudo-channel.
    void next();
    // Whole rounds of `n` bursts the cursor can skip at once with banks and rows repeating:
    // the lowest non-PC digits cycle through exactly n values and all stand at zero, and the
    // digits above them, up to the first that is not a column digit, count the rounds (a
    // column split around the PC digits counts as one). 0 when that is not so.
    uint64_t uniform_rounds(uint64_t n) const;
    // Cheap necessary condition for uniform_rounds() > 0: the lowest non-PC digit is zero.
    bool at_round_start() const { return digit_[map_->free_[0]] == 0; }
    // Skips `rounds` such rounds (rounds <= uniform_rounds(n), bursts left in the range).
    void skip_rounds(uint64_t n, uint64_t rounds);

   private:
    friend class HbmAddressMap;
    const HbmAddressMap* map_ = nullptr;
    uint64_t x_ = 0;
    uint64_t end_ = 0;
    std::array<uint32_t, kMaxLevels> digit_{};
    // The bank within the pseudo-channel and the row, kept as the digits move.
    uint32_t bank_ = 0;
    uint32_t row_ = 0;
  };
  // The first burst of [begin, end) in pseudo-channel `pc`; false when there is none.
  bool first_in_pc(uint64_t begin, uint64_t end, uint32_t pc, Cursor& out) const;
  // A cursor over [index, end) positioned at `index` (which must lie in the cursor's PC).
  Cursor cursor_at(uint64_t index, uint64_t end) const;
  // Number of bursts of [begin, end) that fall in pseudo-channel `pc`.
  uint64_t count_in_pc(uint64_t begin, uint64_t end, uint32_t pc) const {
    return count_below(end, pc) - count_below(begin, pc);
  }

 private:
  struct Level {
    HbmField field;
    uint32_t radix;
    uint64_t weight;        // value of one unit of this digit in bursts
    uint64_t field_weight;  // value of one unit of this digit within its field
    bool pc_level;          // stack, channel or pseudo-channel
    // What one unit of this digit adds to the cursor's bank index and row (0 for other fields).
    uint32_t bank_weight;
    uint32_t row_weight;
    int shift = -1;  // log2(radix) for a power of two, else -1
    // Returns x's digit at this level and leaves in x what lies above it: a division, or for a
    // power-of-two radix a mask and a shift (a 64-bit division costs tens of cycles).
    uint32_t take(uint64_t& x) const {
      uint64_t d;
      if (shift >= 0) {
        d = x & (radix - 1);
        x >>= shift;
      } else {
        d = x % radix;
        x /= radix;
      }
      return static_cast<uint32_t>(d);
    }
  };
  void set_fields(Cursor& c) const;
  uint64_t count_below(uint64_t n, uint32_t pc) const;  // bursts < n in `pc`
  uint32_t pc_digit(HbmField f, uint32_t pc) const;
  uint64_t compose(const Cursor& c) const;

  std::array<Level, kMaxLevels> levels_{};
  int n_ = 0;
  std::array<uint8_t, kMaxLevels> free_{};  // indices of the non-PC levels, least significant first
  int n_free_ = 0;
  uint64_t chunk_ = 1;
  std::vector<uint32_t> chunk_pc_;  // PC of chunk k mod the cycle (empty if there is none)
  uint64_t total_ = 0;
  uint32_t channels_, pcs_, bank_groups_, banks_per_group_;
};

// Inline: refill() calls it once per burst.
inline void HbmAddressMap::Cursor::next() {
  const auto& m = *map_;
  const int n = m.n_free_;
  for (int f = 0; f < n; ++f) {
    const int i = m.free_[f];
    const Level& l = m.levels_[i];
    // Everything read before the first store (a store to a digit could alias the map's fields).
    const uint32_t radix = l.radix;
    const uint64_t weight = l.weight;
    const uint32_t bank_weight = l.bank_weight, row_weight = l.row_weight;
    const uint32_t d = digit_[i] + 1;
    if (d < radix) {
      digit_[i] = d;
      x_ += weight;
      bank_ += bank_weight;
      row_ += row_weight;
      return;
    }
    // Wrap this digit and carry into the next non-PC digit.
    digit_[i] = 0;
    x_ -= (radix - 1) * weight;
    bank_ -= (radix - 1) * bank_weight;
    row_ -= (radix - 1) * row_weight;
  }
  x_ = end_;  // past the top of the address space
}

}  // namespace mlasim
