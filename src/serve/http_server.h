// The service over HTTP/1.1 on TCP (Boost.Beast over Asio, one I/O thread, asynchronous): idle
// and slow connections hold no thread. A request is read whole (header within 16 KiB and
// ServeLimits::max_headers fields, body within max_body_bytes, chunked or not, all within
// read_timeout_s) before anything runs; routes that run a model go to a pool of worker threads
// behind a queue of queue_length (503 with Retry-After when full); the others are answered on
// the I/O thread at once, so /healthz stays quick whatever the workers are doing. The answer
// to a HEAD (a 405: no route takes HEAD) is its header alone, Content-Length that of the error.
//
// Transport errors answered here, each JSON {"error": ...} with Connection: close: 400 a request
// that is not HTTP, 411 a POST with neither Content-Length nor chunked encoding, 413 a body over
// the limit (a declared Content-Length before any of it is read; a chunked body as soon as it
// passes the limit), 431 more header fields than the limit or a header over 16 KiB.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "serve/service.h"

namespace vae::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  ///< 0: any free port (port() tells which)
  int workers = 1;  ///< threads that run models
  /// One access-log line per request ("<ip> "<method> <target>" <status> <bytes> <ms>ms"); none
  /// when empty. Called from the I/O thread.
  std::function<void(const std::string&)> access_log;
};

class HttpServer {
 public:
  /// Binds and listens (vae::Error "<host>:<port>: <why>" when it cannot); serves nothing yet.
  HttpServer(Service& service, ServerOptions options);
  ~HttpServer();
  int port() const;  ///< the bound port
  /// Serves until stop(); returns once every in-flight request is answered.
  void run();
  /// From any thread (a signal handler's thread): stops accepting, lets requests already read
  /// finish and their answers go out, closes idle connections, and makes run() return.
  void stop();

  struct Impl;  ///< the I/O loop, acceptor, workers and connection state (http_server.cpp)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vae::serve
