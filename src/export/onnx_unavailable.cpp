// ONNX export in a build without libonnx-dev / libprotobuf-dev (CMakeLists.txt compiles this
// file instead of onnx_export.cpp): the functions of export/onnx_export.h say so.
#include "export/onnx_export.h"

#include "vae/error.h"

namespace vae {

bool onnx_export_available() { return false; }

OnnxFiles export_onnx(const Checkpoint&, const std::string&, bool) {
  throw Error("this build has no ONNX export (it needs libonnx-dev and libprotobuf-dev at build "
              "time: scripts/setup.sh installs them)");
}

}  // namespace vae
