// See Public/GreentwinCore/Protocol.hpp.
#include "GreentwinCore/Protocol.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <random>
#include <utility>

namespace greentwin {

namespace {

std::uint32_t read_u32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

std::string str_or(const json& m, const char* key) {
    auto it = m.find(key);
    return it != m.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

GlbFrame decode_glb_frame(const std::uint8_t* data, std::size_t size) {
    if (size < 8 || data[0] != 'G' || data[1] != 'T' || data[2] != 'B' || data[3] != '1') {
        throw ProtocolError("not a greentwin/1 binary frame");
    }
    const std::size_t n = read_u32(data + 4);
    if (8 + n > size) throw ProtocolError("header length beyond the frame");
    GlbFrame frame;
    frame.header = json::parse(data + 8, data + 8 + n, nullptr, false);
    if (!frame.header.is_object()) throw ProtocolError("the frame header is not a JSON object");
    const auto length = frame.header.value("byte_length", static_cast<std::int64_t>(-1));
    if (length < 0 || 8 + n + static_cast<std::size_t>(length) != size) {
        throw ProtocolError("glb length differs from the header");
    }
    frame.glb.assign(data + 8 + n, data + size);
    return frame;
}

GlbInfo inspect_glb(const std::vector<std::uint8_t>& glb) {
    if (glb.size() < 20 || glb[0] != 'g' || glb[1] != 'l' || glb[2] != 'T' || glb[3] != 'F') {
        throw ProtocolError("no glTF magic");
    }
    GlbInfo info;
    info.version = read_u32(glb.data() + 4);
    info.length = read_u32(glb.data() + 8);
    if (info.version != 2) throw ProtocolError("glTF version is not 2");
    if (info.length != glb.size()) throw ProtocolError("glb length field differs from its size");
    const std::uint32_t chunk = read_u32(glb.data() + 12);
    if (read_u32(glb.data() + 16) != 0x4E4F534Au) throw ProtocolError("the first chunk is not JSON");
    if (chunk % 4 != 0 || 20u + chunk > glb.size()) throw ProtocolError("bad JSON chunk length");
    info.document = json::parse(glb.begin() + 20, glb.begin() + 20 + chunk, nullptr, false);
    if (!info.document.is_object()) throw ProtocolError("the JSON chunk is not an object");
    const std::size_t next = 20u + chunk;
    info.has_bin_chunk = next + 8 <= glb.size() && read_u32(glb.data() + next + 4) == 0x004E4942u;
    return info;
}

double backoff_seconds(int attempt, double initial_s, double max_s, double unit_random) {
    const double base = std::min(max_s, initial_s * std::pow(2.0, std::min(attempt, 16)));
    return base * (0.75 + 0.5 * unit_random);
}

std::string new_key() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    char out[40];
    std::snprintf(out, sizeof out, "k%016llx%016llx", static_cast<unsigned long long>(rng()),
                  static_cast<unsigned long long>(rng()));
    return out;
}

json plant_tree(const std::string& species, double lon, double lat, double age_years,
                const std::string& id) {
    json op = {{"op", "plant_tree"},
               {"species", species},
               {"position", {lon, lat}},
               {"age_years", age_years}};
    if (!id.empty()) op["id"] = id;
    return op;
}

std::string iso_date(const json& time) {
    if (!time.is_object()) return {};
    const auto year = time.value("year", static_cast<std::int64_t>(-1));
    const std::string md = str_or(time, "date");
    if (year < 0 || md.empty()) return {};
    char y[16];
    std::snprintf(y, sizeof y, "%04lld", static_cast<long long>(year));
    return std::string(y) + "-" + md;
}

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
    return s.compare(0, prefix.size(), prefix) == 0;
}

std::string trim_slash(std::string s) {
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
}

std::string url_encode(const std::string& s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

}  // namespace

std::string http_base(const std::string& url) {
    std::string b = trim_slash(url);
    if (b.size() >= 3 && b.compare(b.size() - 3, 3, "/ws") == 0) b.resize(b.size() - 3);
    if (starts_with(b, "wss://")) return "https://" + b.substr(6);
    if (starts_with(b, "ws://")) return "http://" + b.substr(5);
    return b;
}

std::string vegetation_request_url(const std::string& base, const std::string& date,
                                   const std::string& variant, const std::string& scenario) {
    std::string u = trim_slash(base) + "/api/vegetation?date=" + url_encode(date) +
                    "&variant=" + url_encode(variant.empty() ? "baked" : variant);
    if (!scenario.empty()) u += "&scenario=" + url_encode(scenario);
    return u;
}

std::string vegetation_tileset_url(const std::string& base, const std::string& answer) {
    const json m = json::parse(answer, nullptr, false);
    const std::string url = m.is_object() ? str_or(m, "url") : std::string();
    if (url.empty()) throw ProtocolError("the vegetation answer names no url");
    return starts_with(url, "http://") || starts_with(url, "https://") ? url : trim_slash(base) + url;
}

Session::Session(std::string token, std::string role, Callbacks callbacks)
    : token_(std::move(token)), role_(std::move(role)), cb_(std::move(callbacks)) {}

std::string Session::new_ref() { return "u" + std::to_string(next_ref_++); }

void Session::connected(SendFn send) {
    std::lock_guard<std::mutex> lock(mutex_);
    send_ = std::move(send);
    welcomed_ = false;
    json hello = {{"type", "hello"}, {"protocol", kProtocol}};
    if (!token_.empty()) hello["token"] = token_;
    if (!role_.empty()) hello["role"] = role_;
    resumed_.clear();
    if (!epoch_.empty()) {
        for (const auto& sc : followed_) {
            auto it = seq_.find(sc);
            if (it != seq_.end()) {
                hello["resume"] = {{"scenario", sc}, {"epoch", epoch_}, {"seq", it->second}};
                resumed_ = sc;
                break;
            }
        }
    }
    send_(hello.dump());
}

void Session::disconnected(const std::string& reason) {
    std::vector<std::pair<std::string, Pending>> lost;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        send_ = nullptr;
        welcomed_ = false;
        ping_ref_.clear();
        for (auto it = pending_.begin(); it != pending_.end();) {
            if (it->second.resend) {
                ++it;
                continue;
            }
            lost.emplace_back(it->first, std::move(it->second));
            it = pending_.erase(it);
        }
    }
    for (auto& [ref, p] : lost) {
        ServerError err{"disconnected", "the connection closed: " + reason, ref};
        if (p.reply) p.reply(nullptr, &err);
        if (p.glb_reply) p.glb_reply(nullptr, &err);
    }
}

