// Bytes a TCP socket has received so far (Linux TCP_INFO's tcpi_bytes_received), so that the
// client's watchdog can bound what httplib reads without a limit (response headers). A file
// of its own because the kernel's struct tcp_info (linux/tcp.h) clashes with glibc's
// netinet/tcp.h, which httplib.h includes.
// Not for: anything but a connected TCP socket (others read as 0).
#pragma once

#include <cstdint>

namespace lmlab::probe {

std::uint64_t tcp_bytes_received(int fd);

}  // namespace lmlab::probe
