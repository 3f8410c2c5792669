// What elaboration hands every hardware module's constructor besides its params: its instance
// name, index among modules of its kind, the simulation context and, for GPUs, its memory.
#pragma once

#include <systemc>

#include <string>

#include "sim/sim_context.h"

namespace mlasim {

class MemoryModel;

// `module_name` must be an sc_module_name that the creator keeps alive until the constructor has
// returned (SystemC parents child objects to the module whose name is on its stack).
struct ModuleEnv {
  const sc_core::sc_module_name& module_name;
  SimContext& ctx;
  int index = 0;
  MemoryModel* memory = nullptr;
};

}  // namespace mlasim
