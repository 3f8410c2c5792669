// NvSwitch: cut-through NVLink crossbar (see nvswitch.h).
#include "models/nvlink/nvswitch.h"

namespace mlasim {

PacketNodeTraits NvSwitch::packet_traits() const {
  PacketNodeTraits t;
  t.pipeline = params_.pipeline_latency;
  t.cut_through = true;
  t.buffer_per_vl = params_.buffer.count();
  t.buffer_key = "hardware.nvswitch.buffer";
  t.max_payload = static_cast<uint32_t>(params_.transfer_unit.count());
  t.arbitration = params_.arbitration;
  t.nvlink = LinkOverhead{static_cast<uint32_t>(params_.packet_payload.count()),
                          static_cast<uint32_t>(params_.packet_header.count()), params_.encoding};
  return t;
}

}  // namespace mlasim
