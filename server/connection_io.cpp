#include "server/connection_io.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <optional>
#include <string_view>

namespace ut::server {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

bool wait_fd(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  int r;
  do r = ::poll(&p, 1, static_cast<int>(timeout.count()));
  while (r < 0 && errno == EINTR);
  return r > 0 && (p.revents & (events | POLLHUP | POLLERR));
}

// The connection's peer still there: no hang-up, and not at end of input (what cpp-httplib's is_socket_alive checks).
bool peer_alive(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return true;
  if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) return false;
  char c;
  return ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if ((peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len)
            : ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len)) != 0)
    return;
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    port = ntohs(in->sin_port);
  } else if (a.ss_family == AF_INET6) {
    auto* in = reinterpret_cast<sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &in->sin6_addr, buf, sizeof buf);
    port = ntohs(in->sin6_port);
  }
  ip = buf;
}

// The headers of the request at the front of in: complete (framing known), more needed, or an error to answer.
Frame frame_headers(std::string& in, Framing& f, const ConnectionLimits& limits, Reply& err, bool& expect_continue) {
  const auto end = in.find("\r\n\r\n", f.scanned >= 3 ? f.scanned - 3 : 0);
  if (end == std::string::npos || end + 4 > limits.max_header_bytes) {
    f.scanned = in.size();
    if (in.size() <= limits.max_header_bytes) return Frame::more;
    err = {431, "the request headers exceed " + std::to_string(limits.max_header_bytes) + " bytes"};
    return Frame::error;
  }
  std::optional<uint64_t> length;
  bool te = false, chunked = false;
  std::size_t expect_at = std::string::npos, expect_len = 0;
  std::size_t pos = in.find("\r\n");  // end of the request line
  while (pos < end) {
    const std::size_t start = pos + 2, stop = in.find("\r\n", start);
    const std::string_view line(in.data() + start, stop - start);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return err = {400, "malformed header line"}, Frame::error;
    const std::string_view name = trim(line.substr(0, colon)), value = trim(line.substr(colon + 1));
    if (iequals(name, "Content-Length")) {
      uint64_t v = 0;
      const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (value.empty() || ec != std::errc() || p != value.data() + value.size() || (length && *length != v))
        return err = {400, "malformed Content-Length"}, Frame::error;
      length = v;
    } else if (iequals(name, "Transfer-Encoding")) {
      te = true;
      chunked = value.size() >= 7 && iequals(value.substr(value.size() - 7), "chunked");
    } else if (iequals(name, "Expect") && iequals(value, "100-continue")) {
      expect_at = start;
      expect_len = stop + 2 - start;
    }
    pos = stop;
  }
  if (te && length) return err = {400, "both Content-Length and Transfer-Encoding"}, Frame::error;
  if (te && !chunked) return err = {400, "unsupported Transfer-Encoding (only chunked)"}, Frame::error;
  if (length && *length > limits.max_body_bytes)
    return err = {413, "request body of " + std::to_string(*length) + " bytes exceeds the limit of " +
                           std::to_string(limits.max_body_bytes)}, Frame::error;
  f.header_end = end + 4;
  if (expect_at != std::string::npos) {  // answered here, so the library does not answer it again
    in.erase(expect_at, expect_len);
    f.header_end -= expect_len;
    expect_continue = true;
  }
  f.chunked = chunked;
  f.body_end = f.header_end + length.value_or(0);
  f.chunk_pos = f.header_end;
  return Frame::complete;
}

// Chunked framing: size lines, data, the last chunk and its trailers; only checked here, decoded by the library.
Frame frame_chunks(const std::string& in, Framing& f, const ConnectionLimits& limits, Reply& err) {
  for (;;) {
    const auto eol = in.find("\r\n", f.chunk_pos);
    if (eol == std::string::npos)
      return in.size() - f.chunk_pos > 4096 ? (err = {400, "chunk line too long"}, Frame::error) : Frame::more;
    const std::string_view line(in.data() + f.chunk_pos, eol - f.chunk_pos);
    if (f.trailer) {
      f.chunk_pos = eol + 2;
      if (line.empty()) return Frame::complete;
      continue;
    }
    const std::string_view hex = trim(line.substr(0, line.find(';')));
    uint64_t size = 0;
    const auto [p, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), size, 16);
    if (hex.empty() || hex.size() > 15 || ec != std::errc() || p != hex.data() + hex.size())
      return err = {400, "malformed chunk size"}, Frame::error;
    if (size == 0) {
      f.trailer = true;
      f.chunk_pos = eol + 2;
      continue;
    }
    if (f.body_bytes + size > limits.max_body_bytes)
      return err = {413, "request body exceeds the limit of " + std::to_string(limits.max_body_bytes) + " bytes"},
             Frame::error;
    const std::size_t data_end = eol + 2 + size;
    if (in.size() < data_end + 2) return Frame::more;
    if (in.compare(data_end, 2, "\r\n") != 0) return err = {400, "malformed chunk"}, Frame::error;
    f.body_bytes += size;
    f.chunk_pos = data_end + 2;
  }
}

}  // namespace ut::server
