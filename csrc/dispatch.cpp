// CPU detection + FASTCONV_ISA -> the one active KernelTable. Nothing else lives here.
#include <stdexcept>

#include "fastconv/cpu.h"

namespace fastconv {
namespace {

bool cpu_has_avx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
}

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// Tables are built only after the CPU check: their code is compiled with that ISA's flags.
KernelTable table_for(const std::string& isa) {
  if (isa == "avx512") return avx512_table();
  if (isa == "avx2") return avx2_table();
  return generic_table();
}

KernelTable g_active = generic_table();

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::vector<std::string> available_isas() {
  std::vector<std::string> isas;
  if (cpu_has_avx512()) isas.push_back("avx512");
  if (cpu_has_avx2()) isas.push_back("avx2");
  isas.push_back("generic");
  return isas;
}

void select_isa(const std::string& isa) {
  const auto isas = available_isas();
  if (isa.empty()) {
    g_active = table_for(isas.front());
    return;
  }
  for (const auto& name : isas) {
    if (name == isa) {
      g_active = table_for(isa);
      return;
    }
  }
  const bool known = isa == "avx512" || isa == "avx2" || isa == "generic";
  throw std::invalid_argument("FASTCONV_ISA=" + isa + (known ? " is not supported by this CPU" : " is not a known ISA") +
                              "; available on this CPU: " + join(isas));
}

const KernelTable& active_kernels() { return g_active; }

}  // namespace fastconv
