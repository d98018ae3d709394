// Boost.Beast 1.74 over Asio: one io_context run by the thread that calls run(); each connection
// a Session whose reads and writes are asynchronous, so a connection costs a socket and a buffer,
// not a thread. Model calls run on the WorkerPool; their answers are posted back to the I/O
// thread to be written.
#include "serve/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <chrono>
#include <optional>
#include <string>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "serve/codec.h"
#include "serve/worker_pool.h"
#include "vae/error.h"

namespace vae::serve {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
constexpr uint32_t kHeaderLimitBytes = 16 * 1024;
constexpr size_t kDrainLimitBytes = 1u << 20;  // read and dropped after an error answer
constexpr size_t kKeptBufferBytes = 16u << 10;  // most read buffer a connection keeps between requests
constexpr size_t kBodyStepBytes = 16u << 10;    // least a body's string grows by while it is read

// http::string_body whose reader appends a body's bytes: string_body's resizes the string first,
// which writes zeros over every byte it then copies over.
struct AppendStringBody : http::string_body {
  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}
    void init(const boost::optional<uint64_t>& length, beast::error_code& ec) {
      if (length) body_.reserve(static_cast<size_t>(*length));  // at most the body limit: checked before
      ec = {};
    }
    template <class ConstBufferSequence>
    size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      size_t n = 0;
      for (const auto b : beast::buffers_range_ref(buffers)) {
        body_.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      ec = {};
      return n;
    }
    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};
}  // namespace

struct HttpServer::Impl {
  Impl(Service& s, ServerOptions o)
      : service(s), opt(std::move(o)), acceptor(ioc),
        pool(opt.workers, s.limits().queue_length) {}
  void accept();
  void drain_then_stop();

