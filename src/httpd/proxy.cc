#include "httpd/proxy.h"

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>

#include "channel/channel.h"
#include "channel/channel_format.h"
#include "channel/control.h"
#include "ctdump/version.h"
#include "httpd/gzip.h"

namespace ctdump::httpd {
namespace {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr size_t kMaxHead = 16 * 1024;
constexpr size_t kMaxFields = 100;
constexpr size_t kMaxTarget = 8 * 1024;
constexpr size_t kMaxConnections = 256;
constexpr size_t kMaxPerClient = 32;
constexpr size_t kMaxInFlight = 64;
constexpr size_t kBufferedResponse = 4u << 20;  // larger bodies are streamed
constexpr auto kHandshakeTimeout = 10s;
constexpr auto kRequestTimeout = 30s;
constexpr auto kUnauthorizedDelay = 3s;

constexpr const char* kCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

void LogError(std::string_view what) {
  std::fprintf(stderr, "ctdump-api proxy: %.*s\n", static_cast<int>(what.size()), what.data());
}

template <class Fields>
void AddCommonHeaders(http::header<false, Fields>& h) {
  h.set(http::field::server, fmt::format("ctdump-api/{}", Version()));
  h.set("Content-Security-Policy", kCsp);
  h.set("X-Content-Type-Options", "nosniff");
  h.set("X-Frame-Options", "DENY");
  h.set("Referrer-Policy", "no-referrer");
}

uint32_t LoadLe32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// The control socket: channel requests out, grants and refusals in.
class ControlLink {
 public:
  // A grant's descriptor, or (invalid fd) the HTTP status of a refusal.
  using GrantFn = std::function<void(sys::UniqueFd fd, int refused_status)>;

  ControlLink(net::io_context& ioc, int fd) : ioc_(ioc), fd_(fd), desc_(ioc, fd) {}

  void Start() { Arm(); }
  int exit_code() const { return exit_code_; }

  void Open(GrantFn fn) {
    uint32_t id = next_id_++;
    Status s = channel::SendOpen(fd_, id);
    if (!s.ok()) return Stop(s.code() == Code::kUnavailable ? 0 : 1, s.message());
    pending_.emplace(id, std::move(fn));
  }

 private:
  void Arm() {
    desc_.async_wait(net::posix::stream_descriptor::wait_read, [this](beast::error_code ec) {
      if (ec) return Stop(1, "control socket: " + ec.message());
      while (Readable()) {
        auto r = channel::ReceiveControl(fd_);
        if (!r.ok())
          return Stop(r.status().code() == Code::kUnavailable ? 0 : 1,
                      "control socket: " + r.status().message());
        auto it = pending_.find(r->message.request_id);
        if (r->message.type == channel::ControlType::kOpen || it == pending_.end())
          return Stop(1, "control socket: an unexpected message");
        GrantFn fn = std::move(it->second);
        pending_.erase(it);
        if (r->message.type == channel::ControlType::kGrant) {
          fn(std::move(r->fd), 0);
        } else {
          fn(sys::UniqueFd(), r->message.status);
        }
      }
      Arm();
    });
  }

  bool Readable() const {
    struct pollfd p = {fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0 && p.revents != 0;
  }

  // The privileged part is gone (0) or talks nonsense (1): nothing may be
  // answered any more.
  void Stop(int code, const std::string& why) {
    if (code != 0) LogError(why);
    exit_code_ = code;
    ioc_.stop();
  }

  net::io_context& ioc_;
  int fd_;
  net::posix::stream_descriptor desc_;
  uint32_t next_id_ = 1;
  std::map<uint32_t, GrantFn> pending_;
  int exit_code_ = 0;
};

struct Shared {
  net::io_context ioc;
  ssl::context tls{ssl::context::tls_server};
  Assets assets;
  std::unique_ptr<ControlLink> control;
  size_t connections = 0;
  std::map<std::string, size_t> per_client;
  size_t in_flight = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Shared& s, tcp::socket socket, std::string client)
      : s_(s), tcp_(std::move(socket)), client_(std::move(client)), timer_(s.ioc) {
    ++s_.connections;
    ++s_.per_client[client_];
  }
  ~Session() {
    --s_.connections;
    if (--s_.per_client[client_] == 0) s_.per_client.erase(client_);
    if (forwarding_) --s_.in_flight;
  }

