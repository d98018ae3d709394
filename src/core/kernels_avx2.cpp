// The kernels of core/kernels.h for AVX2 + FMA (CMakeLists.txt sets this file's flags).
#include "core/kernels.h"

namespace vae::kernels {
namespace avx2 {
#include "core/kernels_impl.h"
}  // namespace avx2

const Table kAvx2 = {"avx2",
                     avx2::adam_reduced,
                     avx2::sum_squares,
                     avx2::relu_forward,
                     avx2::relu_backward,
                     avx2::bernoulli_nll_row,
                     avx2::bernoulli_nll_backward,
                     avx2::sigmoid,
                     avx2::squared_error_row,
                     avx2::squared_error_backward};

}  // namespace vae::kernels
