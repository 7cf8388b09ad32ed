// Console session of the engine-free C# core against a live server (run by the test suite):
//   mono GreentwinConsole.exe <ws-url> <planner-token> <scenario> [<http-base>]
// (<http-base>: where GET /api/vegetation is served; default the WebSocket's server)
// Prints one JSON object per line ({"step": ...}); after {"step": "await_restart"} it reads
// "expect <seq>" from stdin, waits (reconnecting on its own) until the resumed scenario
// reaches that seq, makes one more edit and prints {"step": "done", ...}. Exit code 0 = ok.
using System;
using System.Collections.Generic;
using System.Threading.Tasks;

namespace Greentwin.Tests
{
    public static class GreentwinConsole
    {
        const double T = 60;  // seconds any one answer may take (bound, not a wait)

        static void Emit(params object[] kv)
        {
            Console.Out.WriteLine(Json.Write(GreentwinProtocol.Obj(kv)));
            Console.Out.Flush();
        }

        static async Task<string> ExpectError(GreentwinSession s, Queue<Dictionary<string, object>> errors, string raw)
        {
            int before;
            lock (errors) before = errors.Count;
            await s.SendRawAsync(raw);
            for (int i = 0; i < 200; i++)
            {
                lock (errors) if (errors.Count > before) return Json.Str(errors.Dequeue(), "code");
                await Task.Delay(25);
            }
            throw new TimeoutException("no error frame for " + raw);
        }

