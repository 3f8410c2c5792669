// Builds the plain-C++ timing engine of a `memory:` config section (hbm, hbm_bandwidth or
// fixed_bandwidth) on an EventSink, for runs without SystemC (`mlasim kernels`, benchmarks).
// CountingMemoryPort sums the bytes that pass, whatever the engine.
#pragma once

#include <memory>
#include <string>

#include "models/hbm/event_sink.h"
#include "sim/config.h"

namespace mlasim {

// Throws InputError (via the params reader) for a bad section or an unknown type.
std::unique_ptr<MemoryPort> make_memory_engine(const ConfigNode& section, const std::string& path,
                                               EventSink& events);

class CountingMemoryPort final : public MemoryPort {
 public:
  explicit CountingMemoryPort(MemoryPort& inner) : inner_(inner) {}
  void access(const MemRequest& r, Done done) override {
    (r.write ? written_ : read_) += r.size.count();
    inner_.access(r, std::move(done));
  }
  Bandwidth peak_bandwidth() const override { return inner_.peak_bandwidth(); }
  uint64_t bytes_read() const { return read_; }
  uint64_t bytes_written() const { return written_; }

 private:
  MemoryPort& inner_;
  uint64_t read_ = 0, written_ = 0;
};

}  // namespace mlasim
