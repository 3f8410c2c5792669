// One HBM pseudo-channel and its slice of the controller: per-bank state machines, the
// row-command and column-command buses, read and write queues (the FR-FCFS window) fed from an
// upstream intake, an FR-FCFS scheduler with open- or closed-page policy, write drain by
// watermarks, and all-bank or per-bank refresh.
//
// Time is the pseudo-channel's own clock cycle. The channel is advanced lazily: advance(T)
// makes every scheduling decision for cycles < T, jumping from one possible command to the
// next (never ticking idle cycles). That is exact as long as every request arriving before T
// has been pushed first, which the controller guarantees. A read burst's data is complete at
// RD + CL + BL, a write's at WR + CWL + BL; each column command is reported, with its burst's
// data-complete cycle, into the log the controller gives (set_log()).
//
// Fast paths. (1) While every bank's queue is pure -- all hits on its open row, or none -- the
// oldest hit of a bank is its head and row commands can only be wanted by the banks without
// hits, so the scheduler chooses among two small sets in a tight loop instead of scanning every
// run of every bank. (2) Within it, whole rounds of a perfectly interleaved stream are issued
// at once (hbm_pseudo_channel_batch.cpp). Both make the general loop's choices, so the cycles
// are identical (a test runs all three). The general loop keeps each bank's candidate command,
// the banks with a column candidate in age order (the first that can issue at the column-bus
// floor wins, so a choice rarely looks past the first few) and the last row choice, and
// rescans only what changed since (hbm_pseudo_channel_scan.cpp); the commonest changes (an
// ACT, a PRE, a run queued behind others, a bank drained) patch the bank's entry in place
// instead. Refresh and the configuration live in hbm_pseudo_channel_refresh.cpp.
//
// Leaves out: the channel-level command/address bus shared by the two pseudo-channels (HBM3
// has separate row and column buses, modelled here per pseudo-channel), tPPD and tRREFD,
// row-bus slots taken by per-bank refresh commands, power-down, RFM.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

#include "models/hbm/hbm_address_map.h"
#include "models/hbm/hbm_params.h"

namespace mlasim {

inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max() / 4;

// Timing and policy resolved to cycles, shared by every pseudo-channel.
struct HbmPcConfig {
  int64_t cl, cwl, bl, rcd_rd, rcd_wr, rp, ras, rc, wr, rtp, ccd_s, ccd_l, rrd_s, rrd_l, faw, wtr_s,
      wtr_l, rtw;
  RefreshMode refresh_mode;
  int64_t refi;     // cycles between refresh commands (all-bank: tREFI; per-bank: tREFI/banks)
  int64_t rfc;      // cycles a refresh blocks (all-bank tRFC or per-bank tRFCpb)
  uint32_t banks;   // per pseudo-channel
  uint32_t groups;  // bank groups per pseudo-channel (SIDs x bank groups)
  uint32_t banks_per_group;
  uint32_t queue[2];  // read, write queue capacity in bursts
  uint32_t write_high, write_low;
  PagePolicy page_policy;
  HbmFastPath fast_path;
  static HbmPcConfig from(const HbmParams& p);
};

struct HbmPcStats {
  uint64_t bursts[2] = {0, 0};  // read, write
  uint64_t activates = 0;
  uint64_t precharges = 0;
  uint64_t row_misses = 0;     // ACT to a bank that was closed (idle, refresh, auto-precharge)
  uint64_t row_conflicts = 0;  // ACT after closing another row for this request
  uint64_t refreshes = 0;
  uint64_t refresh_cycles = 0;      // cycles banks were blocked by refresh (per-bank: / banks)
  uint64_t queue_integral = 0;      // sum over cycles of bursts in the read + write queues
  uint64_t intake_integral = 0;     // sum over cycles of bursts waiting for queue space
  uint64_t bank_open_integral = 0;  // sum over banks of cycles with a row open
};

// Cache-line aligned: channels advanced on different threads share no line.
class alignas(64) HbmPseudoChannel {
 public:
  HbmPseudoChannel(const HbmPcConfig& cfg, const HbmAddressMap& map, uint32_t index,
                   uint32_t pcs_total);

