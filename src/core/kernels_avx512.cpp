// The kernels of core/kernels.h for AVX-512 F/BW/DQ/VL, 512-bit vectors (CMakeLists.txt sets this file's flags).
#include "core/kernels.h"

namespace vae::kernels {
namespace avx512 {
#include "core/kernels_impl.h"
}  // namespace avx512

const Table kAvx512 = {"avx512",
                       avx512::adam_reduced,
                       avx512::sum_squares,
                       avx512::relu_forward,
                       avx512::relu_backward,
                       avx512::bernoulli_nll_row,
                       avx512::bernoulli_nll_backward,
                       avx512::sigmoid,
                       avx512::squared_error_row,
                       avx512::squared_error_backward};

}  // namespace vae::kernels
