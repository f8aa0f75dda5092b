#pragma once

#include "xla/ffi/api/c_api.h"

// XLA FFI handler: (tables, specials, data, lengths) -> (tokens, counts).
extern "C" XLA_FFI_Error* JaxbpeEncodeCpu(XLA_FFI_CallFrame* call_frame);
