// Console session of the engine-free C++ core against a live server (run by the test suite):
//   greentwin_console <ws-url> <planner-token> <scenario> [<http-base>]
// (<http-base>: where GET /api/vegetation is served; default the WebSocket's server)
// The same script as the C# console program: prints one JSON object per line ({"step": ...});
// after {"step": "await_restart"} it reads "expect <seq>" from stdin, waits (reconnecting on
// its own) until the scenario reaches that seq, makes one more edit and prints
// {"step": "done", ...}. Exit code 0 = ok.
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <random>
#include <thread>

#include "GreentwinCore/Protocol.hpp"
#include "websocket.hpp"

using greentwin::json;
using greentwin::ServerError;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kAnswer = std::chrono::seconds(60);  // bound on any one answer, not a wait

struct Failed : std::runtime_error {
    std::string code;
    explicit Failed(const ServerError& e) : std::runtime_error(e.code + ": " + e.message), code(e.code) {}
};

double now_s() {
    return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

void emit(const json& j) { std::cout << j.dump() << std::endl; }

template <class Start>
json await_reply(Start start) {
    auto promise = std::make_shared<std::promise<json>>();
    auto future = promise->get_future();
    start([promise](const json* answer, const ServerError* error) {
        if (answer) promise->set_value(*answer);
        else promise->set_exception(std::make_exception_ptr(Failed(*error)));
    });
    if (future.wait_for(kAnswer) != std::future_status::ready) throw std::runtime_error("no answer in time");
    return future.get();
}

void wait_for_seq(const greentwin::Session& s, const std::string& scenario, std::int64_t seq,
                  std::chrono::seconds timeout = kAnswer) {
    const auto until = Clock::now() + timeout;
    while (s.seq_of(scenario) < seq) {
        if (Clock::now() > until) throw std::runtime_error("seq " + std::to_string(seq) + " not reached");
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

/// GET http://host:port/path with HTTP/1.1 and Connection: close; the body of a 200 answer.
std::string http_get(const std::string& url) {
    const wsclient::Endpoint e = wsclient::split_url(url, "http");
    const int fd = wsclient::tcp_connect(e);
    const std::string& path = e.path;
    const std::string& authority = e.authority;
    timeval limit{60, 0};  // a bound on each read, not a wait
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + authority + "\r\nConnection: close\r\n\r\n";
    for (std::size_t done = 0; done < req.size();) {
        const auto n = ::send(fd, req.data() + done, req.size() - done, MSG_NOSIGNAL);
        if (n <= 0) {
            ::close(fd);
            throw std::runtime_error("send failed");
        }
        done += static_cast<std::size_t>(n);
    }
    std::string all;
    char buf[8192];
    while (true) {
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            ::close(fd);
            throw std::runtime_error("receive failed or timed out");
        }
        if (n == 0) break;
        all.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    const auto head_end = all.find("\r\n\r\n");
    if (head_end == std::string::npos) throw std::runtime_error("no HTTP head from " + url);
    const std::string status = all.substr(0, all.find("\r\n"));
    if (status.find(" 200 ") == std::string::npos) throw std::runtime_error(url + ": " + status);
    std::string lower = all.substr(0, head_end);
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower.find("transfer-encoding: chunked") != std::string::npos) throw std::runtime_error("chunked answer");
    return all.substr(head_end + 4);
}

int run(const std::string& url, const std::string& token, const std::string& scenario,
        const std::string& http_base) {
    std::mutex m;
    std::vector<std::int64_t> updates;
    std::vector<std::string> errors;
    std::vector<std::string> layer_names;
    greentwin::Session::Callbacks cb;
    cb.on_update = [&](const json& u) {
        std::lock_guard<std::mutex> lock(m);
        updates.push_back(u.value("seq", std::int64_t{-1}));
    };
    cb.on_error = [&](const json& e) {
        std::lock_guard<std::mutex> lock(m);
        errors.push_back(e.value("code", ""));
    };
    cb.on_layer = [&](const std::string&, const std::string& name, const json&) {
        std::lock_guard<std::mutex> lock(m);
        if (std::find(layer_names.begin(), layer_names.end(), name) == layer_names.end()) layer_names.push_back(name);
    };
    greentwin::Session s(token, "planner", cb);
    s.heartbeat_s = 5.0;

    std::atomic<bool> stop{false};
    std::thread io([&] {
        std::mt19937 rng{std::random_device{}()};
        std::uniform_real_distribution<double> unit(0.0, 1.0);
        int attempt = 0;
        while (!stop) {
            auto client = std::make_unique<wsclient::Client>();
            std::string reason = "closed";
            try {
                client->connect(url);
                s.connected([c = client.get()](const std::string& text) { c->send_text(text); });
                attempt = 0;
                wsclient::Message msg;
                while (!stop) {
                    if (client->receive(msg, 200)) {
                        if (msg.binary) {
                            s.receive_binary(reinterpret_cast<const std::uint8_t*>(msg.data.data()), msg.data.size());
                        } else {
                            s.receive_text(msg.data);
                        }
                    }
                    if (!s.tick(now_s())) throw std::runtime_error("heartbeat unanswered");
                }
                s.disconnected("stopped");
                client->close();
                break;
            } catch (const std::exception& e) {
                reason = e.what();
            }
            s.disconnected(reason);
            client.reset();
            const double delay = greentwin::backoff_seconds(attempt++, 0.2, 1.0, unit(rng));
            std::this_thread::sleep_for(std::chrono::duration<double>(delay));
        }
    });
    struct Join {
        std::atomic<bool>& stop;
        std::thread& t;
        ~Join() { stop = true; if (t.joinable()) t.join(); }
    } join{stop, io};

    const auto until = Clock::now() + kAnswer;
    while (!s.is_connected()) {
        if (Clock::now() > until) throw std::runtime_error("no welcome");
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const json welcome = s.welcome();
    if (!welcome.contains("extent") || !welcome.contains("origin")) throw std::runtime_error("the welcome names no extent/origin");
    const json extent = welcome["extent"], origin = welcome["origin"];
    emit({{"step", "welcome"}, {"role", welcome.value("role", "")}, {"origin", origin}, {"extent", extent}});

    const json snap = await_reply([&](auto r) { s.subscribe(scenario, r); });
    json names = json::array();
    for (auto it = snap["layers"].begin(); it != snap["layers"].end(); ++it) names.push_back(it.key());
    emit({{"step", "snapshot"}, {"seq", snap["seq"]}, {"layers", names}});

    // a planted tree near the origin the server gave (never a hard-coded city)
    const double lon = origin["lon"].get<double>(), lat = origin["lat"].get<double>();
    const double dlon = (extent["east"].get<double>() - extent["west"].get<double>()) / 10;
    auto edit = [&](const json& op) {
        const json ack = await_reply([&](auto r) { s.edit(scenario, op, r); });
        wait_for_seq(s, scenario, ack["seq"].get<std::int64_t>());
        return ack["seq"].get<std::int64_t>();
    };
    emit({{"step", "edit"}, {"seq", edit(greentwin::plant_tree("tilia_cordata", lon, lat, 8, "eng-a"))}});
    const json undo = await_reply([&](auto r) { s.undo(scenario, r); });
    wait_for_seq(s, scenario, undo["seq"].get<std::int64_t>());
    emit({{"step", "undo"}, {"seq", undo["seq"]}});
    emit({{"step", "edit"}, {"seq", edit(greentwin::plant_tree("acer_platanoides", lon + dlon, lat, 5, "eng-b"))}});

    auto glb_promise = std::make_shared<std::promise<greentwin::GlbFrame>>();
    auto glb_future = glb_promise->get_future();
    const std::string glb_ref = s.request_glb(
        {{"kind", "tree"}, {"species", "tilia_cordata"}, {"age_years", 20}}, 1,
        [glb_promise](const greentwin::GlbFrame* f, const ServerError* e) {
            if (f) glb_promise->set_value(*f);
            else glb_promise->set_exception(std::make_exception_ptr(Failed(*e)));
        });
    if (glb_future.wait_for(kAnswer) != std::future_status::ready) throw std::runtime_error("no glb frame");
    const greentwin::GlbFrame frame = glb_future.get();
    const greentwin::GlbInfo info = greentwin::inspect_glb(frame.glb);
    emit({{"step", "glb"},
          {"ref_matches", frame.header.value("ref", "") == glb_ref},
          {"kind", frame.header.value("kind", "")},
          {"version", info.version},
          {"length", info.length},
          {"bytes", frame.glb.size()},
          {"asset_version", info.document["asset"].value("version", "")},
          {"meshes", info.document["meshes"].size()},
          {"bin_chunk", info.has_bin_chunk}});

    // bad frames: each answered by an error frame, the connection stays up
    auto expect_error = [&](const std::string& raw) {
        std::size_t before;
        {
            std::lock_guard<std::mutex> lock(m);
            before = errors.size();
        }
        s.send_raw(raw);
        const auto limit = Clock::now() + kAnswer;
        while (Clock::now() < limit) {
            {
                std::lock_guard<std::mutex> lock(m);
                if (errors.size() > before) return errors[before];
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        throw std::runtime_error("no error frame for " + raw);
    };
    const std::string bad_json = expect_error("{not json");
    const std::string bad_schema = expect_error(json{{"type", "edit"}, {"scenario", scenario}}.dump());
    std::string outside;
    try {
        edit(greentwin::plant_tree("tilia_cordata", extent["east"].get<double>() + 1, lat, 8));
    } catch (const Failed& e) {
        outside = e.code;
    }
    const json pong = await_reply([&](auto r) { s.ping(r); });
    emit({{"step", "bad_frames"}, {"bad_json", bad_json}, {"schema", bad_schema},
          {"outside_extent", outside}, {"pong", pong.value("type", "")}});

    // the scenario's shared time: answered by its broadcast, carried by a fresh snapshot
    const json time_answer = await_reply([&](auto r) { s.set_time(2031, "04-20", scenario, r); });
    const json resnap = await_reply([&](auto r) { s.subscribe(scenario, r); });
    emit({{"step", "time"}, {"answer", time_answer["time"]}, {"answer_scenario", time_answer.value("scenario", "")},
          {"snapshot", resnap["time"]}, {"known", s.time_of(scenario)}});

    // the baked vegetation tileset of that date over HTTP
    const std::string request = greentwin::vegetation_request_url(http_base, greentwin::iso_date(s.time_of(scenario)));
    const std::string answer = http_get(request);
    const std::string tileset = greentwin::vegetation_tileset_url(http_base, answer);
    const json doc = json::parse(http_get(tileset));
    emit({{"step", "vegetation"}, {"request", request}, {"answer", json::parse(answer)}, {"tileset", tileset},
          {"asset_version", doc["asset"].value("version", "")}, {"extras", doc.value("extras", json::object())},
          {"has_root", doc.contains("root") && doc["root"].is_object()}});

    const int connections = s.connections();
    emit({{"step", "await_restart"}, {"seq", s.seq_of(scenario)}});
    std::string line;
    if (!std::getline(std::cin, line) || line.rfind("expect ", 0) != 0) throw std::runtime_error("expected 'expect <seq>' on stdin");
    const std::int64_t expect = std::stoll(line.substr(7));
    std::size_t seen_before;
    {
        std::lock_guard<std::mutex> lock(m);
        seen_before = updates.size();
    }
    wait_for_seq(s, scenario, expect, std::chrono::seconds(120));
    std::vector<std::int64_t> resumed;
    {
        std::lock_guard<std::mutex> lock(m);
        resumed.assign(updates.begin() + static_cast<std::ptrdiff_t>(seen_before), updates.end());
    }
    const std::int64_t after = edit(greentwin::plant_tree("tilia_cordata", lon, lat + dlon / 2, 3, "eng-c"));
    std::lock_guard<std::mutex> lock(m);
    emit({{"step", "done"}, {"ok", true}, {"resumed", resumed}, {"after_resume_seq", after},
          {"final_seq", s.seq_of(scenario)}, {"updates", updates}, {"connections", s.connections()},
          {"reconnected", s.connections() > connections}, {"layers", layer_names}});
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4 && argc != 5) {
        std::cerr << "usage: greentwin_console <ws-url> <planner-token> <scenario> [<http-base>]\n";
        return 2;
    }
    try {
        return run(argv[1], argv[2], argv[3], argc == 5 ? argv[4] : greentwin::http_base(argv[1]));
    } catch (const std::exception& e) {
        std::cerr << "session failed: " << e.what() << "\n";
        return 1;
    }
}
