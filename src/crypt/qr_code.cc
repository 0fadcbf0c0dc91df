#include "crypt/qr_code.h"

#include <fmt/format.h>
#include <qrencode.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace ctdump::crypt {
namespace {

struct QrFree {
  void operator()(QRcode* q) const { QRcode_free(q); }
};

bool Dark(const QrMatrix& qr, int margin, int row, int col) {
  int n = static_cast<int>(qr.size());
  row -= margin;
  col -= margin;
  if (row < 0 || col < 0 || row >= n || col >= n) return false;
  return qr[static_cast<size_t>(row)][static_cast<size_t>(col)];
}

}  // namespace

Result<QrMatrix> EncodeQr(std::string_view data) {
  errno = 0;
  std::unique_ptr<QRcode, QrFree> code(
      QRcode_encodeData(static_cast<int>(data.size()),
                        reinterpret_cast<const unsigned char*>(data.data()), 0, QR_ECLEVEL_L));
  if (!code) {
    if (errno == ERANGE) {
      return InvalidArgumentError(fmt::format("{} bytes are too many for a QR code", data.size()));
    }
    return InternalError(fmt::format("QR encoding failed: {}", std::strerror(errno)));
  }
  QrMatrix m(static_cast<size_t>(code->width), std::vector<bool>(code->width, false));
  for (int r = 0; r < code->width; ++r)
    for (int c = 0; c < code->width; ++c) m[r][c] = (code->data[r * code->width + c] & 1) != 0;
  return m;
}

std::string QrHalfBlocks(const QrMatrix& qr, int margin) {
  int size = static_cast<int>(qr.size()) + 2 * margin;
  std::string out;
  for (int r = 0; r < size; r += 2) {
    for (int c = 0; c < size; ++c) {
      bool top = Dark(qr, margin, r, c);
      bool bottom = Dark(qr, margin, r + 1, c);
      out += top && bottom ? "█" : top ? "▀" : bottom ? "▄" : " ";
    }
    out += '\n';
  }
  return out;
}

std::string QrSvg(const QrMatrix& qr, int scale, int margin) {
  int size = static_cast<int>(qr.size()) + 2 * margin;
  std::string path;
  for (int r = 0; r < size; ++r)
    for (int c = 0; c < size; ++c)
      if (Dark(qr, margin, r, c)) path += fmt::format("M{} {}h1v1h-1z", c, r);
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{0}\" "
      "viewBox=\"0 0 {1} {1}\" shape-rendering=\"crispEdges\">"
      "<rect width=\"{1}\" height=\"{1}\" fill=\"#fff\"/><path fill=\"#000\" d=\"{2}\"/></svg>",
      size * scale, size, path);
}

}  // namespace ctdump::crypt
