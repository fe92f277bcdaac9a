// CPU shells of the counter ops: one step each, on the calling thread.
#include "kernels/counter.h"

namespace acx::cpu_kernels {

void advance_counter(const AdvanceCounterArgs& a) { advance_counter_at(a); }
void advance_ring(const AdvanceRingArgs& a) { advance_ring_at(a); }

}  // namespace acx::cpu_kernels
