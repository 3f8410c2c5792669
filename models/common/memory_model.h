// Interface of a GPU's memory (HBM) as the GPU model sees it: requests of any size, a typed
// completion callback when the last byte has moved. Implementations split requests into
// bursts themselves; callers never do.
#pragma once

#include <systemc>

#include <cstdint>
#include <functional>

#include "sim/stats.h"
#include "sim/units.h"

namespace mlasim {

struct MemRequest {
  uint64_t address = 0;
  Bytes size;
  bool write = false;
};

class MemoryModel : public sc_core::sc_module {
 public:
  using Done = std::function<void()>;
  explicit MemoryModel(const sc_core::sc_module_name& name) : sc_core::sc_module(name) {}
  virtual void access(const MemRequest& request, Done done) = 0;
  // Datasheet peak, for rooflines and utilisation figures.
  virtual Bandwidth peak_bandwidth() const = 0;
  // Capacity, for memory-footprint figures; 0 when the model does not know it.
  virtual Bytes capacity() const { return Bytes(0); }
  virtual StatGroup& stats() = 0;
};

}  // namespace mlasim
