#include "http_client.hpp"

#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace dtask_test {

std::string http_reply::header(const std::string& name) const {
  auto key = "\r\n" + name + ": ";
  auto i = head.find(key);
  if (i == std::string::npos)
    return {};
  i += key.size();
  return head.substr(i, head.find("\r\n", i) - i);
}

int http_connect(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

http_reply http_exchange(int fd, const std::string& raw) {
  http_reply result;
  if (fd < 0)
    return result;
  size_t sent = 0;
  while (sent < raw.size()) {
    auto n = send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      break; // The server may answer (413, 431) before it read everything.
    sent += static_cast<size_t>(n);
  }
  std::string text;
  char buf[4096];
  for (;;) {
    auto n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  auto end = text.find("\r\n\r\n");
  if (text.compare(0, 5, "HTTP/") != 0 || end == std::string::npos)
    return result;
  result.head = text.substr(0, end + 2);
  result.body = text.substr(end + 4);
  result.status = std::atoi(text.c_str() + text.find(' ') + 1);
  return result;
}

http_reply http_raw(uint16_t port, const std::string& raw) {
  return http_exchange(http_connect(port), raw);
}

http_reply http_get(uint16_t port, const std::string& path) {
  return http_raw(port, "GET " + path
                          + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                            "Connection: close\r\n\r\n");
}

} // namespace dtask_test
