// Unicode NFC as Hugging Face `tokenizers` applies it (its normalizer {"type": "NFC"}),
// for the host API of encodings that normalise (Qwen). The tables come from
// `tokenizers` itself (tools/gen_nfc_tables.py): Python's `unicodedata` knows newer
// Unicode, which would give other ids, and other ids again on the next Python.
#pragma once

#include <stdint.h>

#include <string>

namespace jaxbpe {

// The NFC form of the UTF-8 text s[0..n). Invalid bytes are kept as they are, and
// normalisation does not reach across them.
std::string nfc(const uint8_t* s, int64_t n);

}  // namespace jaxbpe
