// QR codes for paper keys (libqrencode), drawn as UTF-8 half blocks for a
// terminal or a printer, or as SVG for HTML.
#ifndef CTDUMP_CRYPT_QR_CODE_H_
#define CTDUMP_CRYPT_QR_CODE_H_

#include <string>
#include <string_view>
#include <vector>

#include "ctdump/status.h"

namespace ctdump::crypt {

// The modules of a QR code, row by row; true is dark. Square.
using QrMatrix = std::vector<std::vector<bool>>;

// Byte-mode QR code of `data` at error correction level L (the smallest
// code; a printed page is not a noisy channel), the smallest version that
// fits. InvalidArgument when `data` is too long for a QR code.
Result<QrMatrix> EncodeQr(std::string_view data);

// Two module rows per text line ("█", "▀", "▄", " "), dark modules as ink,
// with a quiet zone of `margin` modules.
std::string QrHalfBlocks(const QrMatrix& qr, int margin = 4);

// An <svg> element, `scale` pixels per module, with the same quiet zone.
std::string QrSvg(const QrMatrix& qr, int scale = 4, int margin = 4);

}  // namespace ctdump::crypt

#endif  // CTDUMP_CRYPT_QR_CODE_H_
