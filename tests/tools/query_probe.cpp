// Test helper run inside a session: asks the terminal for the cursor position (DSR 6n) and
// device attributes (DA1), counts the answers that arrive within a second, prints them and
// then waits. Proves a query gets exactly one answer, attached or not.
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <string>

int main() {
  termios t{};
  tcgetattr(0, &t);
  termios raw = t;
  cfmakeraw(&raw);
  tcsetattr(0, TCSANOW, &raw);
  std::printf("\x1b[3;7Hprobe");
  std::fflush(stdout);
  const char q[] = "\x1b[6n\x1b[c";
  if (write(1, q, sizeof q - 1) < 0) return 1;
  std::string got;
  for (;;) {
    pollfd p{0, POLLIN, 0};
    if (poll(&p, 1, 1000) <= 0) break;
    char buf[256];
    const ssize_t n = read(0, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  int cpr = 0, da = 0;
  std::string first;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] != '\x1b') continue;
    const auto end = got.find_first_of("Rc", i);
    if (end == std::string::npos) break;
    if (got[end] == 'R') {
      ++cpr;
      if (first.empty()) first = got.substr(i + 1, end - i);
    } else {
      ++da;
    }
    i = end;
  }
  tcsetattr(0, TCSANOW, &t);
  std::printf("\r\nanswers cpr=%d da=%d first=%s\r\n", cpr, da, first.c_str());
  std::fflush(stdout);
  pause();
  return 0;
}