  void Start() {
    tcp_.expires_after(kHandshakeTimeout);
    beast::async_detect_ssl(
        tcp_, buffer_, [self = shared_from_this()](beast::error_code ec, bool tls) {
          if (ec) return;
          if (!tls) return self->PlainHttp();
          self->stream_.emplace(std::move(self->tcp_), self->s_.tls);
          self->stream_->async_handshake(ssl::stream_base::server, self->buffer_.data(),
                                         [self](beast::error_code ec, size_t used) {
                                           if (ec) return;
                                           self->buffer_.consume(used);
                                           self->ReadRequest();
                                         });
        });
  }

 private:
  using StringResponse = http::response<http::string_body>;

  // A plain-HTTP request on the TLS port: told so in clear, then closed.
  void PlainHttp() {
    auto text = std::make_shared<std::string>(
        "HTTP/1.1 400 use https\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n"
        "Connection: close\r\n\r\nuse https\n");
    net::async_write(tcp_, net::buffer(*text),
                     [self = shared_from_this(), text](beast::error_code, size_t) {
                       beast::error_code ignored;
                       self->tcp_.socket().shutdown(tcp::socket::shutdown_both, ignored);
                     });
  }

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(kMaxHead);
    parser_->body_limit(channel::kMaxRequestBody);
    beast::get_lowest_layer(*stream_).expires_after(kRequestTimeout);
    http::async_read(
        *stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRequest(ec); });
  }

  void OnRequest(beast::error_code ec) {
    received_ = Steady::now();
    received_wall_ =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::eof ||
        ec == ssl::error::stream_truncated)
      return Close();
    if (ec == http::error::body_limit) return Simple(413, "request entity too large");
    if (ec == http::error::header_limit) return Simple(431, "request header fields too large");
    if (ec) return Simple(400, "bad request");
    beast::get_lowest_layer(*stream_).expires_never();
    const auto& req = parser_->get();
    size_t fields = 0;
    for (auto it = req.begin(); it != req.end(); ++it) ++fields;
    if (fields > kMaxFields) return Simple(431, "request header fields too large");
    if (req.target().size() > kMaxTarget) return Simple(414, "request URI too long");
    keep_alive_ = req.keep_alive();
    auto accept = req[http::field::accept_encoding];
    gzip_ = AcceptsGzip(std::string_view(accept.data(), accept.size()));
    head_only_ = req.method() == http::verb::head;
    std::string_view target(req.target().data(), req.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    switch (req.method()) {
      case http::verb::get:
      case http::verb::head:
      case http::verb::post:
      case http::verb::put:
      case http::verb::delete_:
        break;
      default:
        return Simple(501, "method not implemented");
    }
    if (path.substr(0, 10) == "/api2/json" || path == "/api2/openapi.json") {
      if (head_only_) return Simple(501, "method not implemented");
      return Forward();
    }
    if (req.method() != http::verb::get && req.method() != http::verb::head)
      return Simple(501, "method not implemented");
    if (path == "/" || path == "/index.html")
      return Static(s_.assets.index_html, s_.assets.index_gzipped, "text/html; charset=utf-8",
                    "no-cache");
    std::string prefix = "/static/" + s_.assets.tag + "/";
    if (path.substr(0, prefix.size()) == prefix) {
      if (const Asset* a = s_.assets.Find(path.substr(prefix.size())))
        return Static(a->content, a->gzipped, a->content_type, "max-age=31536000, immutable");
    }
    Simple(404, "not found");
  }

  void Static(const std::string& content, const std::string& gzipped,
              const std::string& content_type, const char* cache) {
    auto res = std::make_shared<StringResponse>(http::status::ok, 11);
    AddCommonHeaders(*res);
    res->set(http::field::content_type, content_type);
    res->set(http::field::cache_control, cache);
    res->set(http::field::vary, "Accept-Encoding");
    bool z = gzip_ && !gzipped.empty();
    if (z) res->set(http::field::content_encoding, "gzip");
    res->body() = head_only_ ? std::string() : (z ? gzipped : content);
    res->content_length((z ? gzipped : content).size());
    Send(res, 200);
  }

