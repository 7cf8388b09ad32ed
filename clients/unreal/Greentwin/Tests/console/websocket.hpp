// A small RFC 6455 WebSocket client over POSIX sockets (ws:// only), for the console tests of
// the engine-free core; the plugin itself uses Unreal's WebSockets module. Client frames are
// masked (RFC 6455 5.3), fragmented messages are joined (5.4), pings answered with pongs
// (5.5.2), a close frame is answered and ends the connection (5.5.1); the handshake's
// Sec-WebSocket-Accept is checked (4.2.2: base64 of SHA-1 over key + GUID).
#pragma once

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace wsclient {

/// SHA-1 (FIPS 180-4, section 6.1) of a byte string.
inline std::array<std::uint8_t, 20> sha1(const std::string& input) {
    std::uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    std::vector<std::uint8_t> msg(input.begin(), input.end());
    const std::uint64_t bits = static_cast<std::uint64_t>(msg.size()) * 8;
    msg.push_back(0x80);
    while (msg.size() % 64 != 56) msg.push_back(0);
    for (int i = 7; i >= 0; --i) msg.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
    auto rol = [](std::uint32_t v, int n) { return (v << n) | (v >> (32 - n)); };
    for (std::size_t block = 0; block < msg.size(); block += 64) {
        std::uint32_t w[80];
        for (int t = 0; t < 16; ++t) {
            const std::uint8_t* p = &msg[block + 4 * t];
            w[t] = (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
        }
        for (int t = 16; t < 80; ++t) w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
        std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int t = 0; t < 80; ++t) {
            std::uint32_t f, k;
            if (t < 20) { f = (b & c) | (~b & d); k = 0x5A827999u; }
            else if (t < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1u; }
            else if (t < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDCu; }
            else { f = b ^ c ^ d; k = 0xCA62C1D6u; }
            const std::uint32_t tmp = rol(a, 5) + f + e + k + w[t];
            e = d; d = c; c = rol(b, 30); b = a; a = tmp;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
    }
    std::array<std::uint8_t, 20> out{};
    for (int i = 0; i < 20; ++i) out[i] = static_cast<std::uint8_t>(h[i / 4] >> (24 - 8 * (i % 4)));
    return out;
}

/// Base64 (RFC 4648, section 4) with padding.
inline std::string base64(const std::uint8_t* data, std::size_t n) {
    static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < n; i += 3) {
        std::uint32_t v = std::uint32_t(data[i]) << 16;
        if (i + 1 < n) v |= std::uint32_t(data[i + 1]) << 8;
        if (i + 2 < n) v |= data[i + 2];
        out += abc[(v >> 18) & 63];
        out += abc[(v >> 12) & 63];
        out += i + 1 < n ? abc[(v >> 6) & 63] : '=';
        out += i + 2 < n ? abc[v & 63] : '=';
    }
    return out;
}

struct Message {
    bool binary = false;
    std::string data;
};

/// The parts of `scheme://host[:port]/path` (port 80 when absent, path "/" when absent).
struct Endpoint {
    std::string authority, host, port, path;
};

inline Endpoint split_url(const std::string& url, const std::string& scheme) {
    const std::string prefix = scheme + "://";
    if (url.rfind(prefix, 0) != 0) throw std::runtime_error("only " + prefix + " URLs are supported");
    const std::string rest = url.substr(prefix.size());
    const auto slash = rest.find('/');
    Endpoint e;
    e.authority = rest.substr(0, slash);
    e.path = slash == std::string::npos ? "/" : rest.substr(slash);
    const auto colon = e.authority.rfind(':');
    e.host = e.authority.substr(0, colon);
    e.port = colon == std::string::npos ? "80" : e.authority.substr(colon + 1);
    return e;
}

/// A connected TCP socket to the endpoint's host and port (each resolved address tried).
inline int tcp_connect(const Endpoint& e) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(e.host.c_str(), e.port.c_str(), &hints, &found) != 0 || found == nullptr) {
        throw std::runtime_error("cannot resolve " + e.host);
    }
    int fd = -1;
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
        fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        ::close(fd);
        fd = -1;
    }
    freeaddrinfo(found);
    if (fd < 0) throw std::runtime_error("cannot connect to " + e.authority);
    return fd;
}

class Client {
public:
    static constexpr std::size_t kMaxMessage = 64u * 1024u * 1024u;

    ~Client() { close_socket(); }

    /// Connect and do the opening handshake; `url` is ws://host:port/path.
    void connect(const std::string& url) {
        const Endpoint e = split_url(url, "ws");
        fd_ = tcp_connect(e);
        const std::string& path = e.path;
        const std::string& authority = e.authority;
        std::uint8_t nonce[16];
        for (auto& b : nonce) b = static_cast<std::uint8_t>(rng_());
        const std::string key = base64(nonce, sizeof nonce);
        write_all("GET " + path + " HTTP/1.1\r\nHost: " + authority +
                  "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
                  "\r\nSec-WebSocket-Version: 13\r\n\r\n");
        std::string head;
        while (head.find("\r\n\r\n") == std::string::npos) {
            char c;
            read_exact(reinterpret_cast<std::uint8_t*>(&c), 1);
            head += c;
            if (head.size() > 16384) throw std::runtime_error("handshake response too long");
        }
        if (head.rfind("HTTP/1.1 101", 0) != 0) throw std::runtime_error("handshake refused: " + head.substr(0, head.find('\r')));
        const auto digest = sha1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        const std::string accept = base64(digest.data(), digest.size());
        std::string lower = head;
        for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        const auto at = lower.find("\r\nsec-websocket-accept:");
        if (at == std::string::npos) throw std::runtime_error("no Sec-WebSocket-Accept");
        std::string value = head.substr(at + 23, head.find("\r\n", at + 2) - at - 23);
        value.erase(0, value.find_first_not_of(' '));
        value.erase(value.find_last_not_of(' ') + 1);
        if (value != accept) throw std::runtime_error("wrong Sec-WebSocket-Accept");
    }

