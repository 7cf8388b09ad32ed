// Unit checks of the engine-free C++ core without a network: the session is driven by hand
// (connected / receive_text / disconnected) and what it sends is captured. Run by the test
// suite; prints "ok" and exits 0, or names the first failed check and exits 1.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "GreentwinCore/Protocol.hpp"

using greentwin::json;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            std::exit(1);                                                  \
        }                                                                  \
    } while (0)

namespace {

std::vector<std::uint8_t> glb_with(const std::string& doc, bool good_magic) {
    std::string j = doc;
    while (j.size() % 4) j += ' ';
    const std::uint32_t total = 12 + 8 + static_cast<std::uint32_t>(j.size());
    std::vector<std::uint8_t> out;
    auto u32 = [&](std::uint32_t v) { for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i))); };
    out.insert(out.end(), {'g', 'l', 'T', static_cast<std::uint8_t>(good_magic ? 'F' : 'X')});
    u32(2);
    u32(total);
    u32(static_cast<std::uint32_t>(j.size()));
    u32(0x4E4F534Au);  // "JSON"
    out.insert(out.end(), j.begin(), j.end());
    return out;
}

}  // namespace

int main() {
    // back-off: 0.5 s doubling, capped, jitter factor in [0.75, 1.25)
    CHECK(greentwin::backoff_seconds(0, 0.5, 30, 0.5) == 0.5);
    CHECK(greentwin::backoff_seconds(3, 0.5, 30, 0.5) == 4.0);
    CHECK(greentwin::backoff_seconds(20, 0.5, 30, 0.0) == 22.5);
    CHECK(greentwin::backoff_seconds(20, 0.5, 30, 0.99) < 37.5);

    // glb inspection (glTF 2.0, 4.4) and the binary frame
    const auto glb = glb_with(R"({"asset":{"version":"2.0"}})", true);
    const auto info = greentwin::inspect_glb(glb);
    CHECK(info.version == 2 && info.length == glb.size() && info.document["asset"]["version"] == "2.0");
    CHECK(!info.has_bin_chunk);
    bool threw = false;
    try { greentwin::inspect_glb(glb_with("{}", false)); } catch (const greentwin::ProtocolError&) { threw = true; }
    CHECK(threw);
    std::string header = json{{"type", "glb"}, {"ref", "r1"}, {"kind", "tree"}, {"lod", 0}, {"byte_length", glb.size()}}.dump();
    while (header.size() % 4) header += ' ';
    std::vector<std::uint8_t> frame = {'G', 'T', 'B', '1'};
    for (int i = 0; i < 4; ++i) frame.push_back(static_cast<std::uint8_t>(header.size() >> (8 * i)));
    frame.insert(frame.end(), header.begin(), header.end());
    frame.insert(frame.end(), glb.begin(), glb.end());
    CHECK(greentwin::decode_glb_frame(frame.data(), frame.size()).glb == glb);
    threw = false;
    try { greentwin::decode_glb_frame(frame.data(), frame.size() - 1); } catch (const greentwin::ProtocolError&) { threw = true; }
    CHECK(threw);

    // a session driven by hand
    std::vector<std::string> sent;
    std::vector<std::int64_t> updates;
    greentwin::Session::Callbacks cb;
    cb.on_update = [&](const json& u) { updates.push_back(u["seq"].get<std::int64_t>()); };
    greentwin::Session s("tok", "planner", cb);
    auto send = [&](const std::string& t) { sent.push_back(t); };
    s.connected(send);
    CHECK(sent.size() == 1 && json::parse(sent[0])["type"] == "hello" && !json::parse(sent[0]).contains("resume"));
    s.receive_text(R"({"type":"welcome","epoch":"e1","session":"x","role":"planner"})");
    std::vector<std::string> layer_names;
    std::string baked_url;
    // (callbacks are fixed at construction: a second session checks the layer events)
    greentwin::Session::Callbacks lc;
    lc.on_layer = [&](const std::string&, const std::string& name, const json& info) {
        layer_names.push_back(name);
        if (name == "vegetation_baked") baked_url = info.value("url", "") + "|" + info.value("kind", "");
    };
    greentwin::Session layers_session("", "", lc);
    layers_session.receive_text(R"({"type":"snapshot","scenario":"sc","seq":0,"layers":{"vegetation":)"
                                R"({"url":"/v","version":0,"kind":"3dtiles","variants":{"baked":{"url":"/b","version":0}}}}})");
    CHECK((layer_names == std::vector<std::string>{"vegetation", "vegetation_baked"}) && baked_url == "/b|3dtiles");
    std::int64_t snap_seq = -1;
    s.subscribe("sc", [&](const json* a, const greentwin::ServerError*) { snap_seq = (*a)["seq"]; });
    const json sub = json::parse(sent.back());
    CHECK(sub["type"] == "subscribe" && sub["scenario"] == "sc");
    s.receive_text(json{{"type", "snapshot"}, {"ref", sub["ref"]}, {"scenario", "sc"}, {"seq", 3}, {"layers", json::object()}}.dump());
    CHECK(snap_seq == 3 && s.seq_of("sc") == 3);

    // set_time on the scenario: answered by its broadcast (which has no ref); the session's
    // own time by the time message with the ref
    json shared_answer;
    s.set_time(2030, "05-01", "sc", [&](const json* a, const greentwin::ServerError*) { shared_answer = *a; });
    const json set_shared = json::parse(sent.back());
    CHECK(set_shared["type"] == "set_time" && set_shared["scenario"] == "sc");
    CHECK(set_shared["time"] == json({{"year", 2030}, {"date", "05-01"}}));
    s.receive_text(R"({"type":"time","scenario":"sc","seq":3,"time":{"year":2030,"date":"05-01"}})");
    CHECK(shared_answer.value("scenario", "") == "sc" && greentwin::iso_date(s.time_of("sc")) == "2030-05-01");
    json own_answer;
    s.set_time(2040, "01-15", "", [&](const json* a, const greentwin::ServerError*) { own_answer = *a; });
    const json set_own = json::parse(sent.back());
    CHECK(!set_own.contains("scenario"));
    s.receive_text(json{{"type", "time"}, {"ref", set_own["ref"]}, {"time", {{"year", 2040}, {"date", "01-15"}}}}.dump());
    CHECK(own_answer.contains("time") && greentwin::iso_date(s.time_of("")) == "2040-01-15");
    CHECK(greentwin::iso_date(s.time_of("sc")) == "2030-05-01");  // the scenario's own stays

    // the per-date vegetation request and its answer
    CHECK(greentwin::http_base("wss://h:1/ws") == "https://h:1" && greentwin::http_base("ws://h:2/ws/") == "http://h:2");
    CHECK(greentwin::vegetation_request_url("http://h/", "2031-04-20", "baked", "my sc") ==
          "http://h/api/vegetation?date=2031-04-20&variant=baked&scenario=my%20sc");
    CHECK(greentwin::vegetation_tileset_url("http://h", R"({"url":"/vegetation/b/k/tileset.json"})") ==
          "http://h/vegetation/b/k/tileset.json");

    // an edit unanswered when the connection drops is resent, same key, after the new welcome
    std::int64_t acked = -1;
    s.edit("sc", greentwin::plant_tree("tilia_cordata", 1.0, 2.0, 5), [&](const json* a, const greentwin::ServerError*) { acked = (*a)["seq"]; });
    const json first = json::parse(sent.back());
    CHECK(first["type"] == "edit" && first["key"].is_string() && first["key"].get<std::string>().size() >= 8);
    std::string undo_error;
    s.undo("sc", [&](const json*, const greentwin::ServerError* e) { undo_error = e ? e->code : "answered"; });
    s.disconnected("network");
    CHECK(undo_error == "disconnected" && acked == -1);
    sent.clear();
    s.connected(send);
    const json hello = json::parse(sent.at(0));
    CHECK(hello["resume"] == json({{"scenario", "sc"}, {"epoch", "e1"}, {"seq", 3}}));
    CHECK(sent.size() == 1);  // nothing but hello before the welcome
    s.receive_text(R"({"type":"welcome","epoch":"e1","session":"y","role":"planner"})");
    CHECK(sent.size() == 2 && json::parse(sent[1]) == first);  // the same frame: same ref, same key
    s.receive_text(json{{"type", "ack"}, {"ref", first["ref"]}, {"scenario", "sc"}, {"seq", 4}, {"duplicate", true}}.dump());
    CHECK(acked == 4);

    // updates: in order, duplicates dropped, a gap answered by a new subscription
    s.receive_text(R"({"type":"update","scenario":"sc","seq":4,"changes":[],"layers":{}})");
    s.receive_text(R"({"type":"update","scenario":"sc","seq":4,"changes":[],"layers":{}})");
    const std::size_t before = sent.size();
    s.receive_text(R"({"type":"update","scenario":"sc","seq":6,"changes":[],"layers":{}})");
    CHECK(updates == std::vector<std::int64_t>({4}));
    CHECK(sent.size() == before + 1 && json::parse(sent.back())["type"] == "subscribe");
    CHECK(s.seq_of("sc") == -1);

    // heartbeat: a ping after heartbeat_s, a dead connection after twice that unanswered
    s.heartbeat_s = 10;
    CHECK(s.tick(100.0));
    CHECK(s.tick(110.0) && json::parse(sent.back())["type"] == "ping");
    CHECK(s.tick(125.0));
    CHECK(!s.tick(131.0));
    std::puts("ok");
    return 0;
}