  // A short answer of the proxy's own; ≥ 400 closes the connection.
  void Simple(int status, std::string reason) {
    auto res = std::make_shared<StringResponse>(static_cast<http::status>(status), 11);
    AddCommonHeaders(*res);
    res->reason(reason);
    res->set(http::field::content_type, "text/plain; charset=utf-8");
    res->body() = head_only_ ? std::string() : reason + "\n";
    res->content_length(reason.size() + 1);
    Send(res, status);
  }

  void Send(const std::shared_ptr<StringResponse>& res, int status) {
    bool keep = keep_alive_ && status < 400;
    res->keep_alive(keep);
    if (!stream_) return Close();
    http::async_write(*stream_, *res,
                      [self = shared_from_this(), res, keep](beast::error_code ec, size_t) {
                        if (ec || !keep) return self->Close();
                        self->ReadRequest();
                      });
  }

  void Close() {
    timer_.cancel();
    if (channel_) channel_->close();
    if (!stream_) {
      beast::error_code ignored;
      tcp_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    beast::get_lowest_layer(*stream_).expires_after(5s);
    stream_->async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      beast::get_lowest_layer(*self->stream_)
          .socket()
          .shutdown(tcp::socket::shutdown_both, ignored);
    });
  }

  // ---- Forwarding to the privileged part ----

  void Forward() {
    if (s_.in_flight >= kMaxInFlight) return Simple(503, "too many requests in progress");
    const auto& req = parser_->get();
    channel::RequestHeader h;
    h.method = std::string(req.method_string());
    h.target = std::string(req.target());
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!channel::IsForwardedRequestHeader(name)) continue;
      if (h.headers.count(name)) return Simple(400, "repeated header " + name);
      h.headers[name] = std::string(f.value());
    }
    h.client = client_;
    h.received = received_wall_;
    auto bytes = channel::EncodeRequest(h, req.body());
    if (!bytes.ok()) return Simple(400, "bad request");
    request_bytes_ = std::move(*bytes);
    // A keep-alive connection's previous request left its state here.
    timed_out_ = buffered_ = chunked_ = response_started_ = false;
    sent_ = 0;
    body_.clear();
    frame_.clear();
    stream_head_.reset();
    serializer_.reset();
    forwarding_ = true;
    ++s_.in_flight;
    // The pending grant keeps the session alive (nothing else does while
    // it waits); a client gone meanwhile shows on the first write.
    s_.control->Open([self = shared_from_this()](sys::UniqueFd fd, int refused) {
      if (!fd.valid()) {
        self->EndForward();
        return self->Simple(refused ? refused : 503, "too many requests in progress");
      }
      self->OnChannel(std::move(fd));
    });
  }

  void EndForward() {
    if (forwarding_) --s_.in_flight;
    forwarding_ = false;
    timer_.cancel();
    if (channel_) {
      beast::error_code ignored;
      channel_->close(ignored);
      channel_.reset();
    }
  }

  // Arms the channel's deadline: when it passes, the channel is closed and
  // the pending operation fails.
  void Deadline(std::chrono::seconds d) {
    timer_.expires_after(d);
    timer_.async_wait([weak = std::weak_ptr<Session>(shared_from_this())](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->timed_out_ = true;
      if (self->channel_) self->channel_->cancel();
    });
  }

  void OnChannel(sys::UniqueFd fd) {
    channel_.emplace(s_.ioc);
    beast::error_code ec;
    channel_->assign(net::local::stream_protocol(), fd.Release(), ec);
    if (ec) {
      EndForward();
      return Simple(502, "bad gateway");
    }
    Deadline(std::chrono::duration_cast<std::chrono::seconds>(channel::kRequestTimeout));
    net::async_write(*channel_, net::buffer(request_bytes_),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->ChannelFailed();
                       self->request_bytes_.clear();
                       self->Deadline(std::chrono::duration_cast<std::chrono::seconds>(
                           channel::kResponseHeadTimeout));
                       self->ReadHeadPrefix();
                     });
  }

  void ChannelFailed() {
    bool timed_out = timed_out_;
    EndForward();
    if (response_started_) return Close();  // a truncated transfer, never a complete one
    if (timed_out) return Simple(504, "request timed out");
    Simple(502, "bad gateway");
  }

  void ReadHeadPrefix() {
    net::async_read(*channel_, net::buffer(prefix_),
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      if (ec) return self->ChannelFailed();
                      uint32_t n = LoadLe32(self->prefix_.data() + channel::kHeadLengthOffset);
                      if (std::memcmp(self->prefix_.data(), channel::kResponseMagic, 4) != 0 ||
                          n == 0 || n > channel::kMaxHeaderSize)
                        return self->ChannelFailed();
                      self->head_json_.resize(n);
                      self->ReadHead();
                    });
  }

  void ReadHead() {
    net::async_read(*channel_, net::buffer(head_json_),
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      if (ec) return self->ChannelFailed();
                      std::string all(reinterpret_cast<const char*>(self->prefix_.data()),
                                      self->prefix_.size());
                      all += self->head_json_;
                      channel::BufferReader r(all);
                      auto head = channel::ReadResponseHead(r);
                      if (!head.ok()) return self->ChannelFailed();
                      self->response_ = std::move(*head);
                      self->OnResponseHead();
                    });
  }

  void OnResponseHead() {
    // Small answers (JSON) are collected and sent whole (gzip possible);
    // downloads are streamed as they come.
    body_.clear();
    buffered_ = response_.length && *response_.length <= kBufferedResponse;
    if (buffered_) return ReadFrame();
    auto after = [self = shared_from_this()] { self->StartStream(); };
    DelayIfUnauthorized(after);
  }

  void DelayIfUnauthorized(std::function<void()> then) {
    if (response_.status != 401) return then();
    timer_.expires_at(received_ + kUnauthorizedDelay);
    timer_.async_wait([self = shared_from_this(), then](beast::error_code) { then(); });
  }

  template <class Fields>
  void ApplyResponseHeaders(http::header<false, Fields>& h) {
    AddCommonHeaders(h);
    h.result(static_cast<unsigned>(response_.status));
    h.reason(channel::SanitizeReason(response_.status, response_.reason));
    bool cache = false;
    for (const auto& [name, value] : response_.headers) {
      if (name == "Set-Cookie") {
        h.insert(http::field::set_cookie, value);
      } else {
        h.set(name, value);
      }
      cache = cache || name == "Cache-Control";
    }
    if (!cache) {
      h.set(http::field::cache_control, "max-age=0");
      h.set(http::field::pragma, "no-cache");
    }
  }

  void ReadFrame() {
    Deadline(std::chrono::duration_cast<std::chrono::seconds>(channel::kBodyFrameTimeout));
    net::async_read(*channel_, net::buffer(frame_len_),
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      if (ec) return self->ChannelFailed();
                      uint32_t n = LoadLe32(self->frame_len_.data());
                      if (n == channel::kEndFrame) return self->OnBodyEnd();
                      if (n == channel::kAbortFrame || n > channel::kMaxBodyFrame)
                        return self->ChannelFailed();
                      self->frame_.resize(n);
                      net::async_read(*self->channel_, net::buffer(self->frame_),
                                      [self](beast::error_code ec, size_t) {
                                        if (ec) return self->ChannelFailed();
                                        self->OnFrame();
                                      });
                    });
  }

  void OnFrame() {
    sent_ += frame_.size();
    if (response_.length && sent_ > *response_.length) return ChannelFailed();
    if (buffered_) {
      body_ += frame_;
      return ReadFrame();
    }
    auto done = [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->EndForwardAndClose();
      self->ReadFrame();
    };
    if (chunked_) {
      net::async_write(*stream_, http::make_chunk(net::buffer(frame_)), done);
    } else {
      net::async_write(*stream_, net::buffer(frame_), done);
    }
  }

  void EndForwardAndClose() {
    EndForward();
    Close();
  }

  void OnBodyEnd() {
    if (response_.length && sent_ != *response_.length) return ChannelFailed();
    int status = response_.status;
    bool keep = keep_alive_ && status < 400;
    if (buffered_) {
      EndForward();
      auto res = std::make_shared<StringResponse>();
      ApplyResponseHeaders(*res);
      bool text = false;
      for (const auto& [name, value] : response_.headers)
        if (name == "Content-Type")
          text = value.rfind("application/json", 0) == 0 || value.rfind("text/", 0) == 0;
      if (gzip_ && text && body_.size() >= 1024) {
        std::string z = Gzip(body_);
        if (!z.empty()) {
          body_ = std::move(z);
          res->set(http::field::content_encoding, "gzip");
          res->set(http::field::vary, "Accept-Encoding");
        }
      }
      res->body() = std::move(body_);
      res->content_length(res->body().size());
      return DelayIfUnauthorized(
          [self = shared_from_this(), res, status] { self->Send(res, status); });
    }
    auto finish = [self = shared_from_this(), keep](beast::error_code ec, size_t) {
      self->EndForward();
      if (ec || !keep) return self->Close();
      self->ReadRequest();
    };
    if (chunked_) {
      net::async_write(*stream_, http::make_chunk_last(), finish);
    } else {
      finish({}, 0);
    }
  }

  void StartStream() {
    stream_head_.emplace();
    ApplyResponseHeaders(*stream_head_);
    bool keep = keep_alive_ && response_.status < 400;
    stream_head_->keep_alive(keep);
    chunked_ = !response_.length;
    if (chunked_) {
      stream_head_->chunked(true);
    } else {
      stream_head_->content_length(*response_.length);
    }
    serializer_.emplace(*stream_head_);
    response_started_ = true;
    http::async_write_header(*stream_, *serializer_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               if (ec) return self->EndForwardAndClose();
                               self->ReadFrame();
                             });
  }

  Shared& s_;
  beast::tcp_stream tcp_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string client_;
  net::steady_timer timer_;
  Steady::time_point received_;
  double received_wall_ = 0;
  bool keep_alive_ = false, gzip_ = false, head_only_ = false;
  // Forwarding state of the current request.
  bool forwarding_ = false, timed_out_ = false, buffered_ = false, chunked_ = false;
  bool response_started_ = false;
  std::optional<net::local::stream_protocol::socket> channel_;
  std::string request_bytes_;
  std::array<unsigned char, channel::kHeadPrefixSize> prefix_{};
  std::string head_json_;
  channel::ResponseHeader response_;
  std::array<unsigned char, channel::kFrameLengthSize> frame_len_{};
  std::string frame_, body_;
  uint64_t sent_ = 0;
  std::optional<http::response<http::empty_body>> stream_head_;
  std::optional<http::response_serializer<http::empty_body>> serializer_;
};