  Service& service;
  ServerOptions opt;
  net::io_context ioc{1};
  tcp::acceptor acceptor;
  WorkerPool pool;
  std::atomic<size_t> connections{0};
  std::atomic<long> in_flight{0};
  std::atomic<bool> stopping{false};
  std::optional<net::steady_timer> drain_timer;
  int bound_port = 0;
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl& srv) : stream_(std::move(socket)), srv_(srv) {
    beast::error_code ec;
    const tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
    remote_ = ec ? "-" : peer.address().to_string();
    srv_.connections.fetch_add(1);
    srv_.service.metrics().connection_opened();
  }
  ~Session() {
    srv_.connections.fetch_sub(1);
    srv_.service.metrics().connection_closed();
  }

  void start() { read_request(); }

 private:
  const ServeLimits& limits() const { return srv_.service.limits(); }

  // A request is read whole, header and body, within read_timeout_s.
  void read_request() {
    parser_.emplace();
    head_ = false;
    length_ = 0;
    parser_->header_limit(kHeaderLimitBytes);
    parser_->body_limit(limits().max_body_bytes);
    stream_.expires_after(std::chrono::seconds(limits().read_timeout_s));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec == http::error::header_limit) return refuse(431, "request header: larger than 16 KiB");
    if (ec == http::error::body_limit)  // the parser compares a declared Content-Length at once
      return refuse(413, "request body: Content-Length over the limit of " +
                             std::to_string(limits().max_body_bytes) + " bytes");
    if (ec) return read_failed(ec);
    const auto& h = parser_->get();
    head_ = h.method() == http::verb::head;
    const size_t fields = static_cast<size_t>(std::distance(h.begin(), h.end()));
    if (fields > limits().max_headers)
      return refuse(431, "request header: " + std::to_string(fields) + " fields, more than " +
                             std::to_string(limits().max_headers));
    const auto length = parser_->content_length();
    if (h.method() == http::verb::post && !parser_->chunked() && !length)
      return refuse(411, "POST needs Content-Length (or chunked transfer encoding)");
    if (length && *length > limits().max_body_bytes)
      return refuse(413, "request body: " + std::to_string(*length) + " bytes, more than the limit of " +
                             std::to_string(limits().max_body_bytes));
    if (parser_->is_done()) return dispatch(parser_->release());  // no body
    if (length) return read_body(static_cast<size_t>(*length));
    http::async_read(stream_, buffer_, *parser_,  // chunked: Beast's parser takes the chunks apart
                     [self = shared_from_this()](beast::error_code e, size_t) { self->on_body(e); });
  }

  // A body of declared length (within the limit: checked above) goes straight into the request's
  // string: what the header's read already took is moved over from buffer_, the rest is received
  // in place — one copy by the kernel, none through buffer_ and the parser. An NPY body's values
  // are then used where they lie (codec.h). The string grows as the body arrives (by what the
  // socket holds, kBodyStepBytes at the least), never to the declared length at once: a client
  // that declares a large body and sends little of it costs the server little memory.
  void read_body(size_t length) {
    length_ = length;
    body_.reserve(length);  // address space only: the pages are touched as the string grows
    received_ = std::min(buffer_.size(), length);
    body_.resize(received_);
    net::buffer_copy(net::buffer(&body_[0], received_), buffer_.data());
    buffer_.consume(received_);
    read_body_some();
  }

  void read_body_some() {
    if (received_ == length_) return on_declared_body();
    if (received_ == body_.size()) {
      beast::error_code ignored;  // on an error, 0 bytes ready: one step
      const size_t ready = stream_.socket().available(ignored);
      body_.resize(received_ + std::min(length_ - received_, std::max(ready, kBodyStepBytes)));
    }
    stream_.async_read_some(net::buffer(&body_[received_], body_.size() - received_),
                            [self = shared_from_this()](beast::error_code e, size_t n) {
                              self->received_ += n;
                              if (e) return self->read_failed(e);
                              self->read_body_some();
                            });
  }

  void on_declared_body() {
    http::request<AppendStringBody> msg = parser_->release();
    msg.body() = std::move(body_);
    body_ = std::string();
    dispatch(std::move(msg));
  }

  void on_body(beast::error_code ec) {
    if (ec == http::error::body_limit)
      return refuse(413, "request body: more than the limit of " + std::to_string(limits().max_body_bytes) + " bytes");
    if (ec) return read_failed(ec);
    dispatch(parser_->release());
  }

  // A client that went away or timed out gets nothing; one that sent something that is not
  // HTTP gets a 400.
  void read_failed(beast::error_code ec) {
    if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream &&
        ec != http::error::partial_message)
      return refuse(400, "malformed HTTP request: " + ec.message());
    close();
  }

  void dispatch(http::request<AppendStringBody> msg) {
    HttpRequest req;
    req.method = std::string(msg.method_string());
    const std::string target(msg.target());
    const size_t q = target.find('?');
    req.path = target.substr(0, q);
    req.query = q == std::string::npos ? "" : target.substr(q + 1);
    req.content_type = std::string(msg[http::field::content_type]);
    req.accept = std::string(msg[http::field::accept]);
    req.body = std::move(msg.body());
    keep_alive_ = msg.keep_alive();
    begin(req.method + " " + target, Service::route_of(req.path));
    if (!Service::computes(req)) return write(srv_.service.handle(req));
    auto self = shared_from_this();
    const bool queued = srv_.pool.try_submit([self, req = std::move(req)] {
      HttpResponse res = self->srv_.service.handle(req);
      net::post(self->stream_.get_executor(),
                [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    });
    if (!queued) {
      HttpResponse busy{503, "application/json", json_error("busy: the request queue is full; retry later"), ""};
      write(std::move(busy));
    }
  }

  void begin(std::string line, std::string route) {
    request_line_ = std::move(line);
    route_ = std::move(route);
    started_ = Clock::now();
    srv_.in_flight.fetch_add(1);
    srv_.service.metrics().begin_request();
  }

  // An answer from the transport itself (the request is not read whole): sent, then the
  // connection is closed.
  void refuse(int status, const std::string& message) {
    keep_alive_ = false;
    begin("- -", "other");
    write(HttpResponse{status, "application/json", json_error(message), ""});
  }

  // The answer's head, written here, and its body, as the service gave it, go out in one
  // gathered write (one sendmsg): the head is what Beast's serializer wrote for an
  // http::response — status line, Server, Content-Type, Allow (a 405), Retry-After (a 503),
  // Connection: close when the connection ends, Content-Length — without its per-field
  // allocations and serializer; the head's string is the session's, reused from one answer to
  // the next.
  void write(HttpResponse r) {
    status_ = r.status;
    const bool keep = keep_alive_ && !srv_.stopping.load() && r.status < 500;
    const beast::string_view reason = http::obsolete_reason(static_cast<http::status>(r.status));
    head_out_.assign("HTTP/1.1 ").append(std::to_string(r.status)).append(" ");
    head_out_.append(reason.data(), reason.size());
    head_out_.append("\r\nServer: vae\r\nContent-Type: ").append(r.content_type).append("\r\n");
    if (!r.allow.empty()) head_out_.append("Allow: ").append(r.allow).append("\r\n");
    if (r.status == 503) head_out_.append("Retry-After: 1\r\n");
    if (!keep) head_out_.append("Connection: close\r\n");
    head_out_.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n\r\n");
    body_out_ = std::move(r.body);
    if (head_) body_out_.clear();  // an answer to HEAD: the header (Content-Length kept), no body
    stream_.expires_after(std::chrono::seconds(limits().write_timeout_s));
    const std::array<net::const_buffer, 2> out{net::buffer(head_out_), net::buffer(body_out_)};
    net::async_write(stream_, out, [self = shared_from_this(), keep](beast::error_code ec, size_t bytes) {
      self->on_write(ec, bytes, keep);
    });
  }

  void on_write(beast::error_code ec, size_t bytes, bool keep) {
    finish(bytes);
    body_out_ = std::string();  // an idle connection keeps no answer's body
    if (ec) return close();
    if (!keep) return drain_and_close();
    // An idle connection keeps no body-sized buffer. One whose request had a body of declared
    // length under 16 KiB gets a read buffer of 16 KiB (the body itself went into its own string,
    // not through buffer_, which would otherwise stay at Beast's first 512 bytes), so that the
    // next such request, header and body, is taken by the header's one read: one recv, where a
    // buffer of 512 bytes took a recv for those, an ioctl (FIONREAD) and a recv for the rest.
    if (buffer_.capacity() > kKeptBufferBytes) buffer_.shrink_to_fit();
    else if (length_ > 0 && length_ < kKeptBufferBytes) buffer_.reserve(kKeptBufferBytes);
    read_request();
  }

  void finish(size_t bytes) {
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    srv_.service.metrics().record(route_, status_, seconds);
    srv_.service.metrics().end_request();
    srv_.in_flight.fetch_sub(1);
    if (srv_.opt.access_log) {
      char ms[32];
      std::snprintf(ms, sizeof ms, "%.3fms", seconds * 1e3);
      srv_.opt.access_log(remote_ + " \"" + request_line_ + "\" " + std::to_string(status_) + " " +
                          std::to_string(bytes) + " " + ms);
    }
  }

  // Half-closes, then reads and drops what the client still sends (up to 1 MiB or one second),
  // so that the answer is not lost to a reset when the client is still sending a refused body.
  void drain_and_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(1));
    drain_some();
  }
  void drain_some() {
    stream_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kDrainLimitBytes) return self->close();
      self->drain_some();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& srv_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<AppendStringBody>> parser_;
  std::string body_;         // a body of declared length while it is read: (received_ ≤ size ≤ length_)
  std::string head_out_, body_out_;  // the answer being written: its head, its body
  size_t received_ = 0, length_ = 0;
  std::string remote_, request_line_, route_;
  Clock::time_point started_;
  int status_ = 0;
  bool keep_alive_ = true;
  bool head_ = false;  // the request is a HEAD: its answer has no body
  size_t drained_ = 0;
  std::array<char, 4096> scratch_;
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(ioc, [this](beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;
    if (ec) {  // out of descriptors, most likely: try again shortly rather than spin
      auto t = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(10));
      t->async_wait([this, t](beast::error_code) { accept(); });
      return;
    }
    if (connections.load() < service.limits().max_connections && !stopping.load()) {
      beast::error_code ignored;  // answers go out at once, not held back for coalescing (Nagle)
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Session>(std::move(socket), *this)->start();
    }
    accept();
  });
}

