// CPU feature detection and the one active kernel table (csrc/dispatch.cpp).
#pragma once
#include <string>
#include <vector>

#include "fastconv/kernel_table.h"

namespace fastconv {

// ISAs this CPU can run, best first, always ending with "generic".
std::vector<std::string> available_isas();

// Selects the table for `isa` ("" = best available); throws std::invalid_argument naming the ISA and the
// available ones when the name is unknown or the CPU cannot run it.
void select_isa(const std::string& isa);

// The table in use. Selected once at import; tests may switch it between calls (not while kernels run).
const KernelTable& active_kernels();

}  // namespace fastconv