  // Decides every command at cycles < `until`.
  void advance(int64_t until);
  // Adds one request's share of this pseudo-channel, `bursts` (> 0) bursts, at cycle `now`,
  // which must not be earlier than the last advance(): the bursts of [begin, end), which all
  // lie here, or with `spread` those of them that lie here.
  void push(uint64_t begin, uint64_t end, bool spread, uint32_t request, uint32_t part, bool write,
            int64_t now, uint64_t bursts);
  bool busy() const { return window_[0] + window_[1] + waiting_[0] + waiting_[1] > 0; }
  // Lower bound on the cycle of the next column command (valid until the next push).
  int64_t next_column_bound() const { return next_col_bound_; }
  // Lower bound on the cycle a burst to (bank, row) can have its column command: bank timing
  // only moves forward, so what it needs from the bank's present state is a bound.
  int64_t bank_column_bound(uint32_t bank, uint32_t row, bool write) const;
  int64_t now() const { return cur_; }
  // Closes the open intervals of the statistics at `cycle` (>= now()).
  void settle_stats(int64_t cycle);
  const HbmPcStats& stats() const { return stats_; }

  // One column command's effect on its request, kept while logging.
  struct Issued {
    uint32_t req;
    uint32_t part;
    uint64_t bursts;
    int64_t done;  // data-complete cycle
  };
  // Where advance() and push() append what issued bursts do to their request (the part's and
  // the request's counts, last_done), for the controller to apply in its serial order; must
  // be set while they run. The channel writes nothing shared with another channel, so
  // channels can run on different threads. The sink may hold other channels' entries before
  // this one's.
  void set_log(std::vector<Issued>* sink) { log_ = sink; }

 private:
  struct Run {
    uint32_t req;
    uint32_t part;  // index into the request's parts
    uint32_t row;
    uint32_t count;   // bursts left
    uint32_t stride;  // seq step between its bursts (0 while unknown)
    uint64_t seq;     // age of the head burst: order of entry into the queue
  };
  // A FIFO with erase, on a ring buffer (power-of-two capacity): the few live entries stay on
  // the same cache lines however many pass through.
  template <class T>
  class Ring {
   public:
    bool empty() const { return n_ == 0; }
    size_t size() const { return n_; }
    T& operator[](size_t i) { return v_.get()[(head_ + i) & mask_]; }
    const T& operator[](size_t i) const { return v_.get()[(head_ + i) & mask_]; }
    T& front() { return v_.get()[head_]; }
    const T& front() const { return v_.get()[head_]; }
    T& back() { return (*this)[n_ - 1]; }
    const T& back() const { return (*this)[n_ - 1]; }
    void push_back(const T& r) {
      if (!v_ || n_ == mask_ + 1) grow();
      v_.get()[(head_ + n_) & mask_] = r;
      ++n_;
    }
    void pop_front() {
      head_ = (head_ + 1) & mask_;
      --n_;
    }
    void erase(size_t i) {
      if (i == 0) {
        pop_front();
        return;
      }
      for (; i + 1 < n_; ++i)
        (*this)[i] = (*this)[i + 1];
      --n_;
    }

   private:
    // Storage on cache lines of its own: the thread that advances this channel may not be the
    // one that advances the channel whose storage the allocator put beside it, and a line the
    // two wrote would move between their cores at every burst.
    static constexpr std::align_val_t kLine{64};
    struct Free {
      void operator()(T* p) const { ::operator delete(p, kLine); }
    };
    void grow() {
      static_assert(std::is_trivially_copyable_v<T>);
      const uint32_t cap = v_ ? 2 * (mask_ + 1) : 4;
      const size_t bytes = (cap * sizeof(T) + 63) / 64 * 64;
      std::unique_ptr<T, Free> w(static_cast<T*>(::operator new(bytes, kLine)));
      for (uint32_t i = 0; i < n_; ++i)
        w.get()[i] = (*this)[i];
      v_ = std::move(w);
      head_ = 0;
      mask_ = cap - 1;
    }
    // Compact (24 bytes): every bank holds two.
    std::unique_ptr<T, Free> v_;
    uint32_t head_ = 0, n_ = 0, mask_ = 0;
  };
  // A bank's runs of one type, oldest first.
  using RunQueue = Ring<Run>;
  // Aligned to a cache line, so the hot fields fill exactly the first: where the heap put the
  // bank array used to decide whether each bank straddled lines, and made whole processes
  // 25-30% slower at random (the MLA decode bench kernel 1.25 s or 1.65 s on one thread).
  struct alignas(64) Bank {
    // Hot: what a scheduling scan reads (kept together, away from the run queues' storage).
    int64_t open_row = -1;
    int64_t act_ok = 0, rd_ok = 0, wr_ok = 0, pre_ok = 0;
    uint64_t head_seq[2] = {0, 0};  // age of the oldest queued burst, per type (if any)
    uint32_t head_row[2] = {0, 0};
    uint32_t pending[2] = {0, 0};
    uint32_t group = 0;
    bool closed_for_conflict = false;
    int64_t open_since = 0;
    // Cold.
    RunQueue q[2];
    // Copies the head run's age and row after q[t] changed at its front.
    void sync_head(int t) {
      if (!q[t].empty()) {
        head_seq[t] = q[t][0].seq;
        head_row[t] = q[t][0].row;
      }
    }
  };
  // A request's share waiting in the intake, as push() took it (32 bytes; the address cursor,
  // three times that, is made for the front segment only).
  struct Segment {
    uint64_t begin;
    uint64_t end;
    uint32_t req;
    uint32_t part : 31;
    uint32_t spread : 1;
    uint64_t left;  // bursts not yet in the queue
  };
  enum class Kind : uint8_t { None, Col, Act, Pre };
  // FR-FCFS order: the earlier readiness, then the older age.
  static bool better(int64_t ready, uint64_t seq, int64_t best_ready, uint64_t best_seq) {
    return ready < best_ready || (ready == best_ready && seq < best_seq);
  }
  struct Candidate {
    int64_t ready = kNever;
    uint64_t seq = 0;
    uint32_t bank = 0;
    uint32_t run = 0;
    Kind kind = Kind::None;
  };

