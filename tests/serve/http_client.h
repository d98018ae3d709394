// A raw HTTP/1.1 client over loopback TCP for the service's tests: it sends exactly the bytes it
// is given (attacks included) and reads one answer.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace vae_test {

struct HttpAnswer {
  int status = 0;  ///< 0: no answer (closed or timed out)
  std::string head, body;
};

/// A connected socket to 127.0.0.1:port, or -1.
inline int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/// Sends all of `data`; false when the peer closed or reset.
inline bool send_all(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

/// How long a test waits for an answer by default: 5 s, and 30 s under ThreadSanitizer
/// (scripts/test.sh --tsan), whose instrumented code runs the models many times slower.
#if defined(__SANITIZE_THREAD__)
constexpr int kAnswerTimeoutMs = 30000;
#else
constexpr int kAnswerTimeoutMs = 5000;
#endif

/// Reads one answer (head, then Content-Length bytes of body), waiting at most `timeout_ms`.
inline HttpAnswer read_answer(int fd, int timeout_ms = kAnswerTimeoutMs) {
  HttpAnswer a;
  std::string buf;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  size_t head_end = std::string::npos, need = std::string::npos;
  for (;;) {
    if (head_end == std::string::npos && (head_end = buf.find("\r\n\r\n")) != std::string::npos) {
      a.head = buf.substr(0, head_end);
      const size_t cl = a.head.find("Content-Length: ");
      need = head_end + 4 + (cl == std::string::npos ? 0 : std::stoul(a.head.substr(cl + 16)));
      if (a.head.size() > 12) a.status = std::stoi(a.head.substr(9, 3));
    }
    if (need != std::string::npos && buf.size() >= need) {
      a.body = buf.substr(head_end + 4, need - head_end - 4);
      return a;
    }
    const int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          deadline - std::chrono::steady_clock::now()).count());
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, left) <= 0) return HttpAnswer{};
    char chunk[65536];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return need == std::string::npos ? HttpAnswer{} : a;
    buf.append(chunk, static_cast<size_t>(n));
  }
}

/// One request on a new connection; the answer, or status 0.
inline HttpAnswer http_request(int port, const std::string& method, const std::string& target,
                               const std::string& body = "",
                               const std::string& headers = "Content-Type: application/json\r\n") {
  const int fd = connect_loopback(port);
  if (fd < 0) return {};
  const std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n" + headers +
                          (method == "POST" ? "Content-Length: " + std::to_string(body.size()) + "\r\n" : "") +
                          "Connection: close\r\n\r\n" + body;
  HttpAnswer a = send_all(fd, req) ? read_answer(fd) : HttpAnswer{};
  ::close(fd);
  return a;
}

}  // namespace vae_test