std::optional<Session::Pending> Session::take(const std::string& ref) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = pending_.find(ref);
    if (it == pending_.end()) return std::nullopt;
    Pending p = std::move(it->second);
    pending_.erase(it);
    return p;
}

void Session::raise_layers(const json& m) {
    if (!cb_.on_layer) return;
    auto layers = m.find("layers");
    if (layers == m.end() || !layers->is_object()) return;
    const std::string sc = str_or(m, "scenario");
    for (auto it = layers->begin(); it != layers->end(); ++it) {
        cb_.on_layer(sc, it.key(), it.value());
        // a variant (vegetation.variants.baked) is raised as its own layer: vegetation_baked
        auto variants = it->find("variants");
        if (variants == it->end() || !variants->is_object()) continue;
        for (auto v = variants->begin(); v != variants->end(); ++v) {
            json info = v.value();
            info["kind"] = it->value("kind", "");
            cb_.on_layer(sc, it.key() + "_" + v.key(), info);
        }
    }
}

void Session::note_time(const json& m) {
    auto t = m.find("time");
    if (t == m.end() || !t->is_object()) return;
    const std::string sc = str_or(m, "scenario");
    {
        std::lock_guard<std::mutex> lock(mutex_);
        times_[sc] = *t;
    }
    if (cb_.on_time) cb_.on_time(sc, *t);
}

