// Validation and derived figures of the HBM parameters (see hbm_params.h).
#include "models/hbm/hbm_params.h"

#include <fmt/format.h>

#include "models/hbm/hbm_address_map.h"

namespace mlasim {

void HbmOrganisation::validate(const ParamCheck& c) const {
  c.require(stacks > 0, "stacks", "must be > 0");
  c.require(channels > 0, "channels", "must be > 0");
  c.require(pseudo_channels > 0, "pseudo_channels", "must be > 0");
  c.require(sids > 0, "sids", "must be > 0");
  c.require(bank_groups > 0, "bank_groups", "must be > 0");
  c.require(banks > 0, "banks", "must be > 0");
  // Products in 64 bits: in 32 they could wrap past the checks (65536 x 65536 x 1 banks = 0).
  const uint64_t pcs = uint64_t{stacks} * channels * pseudo_channels;
  const uint64_t banks_pc = uint64_t{sids} * bank_groups * banks;
  // Each pseudo-channel has its own controller state: 4e9 channels exhausted memory.
  c.require(pcs <= kMaxHbmPseudoChannels, "channels",
            fmt::format("stacks x channels x pseudo_channels = {} exceeds {} pseudo-channels "
                        "(25x an H100's 160)",
                        pcs, kMaxHbmPseudoChannels));
  c.require(banks_pc <= 64, "banks",
            fmt::format("sids x bank_groups x banks = {} exceeds the 64 banks per pseudo-channel "
                        "the scheduler supports",
                        banks_pc));
  c.require(rows > 0, "rows", "must be > 0");
  c.require(columns > 0, "columns", "must be > 0");
  c.require(burst.count() > 0, "burst", "must be > 0");
  c.require(tck.ps() > 0, "tck", "must be > 0");
}

void HbmTiming::validate(const ParamCheck& c) const {
  c.require(bl > 0, "bl", "must be > 0");
  c.require(ccd_s >= bl, "ccd_s", "must be >= bl (one burst at a time on the data bus)");
  c.require(ccd_l >= ccd_s, "ccd_l", "must be >= ccd_s");
  c.require(rrd_s > 0, "rrd_s", "must be > 0");
  c.require(rrd_l >= rrd_s, "rrd_l", "must be >= rrd_s");
  c.require(rcd_rd > 0, "rcd_rd", "must be > 0");
  c.require(rcd_wr > 0, "rcd_wr", "must be > 0");
  c.require(rp > 0, "rp", "must be > 0");
  c.require(rc >= ras, "rc", "must be >= ras");
  c.require(cl > 0, "cl", "must be > 0");
  c.require(rtw >= ccd_s, "rtw", "must be >= ccd_s");
}

void HbmRefresh::validate(const ParamCheck& c) const {
  if (mode == RefreshMode::None) return;
  c.require(trefi.ps() > 0, "trefi", "must be > 0");
  c.require(trfc.ps() > 0 && trfc < trefi, "trfc", "must be > 0 and < trefi");
  c.require(trfc_pb.ps() > 0, "trfc_pb", "must be > 0");
}

void HbmControllerParams::validate(const ParamCheck& c) const {
  c.require(read_queue > 0, "read_queue", "must be > 0");
  c.require(write_queue > 0, "write_queue", "must be > 0");
  c.require(write_high > 0 && write_high <= write_queue, "write_high", "must be in 1..write_queue");
  c.require(write_low < write_high, "write_low", "must be < write_high");
  c.require(threads >= 1 && threads <= 64, "threads", "must be in 1..64");
}

void HbmParams::validate(const ParamCheck& c) const {
  const std::string err = HbmAddressMap::check(org, controller.address_map);
  c.require(err.empty(), "controller.address_map", err);
  c.require(
      exposed <= organisation_capacity(), "capacity",
      fmt::format("must be at most the organisation's {} B", organisation_capacity().count()));
  if (refresh.mode == RefreshMode::PerBank) {
    c.require(refresh.trefi.ps() / org.tck.ps() / org.banks_per_pc() > 0, "refresh.trefi",
              "too short for one per-bank refresh per bank");
  }
}

Bandwidth HbmParams::peak_bandwidth() const {
  const double bytes =
      static_cast<double>(org.pseudo_channels_total()) * static_cast<double>(org.burst.count());
  return Bandwidth::bytes_per_s(bytes / (static_cast<double>(timing.bl) * org.tck.to_seconds()));
}

Bytes HbmParams::organisation_capacity() const {
  return Bytes(static_cast<uint64_t>(org.pseudo_channels_total()) * org.banks_per_pc() * org.rows *
               org.columns * org.burst.count());
}

}  // namespace mlasim
