// InfinibandSwitch: cut-through crossbar with per-VL input buffers (see infiniband_switch.h).
#include "models/switch/infiniband_switch.h"

namespace mlasim {

PacketNodeTraits InfinibandSwitch::packet_traits() const {
  PacketNodeTraits t;
  t.pipeline = params_.pipeline_latency;
  t.cut_through = true;
  t.buffer_per_vl = params_.buffer.count();
  t.buffer_key = "hardware.switch.buffer";
  t.shared_per_port = params_.shared_buffer_per_port.count();
  t.shared_key = "hardware.switch.shared_buffer_per_port";
  t.shared_alpha = params_.shared_alpha;
  t.arbitration = params_.arbitration;
  return t;
}

}  // namespace mlasim
