// The kernels of core/kernels.h for baseline x86-64 (SSE2): the build's own flags.
#include "core/kernels.h"

namespace vae::kernels {
namespace baseline {
#include "core/kernels_impl.h"
}  // namespace baseline

const Table kBaseline = {"baseline",
                         baseline::adam_reduced,
                         baseline::sum_squares,
                         baseline::relu_forward,
                         baseline::relu_backward,
                         baseline::bernoulli_nll_row,
                         baseline::bernoulli_nll_backward,
                         baseline::sigmoid,
                         baseline::squared_error_row,
                         baseline::squared_error_backward};

}  // namespace vae::kernels
