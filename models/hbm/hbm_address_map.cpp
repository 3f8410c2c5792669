// HbmAddressMap: mixed-radix address decomposition and per-pseudo-channel cursors.
#include "models/hbm/hbm_address_map.h"

#include <bit>

#include <fmt/format.h>

#include <stdexcept>
#include <vector>

namespace mlasim {
namespace {

struct FieldName {
  std::string_view name;
  HbmField field;
};
constexpr std::array<FieldName, kHbmFields> kNames{{{"st", HbmField::Stack},
                                                    {"ch", HbmField::Channel},
                                                    {"pc", HbmField::PseudoChannel},
                                                    {"sid", HbmField::Sid},
                                                    {"bg", HbmField::BankGroup},
                                                    {"ba", HbmField::Bank},
                                                    {"ro", HbmField::Row},
                                                    {"co", HbmField::Column}}};

uint32_t field_count(const HbmOrganisation& o, HbmField f) {
  switch (f) {
    case HbmField::Stack:
      return o.stacks;
    case HbmField::Channel:
      return o.channels;
    case HbmField::PseudoChannel:
      return o.pseudo_channels;
    case HbmField::Sid:
      return o.sids;
    case HbmField::BankGroup:
      return o.bank_groups;
    case HbmField::Bank:
      return o.banks;
    case HbmField::Row:
      return o.rows;
    case HbmField::Column:
      return o.columns;
  }
  return 1;
}

struct ParsedLevel {
  HbmField field;
  uint32_t radix;
};

// Parses the spec into levels (least significant first) or throws std::invalid_argument.
std::vector<ParsedLevel> parse_spec(const HbmOrganisation& org, std::string_view spec) {
  std::vector<ParsedLevel> out;
  std::array<int, kHbmFields> seen{};
  int column_rest = -1;  // index of the `co` token without a bit count
  uint64_t column_split = 1;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) comma = spec.size();
    std::string_view tok = spec.substr(pos, comma - pos);
    while (!tok.empty() && tok.front() == ' ')
      tok.remove_prefix(1);
    while (!tok.empty() && tok.back() == ' ')
      tok.remove_suffix(1);
    pos = comma + 1;
    if (tok.empty()) throw std::invalid_argument("empty field in address map");
    std::string_view name = tok;
    int bits = -1;
    if (size_t colon = tok.find(':'); colon != std::string_view::npos) {
      name = tok.substr(0, colon);
      std::string_view num = tok.substr(colon + 1);
      bits = 0;
      for (char ch : num) {
        if (ch < '0' || ch > '9')
          throw std::invalid_argument(fmt::format("bad bit count in '{}'", tok));
        bits = bits * 10 + (ch - '0');
      }
      if (num.empty() || bits > 20)
        throw std::invalid_argument(fmt::format("bad bit count in '{}'", tok));
    }
    const FieldName* f = nullptr;
    for (const auto& n : kNames) {
      if (n.name == name) f = &n;
    }
    if (!f) {
      throw std::invalid_argument(
          fmt::format("unknown field '{}' (fields: st, ch, pc, sid, bg, ba, ro, co)", name));
    }
    const int fi = static_cast<int>(f->field);
    if (f->field == HbmField::Column) {
      if (bits >= 0) {
        out.push_back({f->field, 1u << bits});
        column_split *= 1u << bits;
      } else {
        if (column_rest >= 0) throw std::invalid_argument("'co' without a bit count appears twice");
        column_rest = static_cast<int>(out.size());
        out.push_back({f->field, 0});
      }
    } else {
      if (bits >= 0) throw std::invalid_argument(fmt::format("only 'co' may be split ('{}')", tok));
      if (seen[fi]) throw std::invalid_argument(fmt::format("field '{}' appears twice", name));
      out.push_back({f->field, field_count(org, f->field)});
    }
    seen[fi] = 1;
    if (comma == spec.size()) break;
  }
  for (const auto& n : kNames) {
    if (!seen[static_cast<int>(n.field)]) {
      throw std::invalid_argument(fmt::format("field '{}' is missing", n.name));
    }
  }
  if (org.columns % column_split != 0) {
    throw std::invalid_argument(fmt::format("column splits ({} values) do not divide {} columns",
                                            column_split, org.columns));
  }
  const uint32_t rest = static_cast<uint32_t>(org.columns / column_split);
  if (column_rest >= 0) {
    out[column_rest].radix = rest;
  } else if (rest != 1) {
    throw std::invalid_argument(fmt::format(
        "column bits cover {} of {} columns; add 'co' for the rest", column_split, org.columns));
  }
  return out;
}

}  // namespace

