# VAE_ONNX: ONNX export (src/export/onnx_export.cpp, `vae export --onnx`) over Debian's
# libonnx-dev (onnx-ml.pb.h and the onnx_proto library, ONNXConfig.cmake) and libprotobuf-dev.
# Without them the build goes on and src/export/onnx_unavailable.cpp says so at run time.
option(VAE_ONNX "ONNX export (needs libonnx-dev and libprotobuf-dev)" ON)
if(VAE_ONNX)
  find_package(Protobuf QUIET)
  if(Protobuf_FOUND)
    find_package(ONNX QUIET CONFIG)
  endif()
  if(NOT TARGET onnx_proto)
    message(WARNING "libonnx-dev or libprotobuf-dev not found (scripts/setup.sh installs them): "
                    "vae export --onnx is left out of this build")
    set(VAE_ONNX OFF)
  endif()
endif()