  void update_mode();
  // Finds, among the banks with queued bursts of the active type, the oldest ready column
  // command (oldest_column(), into `col`) and row command (into row_cache_.best). Returns true
  // when every such bank is "pure": its queued bursts are all hits on its open row, or none is.
  // A row choice kept from the last scan is reused (see find_candidates()).
  bool find_candidates(Candidate& col) const;
  // The oldest ready ACT among `acts` or PRE among `pres` (all with current candidates).
  Candidate scan_rows(uint64_t acts, uint64_t pres) const;
  // Offers bank b's row command (ACT if closed, PRE if open) to `row` if older/readier.
  void row_candidate(uint32_t b, Candidate& row) const;
  void issue_column(uint32_t bank, uint32_t run, int64_t c);
  void issue_column_of(int type, uint32_t bank, uint32_t run, int64_t c);  // type_ == type
  void issue_act(uint32_t bank, int64_t c);
  // After an ACT of bank b, whose cached candidate was current: makes it the column candidate
  // refresh_candidates() would make it.
  void opened_candidate(uint32_t b);
  void issue_pre(uint32_t bank, int64_t c);
  void refresh(int64_t due);
  void skip_idle_refreshes(int64_t until);
  // Moves waiting bursts into the queue of `type`, recording in refill_ what changed.
  void refill(int type, int64_t c);
  void account(int64_t c);
  // The loop for pure queues (see the file comment); returns when they stop being pure (then
  // true), at `until` or a refresh, when the read/write mode changes or the queue drains.
  bool fast_pure(int64_t until);
  bool has_hit(const Bank& b, int type) const;
  // The oldest ready row command among `banks` (ACT if closed, PRE if open).
  Candidate row_choice(uint64_t banks) const {
    Candidate row;
    for (uint64_t m = banks; m; m &= m - 1)
      row_candidate(static_cast<uint32_t>(std::countr_zero(m)), row);
    return row;
  }
  // Issues whole rounds of a perfectly interleaved stream at once when that is provably what
  // the burst-by-burst loop would do (hbm_pseudo_channel_batch.cpp); false if not applicable.
  // `hits` and `row` are the pure loop's: its banks with hits and its row choice among the
  // others. Row commands that fall inside the rounds are issued there, at the times the loop
  // would give them, and `hits` and `row` follow them.
  // NextRound: not now, but worth trying at the next round start.
  enum class Batch : uint8_t { Done, Failed, NextRound };
  Batch batch_rounds(int64_t limit, uint64_t& hits, Candidate& row);

  // Counts `bursts` of request `req` (part `part`) as issued, their data complete at `done`.
  void report(uint32_t req, uint32_t part, uint64_t bursts, int64_t done) {
    // Successive bursts of one request merge: no other request's entry lies between them, so
    // the request still finishes at the same place in the sequence. (A part is one channel's
    // share, so an entry of another channel never merges.)
    if (!log_->empty() && log_->back().req == req && log_->back().part == part) {
      log_->back().bursts += bursts;
      log_->back().done = std::max(log_->back().done, done);
    } else {
      log_->push_back(Issued{req, part, bursts, done});
    }
  }