// Waits for the requests already read to be answered (checked every 5 ms, at most
// write_timeout_s + 1 seconds), then stops the loop; idle connections close with it.
void HttpServer::Impl::drain_then_stop() {
  const auto deadline = Clock::now() + std::chrono::seconds(service.limits().write_timeout_s + 1);
  auto tick = std::make_shared<std::function<void()>>();
  *tick = [this, deadline, tick] {
    if (in_flight.load() == 0 || Clock::now() > deadline) {
      ioc.stop();
      *tick = nullptr;  // breaks the cycle
      return;
    }
    drain_timer->expires_after(std::chrono::milliseconds(5));
    drain_timer->async_wait([tick](beast::error_code) { if (*tick) (*tick)(); });
  };
  drain_timer.emplace(ioc);
  (*tick)();
}

HttpServer::HttpServer(Service& service, ServerOptions options)
    : impl_(std::make_unique<Impl>(service, std::move(options))) {
  const std::string where = impl_->opt.host + ":" + std::to_string(impl_->opt.port);
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(impl_->opt.host, ec);
  if (ec) throw Error(where + ": not an IP address (" + ec.message() + ")");
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(impl_->opt.port));
  tcp::acceptor& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw Error(where + ": cannot listen (" + ec.message() + ")");
  impl_->bound_port = a.local_endpoint().port();
}

HttpServer::~HttpServer() = default;

int HttpServer::port() const { return impl_->bound_port; }

void HttpServer::run() {
  impl_->accept();
  impl_->ioc.run();
}

void HttpServer::stop() {
  net::post(impl_->ioc, [impl = impl_.get()] {
    if (impl->stopping.exchange(true)) return;
    impl->service.set_stopping();
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->drain_then_stop();
  });
}

}  // namespace vae::serve
