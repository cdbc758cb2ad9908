#pragma once

#include <string>

namespace dtask {

/// The offset of the first sequence in `text` that is not well-formed
/// UTF-8, or npos if all of it is. Well-formed means exactly the byte
/// ranges of the Unicode standard (chapter 3, table 3-7); that refuses
/// stray continuation bytes, overlong encodings (C0, C1, E0 80..9F,
/// F0 80..8F), the surrogates U+D800..DFFF (ED A0..BF), code points above
/// U+10FFFF (F4 90..BF, F5..FF) and sequences cut short.
inline size_t invalid_utf8_at(const std::string& text) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  size_t i = 0;
  while (i < text.size()) {
    auto lead = byte(i);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    // The length of the sequence, and the range of its second byte (the
    // only one whose range depends on the lead byte).
    size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
      len = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      len = 3;
      if (lead == 0xe0)
        lo = 0xa0; // Below: overlong.
      else if (lead == 0xed)
        hi = 0x9f; // Above: surrogates.
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      len = 4;
      if (lead == 0xf0)
        lo = 0x90; // Below: overlong.
      else if (lead == 0xf4)
        hi = 0x8f; // Above: beyond U+10FFFF.
    } else {
      return i; // A continuation byte, C0, C1 (overlong) or F5..FF.
    }
    if (text.size() - i < len || byte(i + 1) < lo || byte(i + 1) > hi)
      return i;
    for (size_t k = 2; k < len; ++k)
      if (byte(i + k) < 0x80 || byte(i + k) > 0xbf)
        return i;
    i += len;
  }
  return std::string::npos;
}

} // namespace dtask
