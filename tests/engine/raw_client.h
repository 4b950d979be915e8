// Raw TCP clients for the connection tests: what a slow or hostile client sends, byte for byte.
//
//   ut::test::RawClient c(port);          // connected (blocking), with a 60 s receive limit as a hang guard
//   c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
//   std::string reply = c.read_until_close();   // everything until the server closes (or the guard)
//   bool open = c.open_by_server();               // the server has neither closed nor answered (no wait)
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

namespace ut::test {

class RawClient {
 public:
  explicit RawClient(int port, int guard_seconds = 60) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{guard_seconds, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect failed");
    }
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void send(const std::string& s) const { (void)::send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }
  // Reads until the server closes; `closed` tells whether it did (false: the guard ran out or an error).
  std::string read_until_close(bool* closed = nullptr) const {
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (closed) *closed = n == 0;
      return out;
    }
  }
  // Nothing from the server yet: no bytes and no end of input (checked now, without waiting).
  bool open_by_server() const {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    return ::poll(&p, 1, 0) == 0;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// The body of an HTTP response (after the blank line), and one header's value ("" when absent).
inline std::string http_body(const std::string& reply) {
  const auto at = reply.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : reply.substr(at + 4);
}
inline std::string http_header(const std::string& reply, const std::string& name) {
  const auto at = reply.find("\r\n" + name + ": ");
  if (at == std::string::npos) return {};
  const auto from = at + name.size() + 4;
  return reply.substr(from, reply.find("\r\n", from) - from);
}

}  // namespace ut::test
