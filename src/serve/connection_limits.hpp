// The limits a server puts on each connection and on all of them together (deadlines, sizes,
// counts), given by `lmlab serve`'s flags (server_options::connections) and applied by
// connection.hpp. Kept apart from connection.hpp so that server.hpp need not include httplib.
// Not for: the number of requests generating at once (server_options::threads).
#pragma once

#include <cstddef>

namespace lmlab::serve {

struct connection_limits {
  std::size_t max_connections = 256;           // served at once (one thread each); more get 503
  double header_timeout_s = 10;                // request line + headers, from their first byte
  double body_timeout_s = 30;                  // the whole body, from the end of the headers
  double write_timeout_s = 30;                 // each write to a client that does not read
  double keep_alive_timeout_s = 5;             // idle wait for the next request on a connection
  std::size_t max_header_bytes = 64 * 1024;    // request line + headers
  std::size_t max_body_bytes = 8u << 20;       // body; a chunked body may add 1/4 of framing
  // Bodies held by all requests in progress together (each up to max_body_bytes * 1.25 on
  // the wire): past this a request is answered 503, so that max_connections large uploads
  // cannot hold max_connections * max_body_bytes of memory.
  std::size_t max_body_bytes_in_flight = 64u << 20;
  std::size_t max_requests_per_connection = 1000;
};

}  // namespace lmlab::serve
