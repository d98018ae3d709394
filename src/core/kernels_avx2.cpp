// The kernels of core/kernels.h for AVX2 + FMA (CMakeLists.txt sets this file's flags).
#include "core/kernels.h"

namespace vae::kernels {
namespace avx2 {
#include "core/kernels_impl.h"
}  // namespace avx2

const Table kAvx2 = {"avx2", avx2::adam_reduced, avx2::sum_squares, avx2::relu_forward,
                  avx2::relu_backward};

}  // namespace vae::kernels