  const HbmPcConfig& cfg_;
  const HbmAddressMap& map_;
  std::vector<Issued>* log_ = nullptr;
  uint32_t index_;
  std::vector<Bank> banks_;
  uint64_t mask_[2] = {0, 0};  // banks with queued bursts, per type
  uint32_t window_[2] = {0, 0};
  uint64_t waiting_[2] = {0, 0};
  Ring<Segment> intake_[2];  // per type, oldest first
  // The cursor of each intake's front segment (valid while the intake is not empty).
  HbmAddressMap::Cursor front_[2];
  // Drops the intake's front segment, done with; the next one's cursor takes its place.
  void pop_segment(int t) {
    intake_[t].pop_front();
    if (!intake_[t].empty()) front_[t] = cursor_of(intake_[t].front());
  }
  // A cursor at the segment's first burst not yet in the queue (`left` must be all of them).
  HbmAddressMap::Cursor cursor_of(const Segment& s) const {
    HbmAddressMap::Cursor c;
    if (s.spread) {
      map_.first_in_pc(s.begin, s.end, index_, c);
    } else {
      c = map_.cursor_at(s.begin, s.end);
    }
    return c;
  }
  int type_ = 0;  // 0: serving reads, 1: draining writes
  int64_t cur_ = 0;
  uint64_t seq_ = 0;
  // Column bus: earliest RD / WR, any bank group and per bank group.
  int64_t col_any_ok_[2] = {0, 0};
  std::array<int64_t, 64> col_group_ok_[2]{};
  // Row bus and activation windows.
  int64_t row_bus_ok_ = 0;
  int64_t act_any_ok_ = 0;
  std::array<int64_t, 64> act_group_ok_{};
  std::array<int64_t, 4> faw_{};
  uint32_t faw_pos_ = 0;
  // Refresh.
  int64_t refresh_due_ = kNever;
  uint32_t refresh_bank_ = 0;
  int64_t next_col_bound_ = 0;
  int64_t next_event_ = 0;  // earliest possible command or refresh; 0 after a push
  uint32_t batch_skip_ = 0, batch_backoff_ = 0;  // round starts to skip before batching again
  uint64_t commands_ = 0;      // commands issued (a batch counts its column commands)
  uint32_t pure_rest_ = 0;     // general-loop commands before trying the pure loop again
  uint32_t pure_backoff_ = 0;  // the last rest given (doubles after each short pure run)
  // Candidate cache for the active type, one entry per bank, recomputed only for banks marked
  // dirty since (a scan then reads these compact arrays, not the banks): the command a bank
  // wants, its bank-local readiness (rd/wr_ok, act_ok or pre_ok; bus and bank-group limits are
  // applied at the scan), the age and run of the burst it serves.
  void refresh_candidates() const;
  mutable uint64_t dirty_ = ~uint64_t{0};
  mutable int cached_type_ = -1;
  mutable uint64_t col_mask_ = 0, act_mask_ = 0, pre_mask_ = 0, mixed_mask_ = 0;
  // The last scan's column and row choices; a column command (or a batch) makes the column
  // one stale, a row command the row one, a refresh both.
  struct Cache {
    bool valid = false;
    Candidate best;
  };
  mutable Cache row_cache_;
  // The column candidates of the active type (col_mask_ & mask_[type]) in age order, oldest
  // first, kept as candidates change (refresh_candidates, issue_column), and their set.
  void order_remove(uint32_t b) const;
  void order_insert(uint32_t b) const;
  void order_later(uint32_t b) const;  // b's age moved on: back to its place
  // The column command FR-FCFS picks, from the age order.
  Candidate oldest_column() const;
  mutable std::array<uint8_t, 64> col_order_{};
  mutable uint32_t col_order_n_ = 0;
  mutable uint64_t col_order_mask_ = 0;
  // Fixed size (banks and groups are at most 64): no pointer to load before an access.
  mutable std::array<int64_t, 64> cand_part_{};
  mutable std::array<uint64_t, 64> cand_seq_{};
  mutable std::array<uint32_t, 64> cand_run_{};
  std::array<uint32_t, 64> bank_group_{};
  // What the last refill did, for the fast path: banks that went from empty to holding hits,
  // whether a new bank without hits appeared, and whether a bank stopped being pure.
  struct RefillNote {
    uint64_t new_hit_banks = 0;
    bool new_row_bank = false;
    bool mixed = false;
  } refill_;
  int64_t account_cycle_ = 0;
  HbmPcStats stats_;
};

}  // namespace mlasim