std::string HbmAddressMap::check(const HbmOrganisation& org, std::string_view spec) {
  try {
    parse_spec(org, spec);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return {};
}

HbmAddressMap::HbmAddressMap(const HbmOrganisation& org, std::string_view spec)
    : channels_(org.channels),
      pcs_(org.pseudo_channels),
      bank_groups_(org.bank_groups),
      banks_per_group_(org.banks) {
  const auto parsed = parse_spec(org, spec);
  uint64_t weight = 1;
  std::array<uint64_t, kHbmFields> fw;
  fw.fill(1);
  for (const auto& p : parsed) {
    const int fi = static_cast<int>(p.field);
    if (p.radix > 1) {
      if (n_ >= kMaxLevels) throw std::invalid_argument("address map has too many fields");
      const bool pc_level = p.field == HbmField::Stack || p.field == HbmField::Channel ||
                            p.field == HbmField::PseudoChannel;
      // The bank index within a pseudo-channel is (sid * bank_groups + bg) * banks + bank.
      uint32_t bank_unit = 0;
      if (p.field == HbmField::Sid) bank_unit = bank_groups_ * banks_per_group_;
      if (p.field == HbmField::BankGroup) bank_unit = banks_per_group_;
      if (p.field == HbmField::Bank) bank_unit = 1;
      const auto unit = static_cast<uint32_t>(fw[fi]);
      levels_[n_++] = Level{p.field,
                            p.radix,
                            weight,
                            fw[fi],
                            pc_level,
                            bank_unit * unit,
                            p.field == HbmField::Row ? unit : 0u};
      if (std::has_single_bit(p.radix)) levels_[n_ - 1].shift = std::countr_zero(p.radix);
    }
    weight *= p.radix;
    fw[fi] *= p.radix;
  }
  total_ = weight;
  for (int i = 0; i < n_; ++i) {
    if (!levels_[i].pc_level) free_[n_free_++] = static_cast<uint8_t>(i);
  }
  int low = 0;
  for (; low < n_ && !levels_[low].pc_level; ++low)
    chunk_ *= levels_[low].radix;
  // The PC digits, if together right above the chunk's, cycle through all PCs as chunks go by.
  int high = low;
  uint64_t cycle = 1;
  for (; high < n_ && levels_[high].pc_level; ++high)
    cycle *= levels_[high].radix;
  bool together = true;
  for (int i = high; i < n_; ++i)
    together = together && !levels_[i].pc_level;
  if (together && high > low) {
    chunk_pc_.resize(cycle);
    for (uint64_t k = 0; k < cycle; ++k)
      chunk_pc_[k] = locate(k * chunk_).pc;
  }
}

HbmAddressMap::Location HbmAddressMap::locate(uint64_t burst_index) const {
  std::array<uint64_t, kHbmFields> f{};
  uint64_t x = burst_index % total_;
  for (int i = 0; i < n_; ++i) {
    const Level& l = levels_[i];
    f[static_cast<int>(l.field)] += l.take(x) * l.field_weight;
  }
  auto get = [&](HbmField k) { return static_cast<uint32_t>(f[static_cast<int>(k)]); };
  Location loc;
  loc.pc = (get(HbmField::Stack) * channels_ + get(HbmField::Channel)) * pcs_ +
           get(HbmField::PseudoChannel);
  loc.bank = (get(HbmField::Sid) * bank_groups_ + get(HbmField::BankGroup)) * banks_per_group_ +
             get(HbmField::Bank);
  loc.row = get(HbmField::Row);
  loc.column = get(HbmField::Column);
  return loc;
}

uint64_t HbmAddressMap::Cursor::uniform_rounds(uint64_t n) const {
  const auto& m = *map_;
  // The lowest non-PC digits must make up one round of n and stand at zero...
  uint64_t period = 1;
  int f = 0;
  for (; f < m.n_free_ && period < n; ++f) {
    if (digit_[m.free_[f]] != 0) return 0;
    period *= m.levels_[m.free_[f]].radix;
  }
  if (period != n) return 0;
  // ...and the digits above them, up to the first that is not a column digit, count rounds,
  // the counter's last value included (skip_rounds() carries out of it as next() would).
  uint64_t value = 0, span = 1;
  for (; f < m.n_free_ && m.levels_[m.free_[f]].field == HbmField::Column; ++f) {
    value += digit_[m.free_[f]] * span;
    span *= m.levels_[m.free_[f]].radix;
  }
  return span > 1 ? span - value : 0;
}

void HbmAddressMap::Cursor::skip_rounds(uint64_t n, uint64_t rounds) {
  const auto& m = *map_;
  uint64_t period = 1;
  int f = 0;
  for (; f < m.n_free_ && period < n; ++f)
    period *= m.levels_[m.free_[f]].radix;
  // Add `rounds` to the column counter, carrying from digit to digit.
  for (; rounds > 0 && f < m.n_free_; ++f) {
    const Level& l = m.levels_[m.free_[f]];
    uint32_t& d = digit_[m.free_[f]];
    const uint64_t total = d + rounds;
    const auto next = static_cast<uint32_t>(total % l.radix);
    rounds = total / l.radix;
    x_ = x_ + next * l.weight - d * l.weight;
    bank_ = bank_ + next * l.bank_weight - d * l.bank_weight;
    row_ = row_ + next * l.row_weight - d * l.row_weight;
    d = next;
  }
  if (rounds > 0) x_ = end_;  // carried past the top of the address space, as next() does
}

void HbmAddressMap::set_fields(Cursor& c) const {
  c.bank_ = 0;
  c.row_ = 0;
  for (int i = 0; i < n_; ++i) {
    c.bank_ += c.digit_[i] * levels_[i].bank_weight;
    c.row_ += c.digit_[i] * levels_[i].row_weight;
  }
}

uint64_t HbmAddressMap::compose(const Cursor& c) const {
  uint64_t x = 0;
  for (int i = 0; i < n_; ++i)
    x += c.digit_[i] * levels_[i].weight;
  return x;
}

HbmAddressMap::Cursor HbmAddressMap::cursor_at(uint64_t index, uint64_t end) const {
  Cursor c;
  c.map_ = this;
  c.end_ = end;
  uint64_t x = index;
  for (int i = 0; i < n_; ++i) {
    c.digit_[i] = levels_[i].take(x);
  }
  set_fields(c);
  c.x_ = index;
  return c;
}

uint32_t HbmAddressMap::pc_digit(HbmField f, uint32_t pc) const {
  switch (f) {
    case HbmField::PseudoChannel:
      return pc % pcs_;
    case HbmField::Channel:
      return (pc / pcs_) % channels_;
    case HbmField::Stack:
      return pc / (pcs_ * channels_);
    default:
      return 0;
  }
}

uint64_t HbmAddressMap::count_below(uint64_t n, uint32_t pc) const {
  if (n >= total_) {
    uint64_t all = 1;
    for (int i = 0; i < n_; ++i) {
      if (!levels_[i].pc_level) all *= levels_[i].radix;
    }
    return all;
  }
  // Digit DP from the most significant digit: numbers below n that agree with n above digit i,
  // are smaller at digit i and hold the PC's digits everywhere.
  std::array<uint32_t, kMaxLevels> d{};
  std::array<uint64_t, kMaxLevels + 1> below{};  // free combinations of the digits under i
  uint64_t x = n;
  below[0] = 1;
  for (int i = 0; i < n_; ++i) {
    d[i] = levels_[i].take(x);
    below[i + 1] = below[i] * (levels_[i].pc_level ? 1 : levels_[i].radix);
  }
  uint64_t count = 0;
  for (int i = n_ - 1; i >= 0; --i) {
    if (levels_[i].pc_level) {
      const uint32_t t = pc_digit(levels_[i].field, pc);
      if (t < d[i]) count += below[i];
      if (t != d[i]) return count;
    } else {
      count += d[i] * below[i];
    }
  }
  return count;
}

bool HbmAddressMap::first_in_pc(uint64_t begin, uint64_t end, uint32_t pc, Cursor& out) const {
  if (begin >= end || begin >= total_) return false;
  Cursor c = cursor_at(begin, end);
  // The PC digits the cursor must hold.
  std::array<uint32_t, kHbmFields> target{};
  for (HbmField f : {HbmField::PseudoChannel, HbmField::Channel, HbmField::Stack}) {
    target[static_cast<int>(f)] = pc_digit(f, pc);
  }
  int diff = -1;  // most significant PC digit that differs
  for (int i = n_ - 1; i >= 0; --i) {
    if (levels_[i].pc_level && c.digit_[i] != target[static_cast<int>(levels_[i].field)]) {
      diff = i;
      break;
    }
  }
  if (diff >= 0) {
    const bool carry = target[static_cast<int>(levels_[diff].field)] < c.digit_[diff];
    for (int i = 0; i < n_; ++i) {
      if (levels_[i].pc_level) {
        c.digit_[i] = target[static_cast<int>(levels_[i].field)];
      } else if (i < diff) {
        c.digit_[i] = 0;
      }
    }
    if (carry) {
      // Smallest increase of the non-PC digits above `diff`.
      bool done = false;
      for (int i = diff + 1; i < n_ && !done; ++i) {
        if (levels_[i].pc_level) continue;
        if (++c.digit_[i] < levels_[i].radix) {
          done = true;
        } else {
          c.digit_[i] = 0;
        }
      }
      if (!done) return false;
    }
    set_fields(c);
    c.x_ = compose(c);
  }
  if (c.x_ >= end) return false;
  out = c;
  return true;
}

}  // namespace mlasim
