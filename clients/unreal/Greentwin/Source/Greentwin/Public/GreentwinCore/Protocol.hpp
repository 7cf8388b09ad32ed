// greentwin/1 protocol core in plain C++17: no engine types, JSON through nlohmann::json.
// The session is driven from outside: the transport (Unreal's WebSockets module in the
// plugin, a POSIX socket in the console tests) reports connect, text, binary and disconnect;
// the session answers through the send function it was given. Requests take a callback that
// runs once with the answer or the error. Thread safe: callbacks run outside its lock.
// See docs/protocol.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(THIRD_PARTY_INCLUDES_START)  // inside Unreal: silence its warnings-as-errors
THIRD_PARTY_INCLUDES_START
#include <nlohmann/json.hpp>
THIRD_PARTY_INCLUDES_END
#else
#include <nlohmann/json.hpp>
#endif

namespace greentwin {

using json = nlohmann::json;

inline constexpr const char* kProtocol = "greentwin/1";

/// A frame or glb that does not follow the protocol.
class ProtocolError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// An `error` message answering a request (or "disconnected" when the connection dropped).
struct ServerError {
    std::string code;
    std::string message;
    std::string ref;
};

/// A binary frame: its JSON header ({type: glb, ref, kind, lod, byte_length}) and the glb.
struct GlbFrame {
    json header;
    std::vector<std::uint8_t> glb;
};

/// What a glb's 12-byte header and first chunk say (glTF 2.0 specification, section 4.4).
struct GlbInfo {
    std::uint32_t version = 0;
    std::uint32_t length = 0;
    json document;
    bool has_bin_chunk = false;
};

/// Decode "GTB1" | uint32 LE header length n | n bytes JSON header | glb.
GlbFrame decode_glb_frame(const std::uint8_t* data, std::size_t size);

/// Check the glb header (magic, version 2, length) and parse its JSON chunk.
GlbInfo inspect_glb(const std::vector<std::uint8_t>& glb);

/// Seconds to wait before reconnect attempt `attempt` (0-based): initial * 2^attempt, capped
/// at max_s, times a jitter factor in [0.75, 1.25) from `unit_random` in [0, 1).
double backoff_seconds(int attempt, double initial_s, double max_s, double unit_random);

/// A fresh idempotency key for one edit (reused only when resending it).
std::string new_key();

/// plant_tree op at [lon, lat] (degrees, WGS 84).
json plant_tree(const std::string& species, double lon, double lat, double age_years,
                const std::string& id = "");

/// "YYYY-MM-DD" of a protocol time {year, date: "MM-DD"} (empty if incomplete).
std::string iso_date(const json& time);

/// http(s)://host:port of a server given as its WebSocket (ws(s)://host:port/ws) or HTTP URL.
std::string http_base(const std::string& url);

/// The request for the vegetation tileset of a date: GET /api/vegetation?date=&variant=
/// ("baked": every tree's mesh in its tile, for engines without EXT_mesh_gpu_instancing;
/// "instanced"); no scenario: the server's default one.
std::string vegetation_request_url(const std::string& base, const std::string& date,
                                   const std::string& variant = "baked",
                                   const std::string& scenario = "");

/// The absolute tileset URL in the JSON answer of GET /api/vegetation (throws ProtocolError).
std::string vegetation_tileset_url(const std::string& base, const std::string& answer);

class Session {
public:
    using SendFn = std::function<void(const std::string&)>;
    using Reply = std::function<void(const json* answer, const ServerError* error)>;
    using GlbReply = std::function<void(const GlbFrame* frame, const ServerError* error)>;

    struct Callbacks {
        std::function<void(const json&)> on_welcome;
        std::function<void(const json&)> on_snapshot;
        /// A new update (duplicates are dropped before this).
        std::function<void(const json&)> on_update;
        /// (scenario, layer, {url, version, kind}) from a snapshot or update; a layer's
        /// variant comes as its own layer, e.g. vegetation.variants.baked as vegetation_baked.
        std::function<void(const std::string&, const std::string&, const json&)> on_layer;
        /// An error frame that answers no pending request.
        std::function<void(const json&)> on_error;
        /// Every text message, after the handling above.
        std::function<void(const json&)> on_message;
        std::function<void(const GlbFrame&)> on_glb;
        /// (scenario, time {year, date}) when a scenario's shared time is known or changes
        /// (snapshots, time broadcasts); scenario empty: the session's own time.
        std::function<void(const std::string&, const json&)> on_time;
    };

    Session(std::string token, std::string role, Callbacks callbacks = {});

    // --- the transport's side ---------------------------------------------------------
    /// The socket is open: say hello (resuming the first followed scenario we have a seq for).
    void connected(SendFn send);
    /// The socket closed: requests that must not be resent fail with "disconnected".
    void disconnected(const std::string& reason);
    void receive_text(const std::string& text);
    void receive_binary(const std::uint8_t* data, std::size_t size);
    /// Call about once a second: sends a heartbeat ping every `heartbeat_s`; returns false
    /// when a ping went unanswered for twice that (the transport should drop and reconnect).
    bool tick(double now_s);

    // --- requests -----------------------------------------------------------------------
    /// Follow a scenario (answer: its snapshot); followed scenarios come back after reconnects.
    std::string subscribe(const std::string& scenario, Reply reply);
    /// An edit with a fresh idempotency key (answer: its ack); resent after a reconnect if
    /// it was not answered.
    std::string edit(const std::string& scenario, const json& op, Reply reply,
                     std::optional<std::int64_t> base_seq = std::nullopt);
    std::string undo(const std::string& scenario, Reply reply);
    std::string redo(const std::string& scenario, Reply reply);
    std::string ping(Reply reply);
    /// Set the time {year, date "MM-DD"}: scenario empty: the session's own time (answer:
    /// time {time, ref}); else (planner) the scenario's shared time, stored and broadcast to
    /// its subscribers (answer: that broadcast, time {scenario, seq, time}).
    std::string set_time(int year, const std::string& month_day, const std::string& scenario,
                         Reply reply);
    std::string request_glb(const json& object, int lod, GlbReply reply);
    /// Send a text frame as it is (tests use it for deliberately bad frames).
    void send_raw(const std::string& text);

    std::int64_t seq_of(const std::string& scenario) const;  // -1 when unknown
    /// The last time known for a scenario ("": the session's own); null when unknown.
    json time_of(const std::string& scenario) const;
    json welcome() const;
    int connections() const;
    bool is_connected() const;

    double heartbeat_s = 20.0;

private:
    struct Pending {
        json message;
        bool resend = false;
        Reply reply;
        GlbReply glb_reply;
    };

    std::string new_ref();
    std::string request(json message, bool resend, Reply reply, GlbReply glb_reply);
    void send_locked(const json& message, std::vector<std::function<void()>>& after);
    std::optional<Pending> take(const std::string& ref);
    void raise_layers(const json& m);
    void note_time(const json& m);
    std::string oldest_set_time(const std::string& scenario) const;

    const std::string token_;
    const std::string role_;
    Callbacks cb_;
    mutable std::mutex mutex_;
    SendFn send_;
    bool welcomed_ = false;
    std::string epoch_;
    json welcome_;
    int connections_ = 0;
    int next_ref_ = 1;
    std::map<std::string, std::int64_t> seq_;
    std::map<std::string, json> times_;
    std::vector<std::string> followed_;
    std::map<std::string, Pending> pending_;
    std::string resumed_;
    double last_ping_s_ = -1.0;
    std::string ping_ref_;
    double ping_sent_s_ = -1.0;
};

}  // namespace greentwin