    void send_text(const std::string& text) { send_frame(0x1, text); }

    /// Wait up to `timeout_ms` for the next message. Returns false on timeout; throws when
    /// the connection closed or broke.
    bool receive(Message& out, int timeout_ms) {
        pollfd p{fd_, POLLIN, 0};
        const int ready = ::poll(&p, 1, timeout_ms);
        if (ready < 0) throw std::runtime_error("poll failed");
        if (ready == 0) return false;
        std::string data;
        int opcode = -1;
        while (true) {
            std::uint8_t h[2];
            read_exact(h, 2);
            const bool fin = (h[0] & 0x80) != 0;
            const int op = h[0] & 0x0F;
            if (h[1] & 0x80) throw std::runtime_error("the server masked a frame");
            std::uint64_t len = h[1] & 0x7F;
            if (len == 126) {
                std::uint8_t b[2];
                read_exact(b, 2);
                len = (std::uint64_t(b[0]) << 8) | b[1];
            } else if (len == 127) {
                std::uint8_t b[8];
                read_exact(b, 8);
                len = 0;
                for (int i = 0; i < 8; ++i) len = (len << 8) | b[i];
            }
            if (len > kMaxMessage || data.size() + len > kMaxMessage) throw std::runtime_error("message too large");
            std::string payload(static_cast<std::size_t>(len), '\0');
            if (len) read_exact(reinterpret_cast<std::uint8_t*>(&payload[0]), payload.size());
            if (op == 0x8) {  // close: answer it, then the connection is over
                try { send_frame(0x8, payload.substr(0, 2)); } catch (const std::exception&) {}
                close_socket();
                throw std::runtime_error("closed by the server");
            }
            if (op == 0x9) { send_frame(0xA, payload); continue; }
            if (op == 0xA) continue;
            if (op == 0x1 || op == 0x2) {
                if (opcode != -1) throw std::runtime_error("a new message inside a fragmented one");
                opcode = op;
            } else if (op != 0x0 || opcode == -1) {
                throw std::runtime_error("unexpected opcode");
            }
            data += payload;
            if (fin) break;
        }
        out.binary = opcode == 0x2;
        out.data = std::move(data);
        return true;
    }

    void close() {
        try { send_frame(0x8, std::string("\x03\xe8", 2)); } catch (const std::exception&) {}
        close_socket();
    }

    /// Drop the connection without a closing handshake.
    void abort() { close_socket(); }

private:
    void send_frame(int opcode, const std::string& payload) {
        std::lock_guard<std::mutex> lock(send_mutex_);
        std::string f;
        f += static_cast<char>(0x80 | opcode);
        const std::size_t n = payload.size();
        if (n < 126) {
            f += static_cast<char>(0x80 | n);
        } else if (n < 65536) {
            f += static_cast<char>(0x80 | 126);
            f += static_cast<char>(n >> 8);
            f += static_cast<char>(n & 0xFF);
        } else {
            f += static_cast<char>(0x80 | 127);
            for (int i = 7; i >= 0; --i) f += static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xFF);
        }
        std::uint8_t mask[4];
        for (auto& b : mask) b = static_cast<std::uint8_t>(rng_());
        f.append(reinterpret_cast<const char*>(mask), 4);
        for (std::size_t i = 0; i < n; ++i) f += static_cast<char>(payload[i] ^ mask[i % 4]);
        write_all(f);
    }

    void write_all(const std::string& s) {
        std::size_t done = 0;
        while (done < s.size()) {
            if (fd_ < 0) throw std::runtime_error("not connected");
            const ssize_t k = ::send(fd_, s.data() + done, s.size() - done, MSG_NOSIGNAL);
            if (k <= 0) throw std::runtime_error("send failed");
            done += static_cast<std::size_t>(k);
        }
    }

    void read_exact(std::uint8_t* out, std::size_t n) {
        std::size_t done = 0;
        while (done < n) {
            if (fd_ < 0) throw std::runtime_error("not connected");
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 30000) <= 0) throw std::runtime_error("read timed out");
            const ssize_t k = ::recv(fd_, out + done, n - done, 0);
            if (k <= 0) throw std::runtime_error("connection lost");
            done += static_cast<std::size_t>(k);
        }
    }

    void close_socket() {
        if (fd_ >= 0) {
            ::shutdown(fd_, SHUT_RDWR);
            ::close(fd_);
            fd_ = -1;
        }
    }

    int fd_ = -1;
    std::mutex send_mutex_;
    std::mt19937 rng_{std::random_device{}()};
};

}  // namespace wsclient