std::string Session::oldest_set_time(const std::string& scenario) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string best;
    long long best_n = -1;
    for (const auto& [r, p] : pending_) {
        if (p.message.value("type", "") != "set_time" || str_or(p.message, "scenario") != scenario) continue;
        const long long n = std::atoll(r.c_str() + 1);
        if (best_n < 0 || n < best_n) {
            best_n = n;
            best = r;
        }
    }
    return best;
}

void Session::receive_text(const std::string& text) {
    json m = json::parse(text, nullptr, false);
    if (!m.is_object() || !m.contains("type") || !m["type"].is_string()) {
        throw ProtocolError("a server message is an object with a type");
    }
    const std::string type = m["type"].get<std::string>();
    const std::string ref = str_or(m, "ref");
    if (type == "welcome") {
        std::vector<std::string> subscribe;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            epoch_ = str_or(m, "epoch");
            welcome_ = m;
            welcomed_ = true;
            ++connections_;
            std::vector<std::string> waiting;
            for (auto& [r, p] : pending_) {
                if (!p.resend) continue;
                if (p.message.value("type", "") == "subscribe") waiting.push_back(p.message.value("scenario", ""));
            }
            for (const auto& sc : followed_) {
                if (sc != resumed_ && std::find(waiting.begin(), waiting.end(), sc) == waiting.end()) {
                    json sub = {{"type", "subscribe"}, {"ref", new_ref()}, {"scenario", sc}};
                    send_(sub.dump());
                }
            }
            for (auto& [r, p] : pending_) {
                if (p.resend) send_(p.message.dump());
            }
        }
        if (cb_.on_welcome) cb_.on_welcome(m);
    } else if (type == "snapshot") {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            seq_[str_or(m, "scenario")] = m.value("seq", static_cast<std::int64_t>(0));
        }
        raise_layers(m);  // the layers first, then the one who asked
        note_time(m);
        if (cb_.on_snapshot) cb_.on_snapshot(m);
        if (auto p = take(ref); p && p->reply) p->reply(&m, nullptr);
    } else if (type == "update") {
        const std::string sc = str_or(m, "scenario");
        const auto seq = m.value("seq", static_cast<std::int64_t>(-1));
        bool fresh = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = seq_.find(sc);
            if (it != seq_.end() && seq > it->second) {
                if (seq == it->second + 1) {
                    it->second = seq;
                    fresh = true;
                } else {
                    seq_.erase(it);  // a gap: a fresh snapshot replaces what we had
                    if (send_) {
                        json sub = {{"type", "subscribe"}, {"ref", new_ref()}, {"scenario", sc}};
                        send_(sub.dump());
                    }
                }
            }
        }
        if (fresh) {
            raise_layers(m);
            if (cb_.on_update) cb_.on_update(m);
        }
    } else if (type == "error") {
        auto p = ref.empty() ? std::nullopt : take(ref);
        ServerError err{str_or(m, "code"), str_or(m, "message"), ref};
        if (p && p->reply) {
            p->reply(nullptr, &err);
        } else if (p && p->glb_reply) {
            p->glb_reply(nullptr, &err);
        } else if (cb_.on_error) {
            cb_.on_error(m);
        }
    } else if (type == "time") {
        note_time(m);
        // a scenario's time is broadcast without a ref: it answers our oldest set_time for it
        const std::string sc = str_or(m, "scenario");
        const std::string answers = !ref.empty() || sc.empty() ? ref : oldest_set_time(sc);
        if (!answers.empty()) {
            if (auto p = take(answers); p && p->reply) p->reply(&m, nullptr);
        }
    } else {  // ack, pong, unsubscribed answer their ref
        if (type == "pong") {
            std::lock_guard<std::mutex> lock(mutex_);
            if (ref == ping_ref_) ping_ref_.clear();
        }
        if (!ref.empty()) {
            if (auto p = take(ref); p && p->reply) p->reply(&m, nullptr);
        }
    }
    if (cb_.on_message) cb_.on_message(m);
}

