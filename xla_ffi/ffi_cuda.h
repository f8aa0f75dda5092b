#pragma once

#include "xla/ffi/api/c_api.h"

// XLA FFI handler: (tables, specials, data, lengths) -> (tokens, counts), on XLA's stream.
extern "C" XLA_FFI_Error* JaxbpeEncodeCuda(XLA_FFI_CallFrame* call_frame);
