// The `jaxbpe._native_cuda` extension: the CUDA XLA FFI handler's capsule.
#include <nanobind/nanobind.h>

#include "ffi_cuda.h"

namespace nb = nanobind;

NB_MODULE(_native_cuda, m) {
  m.def("registrations", [] {
    nb::dict d;
    d["jaxbpe_encode"] = nb::capsule(reinterpret_cast<void*>(&JaxbpeEncodeCuda));
    return d;
  });
}
