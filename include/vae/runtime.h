// Threads. The toolkit has one knob, set_num_threads(n), the only place the count is set. Work
// uses the threads in one of two ways, never both at once (oversubscription halves speed on a
// 2-core machine):
//   - BLAS's own threads split each matrix product; the toolkit's elementwise passes run on the
//     calling thread between GEMMs while BLAS's workers wait (evaluation passes, batch 1);
//   - data parallelism: a WorkerPool of n threads, each with its own share of the rows, calls
//     BLAS single-threaded inside a ScopedSerialBlas (training, importance-weighted evaluation).
// The pool and ScopedSerialBlas are private: src/core/pool.h.
#pragma once

namespace vae {

/// Number of online cores (at least 1).
int hardware_threads();
/// Sets the thread count for BLAS; n <= 0 means hardware_threads().
void set_num_threads(int n);
/// The count in force.
int num_threads();

}  // namespace vae
