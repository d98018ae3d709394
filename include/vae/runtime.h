// Threads. The toolkit has one knob: the number of threads the BLAS library uses for matrix
// products. The toolkit's own elementwise passes run on the calling thread, between GEMMs, while
// BLAS's workers wait, so the two never compete for the cores (oversubscription halves speed on
// a 2-core machine). set_num_threads(n) is the only place the count is set.
#pragma once

namespace vae {

/// Number of online cores (at least 1).
int hardware_threads();
/// Sets the thread count for BLAS; n <= 0 means hardware_threads().
void set_num_threads(int n);
/// The count in force.
int num_threads();

/// For code that runs its own workers, one per core, each calling BLAS on its own share of the
/// work (data parallelism): while alive, BLAS runs single-threaded inside each caller, so the
/// workers and BLAS's threads never compete for the cores. num_threads() still reports the
/// count in force, which is the number of workers to start. Restores BLAS's count on exit.
class ScopedSerialBlas {
 public:
  ScopedSerialBlas();
  ~ScopedSerialBlas();
  ScopedSerialBlas(const ScopedSerialBlas&) = delete;
  ScopedSerialBlas& operator=(const ScopedSerialBlas&) = delete;

 private:
  int saved_;
};

}  // namespace vae
