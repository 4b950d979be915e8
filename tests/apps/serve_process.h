// `ut serve` as a child process on a free loopback port, for the tests that drive it as a user would.
//
//   ut::test::ServeProcess s({"--db", db, "--chat-model", path});   // returns once it printed its banner
//   ... http://127.0.0.1:<s.port> ...
//   int status = s.stop();                                         // SIGTERM, then the wait status
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace ut::test {

inline int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

class ServeProcess {
 public:
  // `ut serve --port <free> ARGS...`; `up` is false when it exited before printing "ut serve:".
  explicit ServeProcess(const std::vector<std::string>& args) : port(free_port()) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid = fork();
    if (pid == 0) {
      const rlimit no_core{0, 0};  // a test that kills it on purpose (SIGBUS) leaves no core file behind
      setrlimit(RLIMIT_CORE, &no_core);
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      std::vector<std::string> all{UT_BINARY, "serve", "--port", std::to_string(port)};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(UT_BINARY, argv.data());
      _exit(127);
    }
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
    char line[1024];
    while (!up && out_ && std::fgets(line, sizeof line, out_)) up = std::string(line).rfind("ut serve:", 0) == 0;
  }
  ~ServeProcess() { stop(); }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // SIGTERM (when still running) and the wait status; -1 when there was no process.
  int stop() {
    if (pid <= 0) return status_;
    kill(pid, SIGTERM);
    waitpid(pid, &status_, 0);
    pid = -1;
    if (out_) std::fclose(out_);
    out_ = nullptr;
    return status_;
  }
  // Whether the process is still running (reaps it, keeping its status, when it ended).
  bool alive() {
    if (pid <= 0) return false;
    if (waitpid(pid, &status_, WNOHANG) == 0) return true;
    pid = -1;
    return false;
  }
  int last_status() const { return status_; }

  int port = 0;
  pid_t pid = -1;
  bool up = false;

 private:
  FILE* out_ = nullptr;
  int status_ = -1;
};

}  // namespace ut::test
