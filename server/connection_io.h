// The bytes of one connection (server/connections.h): framing a request as it arrives, so that a worker gets it
// only when it is complete, and the httplib::Stream a worker answers it through.
//
//   ut::server::Framing f;
//   ut::server::Reply err;
//   bool expect_continue = false;
//   std::string in = "POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
//   if (frame_headers(in, f, limits, err, expect_continue) == ut::server::Frame::complete && in.size() >= f.body_end)
//     ...;  // complete: f.body_end bytes (chunked bodies: frame_chunks until it says complete)
//
// Framing only checks: Content-Length (one value), Transfer-Encoding chunked (not both), size limits (431, 413),
// an Expect: 100-continue line (removed from `in`, answered by the caller). The library parses and decodes.
#pragma once

#include <httplib.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "server/connections.h"

namespace ut::server {

struct Reply {
  int status = 0;
  std::string message;
};

enum class Frame { more, complete, error };

// Where the request at the front of a connection's bytes stands.
struct Framing {
  std::size_t scanned = 0;     // the header search resumes here
  std::size_t header_end = 0;  // after the blank line
  std::size_t body_end = 0;    // Content-Length framing: the end of the body
  std::size_t chunk_pos = 0;   // chunked framing: the next size line
  std::size_t body_bytes = 0;  // chunked framing: data so far
  bool chunked = false, trailer = false;
};

Frame frame_headers(std::string& in, Framing& f, const ConnectionLimits& limits, Reply& err, bool& expect_continue);
Frame frame_chunks(const std::string& in, Framing& f, const ConnectionLimits& limits, Reply& err);

// The peer neither hung up nor ended its input; the address of either end.
bool peer_alive(int fd);
void address_of(int fd, bool peer, std::string& ip, int& port);

// poll() for `events` (or a hang-up) up to `timeout`.
bool wait_fd(int fd, short events, std::chrono::milliseconds timeout);

// One request's bytes for process_request: those the reactor read, then (should the library want more) the socket.
class ConnStream final : public httplib::Stream {
 public:
  ConnStream(int fd, std::string& in, const ConnectionLimits& limits) : fd_(fd), in_(in), limits_(limits) {}
  bool is_readable() const override { return pos_ < in_.size() || wait_fd(fd_, POLLIN, limits_.body_timeout); }
  bool is_writable() const override { return wait_fd(fd_, POLLOUT, limits_.write_timeout) && peer_alive(fd_); }
  ssize_t read(char* ptr, size_t size) override {
    if (pos_ < in_.size()) {
      const std::size_t n = std::min(size, in_.size() - pos_);
      std::memcpy(ptr, in_.data() + pos_, n);
      pos_ += n;
      return static_cast<ssize_t>(n);
    }
    if (!wait_fd(fd_, POLLIN, limits_.body_timeout)) return -1;
    ssize_t r;
    do r = ::recv(fd_, ptr, size, 0);
    while (r < 0 && errno == EINTR);
    return r;
  }
  ssize_t write(const char* ptr, size_t size) override {
    std::size_t done = 0;
    while (done < size) {
      const ssize_t r = ::send(fd_, ptr + done, size - done, MSG_NOSIGNAL);
      if (r > 0) {
        done += static_cast<std::size_t>(r);
      } else if (r < 0 && errno == EINTR) {
        continue;
      } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(fd_, POLLOUT, limits_.write_timeout)) {
        continue;
      } else {
        return -1;
      }
    }
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(fd_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(fd_, false, ip, port); }
  socket_t socket() const override { return fd_; }
  void consume() {  // what remains is the client's next (pipelined) request
    in_.erase(0, pos_);
    pos_ = 0;
  }

 private:
  int fd_;
  std::string& in_;
  const ConnectionLimits& limits_;
  std::size_t pos_ = 0;
};


}  // namespace ut::server