        static async Task<int> Run(string url, string token, string scenario, string httpBase)
        {
            var s = new GreentwinSession(url, token, "planner", null) { HeartbeatSeconds = 5, InitialBackoffSeconds = 0.2, MaxBackoffSeconds = 1 };
            var updates = new List<object>();
            var errors = new Queue<Dictionary<string, object>>();
            var layerNames = new List<object>();
            s.UpdateReceived += m => { lock (updates) updates.Add((double)Json.Long(m, "seq", -1)); };
            s.ErrorReceived += m => { lock (errors) errors.Enqueue(m); };
            s.LayerChanged += (sc, name, info) => { lock (layerNames) if (!layerNames.Contains(name)) layerNames.Add(name); };

            await GreentwinSession.Within(s.StartAsync(System.Threading.CancellationToken.None), T);
            var welcome = s.Welcome;
            var extent = Json.Obj(welcome, "extent");
            var origin = Json.Obj(welcome, "origin");
            if (extent == null || origin == null) throw new Exception("the welcome names no extent/origin");
            Emit("step", "welcome", "role", Json.Str(welcome, "role"), "origin", origin, "extent", extent);

            var snap = await GreentwinSession.Within(s.SubscribeAsync(scenario), T);
            Emit("step", "snapshot", "seq", Json.Long(snap, "seq", -1), "layers", new List<object>(Json.Obj(snap, "layers").Keys));

            // a planted tree near the origin the server gave (never a hard-coded city)
            double lon = Json.Num(origin, "lon", 0), lat = Json.Num(origin, "lat", 0);
            double dLon = (Json.Num(extent, "east", lon) - Json.Num(extent, "west", lon)) / 10;
            var ack1 = await GreentwinSession.Within(s.EditAsync(scenario, GreentwinProtocol.PlantTree("tilia_cordata", lon, lat, 8, "eng-a")), T);
            await GreentwinSession.Within(s.WaitForSeqAsync(scenario, Json.Long(ack1, "seq", -1)), T);
            Emit("step", "edit", "seq", Json.Long(ack1, "seq", -1));
            var ack2 = await GreentwinSession.Within(s.UndoAsync(scenario), T);
            await GreentwinSession.Within(s.WaitForSeqAsync(scenario, Json.Long(ack2, "seq", -1)), T);
            Emit("step", "undo", "seq", Json.Long(ack2, "seq", -1));
            var ack3 = await GreentwinSession.Within(s.EditAsync(scenario, GreentwinProtocol.PlantTree("acer_platanoides", lon + dLon, lat, 5, "eng-b")), T);
            await GreentwinSession.Within(s.WaitForSeqAsync(scenario, Json.Long(ack3, "seq", -1)), T);
            Emit("step", "edit", "seq", Json.Long(ack3, "seq", -1));

            var frame = await GreentwinSession.Within(s.RequestGlbAsync(GreentwinProtocol.TreeModel("tilia_cordata", 20), 1), T);
            var glb = GreentwinProtocol.InspectGlb(frame.Glb);
            var asset = Json.Obj(glb.Document, "asset");
            Emit("step", "glb", "ref_matches", frame.Ref != null, "kind", frame.Kind, "version", (long)glb.Version,
                 "length", (long)glb.Length, "bytes", (long)frame.Glb.Length, "asset_version", Json.Str(asset, "version"),
                 "meshes", (long)((List<object>)Json.Get(glb.Document, "meshes")).Count, "bin_chunk", glb.HasBinChunk);

            // bad frames: each answered by an error frame, the connection stays up
            string badJson = await ExpectError(s, errors, "{not json");
            string badSchema = await ExpectError(s, errors, "{\"type\":\"edit\",\"scenario\":\"" + scenario + "\"}");
            string outside = null;
            try
            {
                await GreentwinSession.Within(s.EditAsync(scenario, GreentwinProtocol.PlantTree("tilia_cordata", Json.Num(extent, "east", 0) + 1, lat, 8, null)), T);
            }
            catch (GreentwinException e) { outside = e.Code; }
            var pong = await GreentwinSession.Within(s.PingAsync(), T);
            Emit("step", "bad_frames", "bad_json", badJson, "schema", badSchema, "outside_extent", outside, "pong", Json.Str(pong, "type"));

            // the scenario's shared time: answered by its broadcast, carried by a fresh snapshot
            var timeAnswer = await GreentwinSession.Within(s.SetTimeAsync(2031, "04-20", scenario), T);
            var resnap = await GreentwinSession.Within(s.SubscribeAsync(scenario), T);
            Emit("step", "time", "answer", Json.Obj(timeAnswer, "time"), "answer_scenario", Json.Str(timeAnswer, "scenario"),
                 "snapshot", Json.Obj(resnap, "time"), "known", s.TimeOf(scenario));

            // the baked vegetation tileset of that date over HTTP
            string date = GreentwinProtocol.IsoDate(s.TimeOf(scenario));
            string request = GreentwinProtocol.VegetationRequestUrl(httpBase, date, "baked", null);
            using (var web = new System.Net.WebClient())
            {
                string answer = await web.DownloadStringTaskAsync(request);
                string tileset = GreentwinProtocol.VegetationTilesetUrl(httpBase, answer);
                var doc = Json.Parse(await web.DownloadStringTaskAsync(tileset));
                Emit("step", "vegetation", "request", request, "answer", Json.Parse(answer), "tileset", tileset,
                     "asset_version", Json.Str(Json.Obj(doc, "asset"), "version"), "extras", Json.Obj(doc, "extras"),
                     "has_root", Json.Obj(doc, "root") != null);
            }

            long before = s.Protocol.SeqOf(scenario);
            int connections = s.Connections;
            Emit("step", "await_restart", "seq", before);
            string line = await Task.Run(() => Console.In.ReadLine());
            if (line == null || !line.StartsWith("expect ")) throw new Exception("expected 'expect <seq>' on stdin, got " + line);
            long expect = long.Parse(line.Substring(7));
            int seenBefore;
            lock (updates) seenBefore = updates.Count;
            await GreentwinSession.Within(s.WaitForSeqAsync(scenario, expect), 3 * T);
            List<object> resumed;
            lock (updates) resumed = updates.GetRange(seenBefore, updates.Count - seenBefore);
            var ack4 = await GreentwinSession.Within(s.EditAsync(scenario, GreentwinProtocol.PlantTree("tilia_cordata", lon, lat + dLon / 2, 3, "eng-c")), T);
            await GreentwinSession.Within(s.WaitForSeqAsync(scenario, Json.Long(ack4, "seq", -1)), T);
            List<object> all;
            lock (updates) all = new List<object>(updates);
            List<object> names;
            lock (layerNames) names = new List<object>(layerNames);
            Emit("step", "done", "ok", true, "resumed", resumed, "after_resume_seq", Json.Long(ack4, "seq", -1),
                 "final_seq", s.Protocol.SeqOf(scenario), "updates", all, "connections", (long)s.Connections,
                 "reconnected", s.Connections > connections, "layers", names);
            await s.CloseAsync();
            return 0;
        }

        public static int Main(string[] args)
        {
            if (args.Length != 3 && args.Length != 4)
            {
                Console.Error.WriteLine("usage: GreentwinConsole <ws-url> <planner-token> <scenario> [<http-base>]");
                return 2;
            }
            string httpBase = args.Length == 4 ? args[3] : GreentwinProtocol.HttpBase(args[0]);
            try { return Run(args[0], args[1], args[2], httpBase).GetAwaiter().GetResult(); }
            catch (Exception e)
            {
                Console.Error.WriteLine("session failed: " + e);
                return 1;
            }
        }
    }
}