void Session::receive_binary(const std::uint8_t* data, std::size_t size) {
    GlbFrame frame = decode_glb_frame(data, size);
    if (auto p = take(str_or(frame.header, "ref")); p && p->glb_reply) p->glb_reply(&frame, nullptr);
    if (cb_.on_glb) cb_.on_glb(frame);
}

bool Session::tick(double now_s) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!welcomed_ || !send_) return true;
    if (!ping_ref_.empty()) {
        if (now_s - ping_sent_s_ > 2 * heartbeat_s) return false;
        return true;
    }
    if (last_ping_s_ < 0) last_ping_s_ = now_s;
    if (now_s - last_ping_s_ >= heartbeat_s) {
        ping_ref_ = new_ref();
        ping_sent_s_ = last_ping_s_ = now_s;
        send_(json{{"type", "ping"}, {"ref", ping_ref_}}.dump());
    }
    return true;
}

std::string Session::request(json message, bool resend, Reply reply, GlbReply glb_reply) {
    std::string ref;
    bool fail_now = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        ref = new_ref();
        message["ref"] = ref;
        const bool can_send = welcomed_ && send_;
        if (can_send || resend) {
            pending_[ref] = Pending{message, resend, reply, glb_reply};
            if (can_send) send_(message.dump());
        } else {
            fail_now = true;
        }
    }
    if (fail_now) {
        ServerError err{"disconnected", "not connected", ref};
        if (reply) reply(nullptr, &err);
        if (glb_reply) glb_reply(nullptr, &err);
    }
    return ref;
}

std::string Session::subscribe(const std::string& scenario, Reply reply) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (std::find(followed_.begin(), followed_.end(), scenario) == followed_.end()) {
            followed_.push_back(scenario);
        }
    }
    return request({{"type", "subscribe"}, {"scenario", scenario}}, true, std::move(reply), nullptr);
}

std::string Session::edit(const std::string& scenario, const json& op, Reply reply,
                          std::optional<std::int64_t> base_seq) {
    json m = {{"type", "edit"}, {"scenario", scenario}, {"op", op}, {"key", new_key()}};
    if (base_seq) m["base_seq"] = *base_seq;
    return request(std::move(m), true, std::move(reply), nullptr);
}

std::string Session::undo(const std::string& scenario, Reply reply) {
    return request({{"type", "undo"}, {"scenario", scenario}}, false, std::move(reply), nullptr);
}

std::string Session::redo(const std::string& scenario, Reply reply) {
    return request({{"type", "redo"}, {"scenario", scenario}}, false, std::move(reply), nullptr);
}

std::string Session::ping(Reply reply) {
    return request({{"type", "ping"}}, false, std::move(reply), nullptr);
}

std::string Session::set_time(int year, const std::string& month_day, const std::string& scenario,
                              Reply reply) {
    json m = {{"type", "set_time"}, {"time", {{"year", year}, {"date", month_day}}}};
    if (!scenario.empty()) m["scenario"] = scenario;
    return request(std::move(m), false, std::move(reply), nullptr);
}

std::string Session::request_glb(const json& object, int lod, GlbReply reply) {
    return request({{"type", "request_glb"}, {"lod", lod}, {"object", object}}, false, nullptr,
                   std::move(reply));
}

void Session::send_raw(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!send_) throw ProtocolError("not connected");
    send_(text);
}

std::int64_t Session::seq_of(const std::string& scenario) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = seq_.find(scenario);
    return it == seq_.end() ? -1 : it->second;
}

json Session::time_of(const std::string& scenario) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = times_.find(scenario);
    return it == times_.end() ? json() : it->second;
}

json Session::welcome() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return welcome_;
}

int Session::connections() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return connections_;
}

bool Session::is_connected() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return welcomed_;
}

}  // namespace greentwin