std::string ClientKey(const tcp::endpoint& ep) {
  auto a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

class Listener {
 public:
  Listener(Shared& s, int fd) : s_(s), acceptor_(s.ioc), retry_(s.ioc) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    ::getsockname(fd, reinterpret_cast<struct sockaddr*>(&ss), &len);
    beast::error_code ec;
    acceptor_.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) LogError("a listening socket: " + ec.message());
  }
  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        // Out of descriptors and the like: wait a little rather than spin.
        LogError("accept: " + ec.message());
        retry_.expires_after(100ms);
        retry_.async_wait([this](beast::error_code) { Accept(); });
        return;
      }
      beast::error_code ep_ec;
      auto ep = socket.remote_endpoint(ep_ec);
      if (!ep_ec) {
        std::string client = ClientKey(ep);
        auto it = s_.per_client.find(client);
        bool full = s_.connections >= kMaxConnections ||
                    (it != s_.per_client.end() && it->second >= kMaxPerClient);
        if (!full) std::make_shared<Session>(s_, std::move(socket), client)->Start();
      }
      Accept();
    });
  }

 private:
  Shared& s_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_;
};

// ALPN: http/1.1 when the client offers it (no h2 here).
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof(kHttp11), in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

int RunProxy(ProxyOptions o) {
  ::signal(SIGPIPE, SIG_IGN);
  Shared s;
  s.assets = std::move(o.assets);
  beast::error_code ec;
  s.tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                    ssl::context::single_dh_use);
  s.tls.use_certificate_chain(net::buffer(o.certificate_pem), ec);
  if (!ec) s.tls.use_private_key(net::buffer(o.private_key_pem), ssl::context::pem, ec);
  if (ec) {
    LogError("the certificate or its key: " + ec.message());
    return 1;
  }
  SSL_CTX_set_alpn_select_cb(s.tls.native_handle(), SelectAlpn, nullptr);
  s.control = std::make_unique<ControlLink>(s.ioc, o.control_fd);
  s.control->Start();
  std::vector<std::unique_ptr<Listener>> listeners;
  for (int fd : o.listen_fds) {
    listeners.push_back(std::make_unique<Listener>(s, fd));
    listeners.back()->Accept();
  }
  s.ioc.run();
  return s.control->exit_code();
}

}  // namespace ctdump::httpd
