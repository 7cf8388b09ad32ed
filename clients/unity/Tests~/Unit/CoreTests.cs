// Unit checks of the engine-free C# core without a network: the JSON reader/writer on
// hand-checked inputs, seq tracking, glb inspection, and a session over an in-memory
// transport (resend of an unanswered edit with its key after a reconnect, resume). Run by
// the test suite; prints "ok" and exits 0, or names the first failed check and exits 1.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Greentwin.Tests
{
    /// <summary>A transport whose other end is the test: it reads what the session sent and
    /// pushes what the "server" says.</summary>
    sealed class FakeTransport : IGreentwinTransport
    {
        public readonly BlockingCollection<string> Sent = new BlockingCollection<string>();
        readonly BlockingCollection<Frame> incoming = new BlockingCollection<Frame>();

        public Task ConnectAsync(Uri url, CancellationToken ct) { return Task.FromResult(true); }
        public Task SendTextAsync(string text, CancellationToken ct) { Sent.Add(text); return Task.FromResult(true); }
        public Task<Frame> ReceiveAsync(CancellationToken ct) { return Task.Run(() => incoming.Take(ct)); }
        public Task CloseAsync(CancellationToken ct) { Drop(); return Task.FromResult(true); }
        public void Abort() { Drop(); }
        public void Dispose() { }
        public void Push(string text) { incoming.Add(new Frame { Binary = false, Data = Encoding.UTF8.GetBytes(text) }); }
        public void Drop() { try { incoming.Add(null); } catch (InvalidOperationException) { } }

        public Dictionary<string, object> Next()
        {
            string s;
            if (!Sent.TryTake(out s, 10000)) throw new Exception("the session sent nothing");
            return (Dictionary<string, object>)Json.Parse(s);
        }
    }

    public static class CoreTests
    {
        static void Check(bool ok, string what)
        {
            if (!ok) throw new Exception("check failed: " + what);
        }

        static void Throws(Action a, string what)
        {
            try { a(); }
            catch (FormatException) { return; }
            throw new Exception("no FormatException: " + what);
        }

        static void JsonChecks()
        {
            var v = (Dictionary<string, object>)Json.Parse(
                "{\"a\": [1, 2.5, -3e2, true, false, null], \"s\": \"q\\\"b\\\\s\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\", \"o\": {}}");
            var a = (List<object>)v["a"];
            Check(a.Count == 6 && (double)a[0] == 1 && (double)a[1] == 2.5 && (double)a[2] == -300, "numbers");
            Check((bool)a[3] && !(bool)a[4] && a[5] == null, "literals");
            Check((string)v["s"] == "q\"b\\s/\b\f\n\r\t\u00e9\U0001F600", "escapes and a surrogate pair");
            Check(((Dictionary<string, object>)v["o"]).Count == 0, "empty object");
            Check(Json.Write(GreentwinProtocol.Obj("k", "a\"\n", "n", 0.1, "i", 7L, "l", new List<object> { true, null }))
                  == "{\"k\":\"a\\\"\\u000a\",\"n\":0.1,\"i\":7,\"l\":[true,null]}", "writer");
            Throws(() => Json.Parse("{"), "unterminated object");
            Throws(() => Json.Parse("[1,]"), "trailing comma");
            Throws(() => Json.Parse("\"abc"), "unterminated string");
            Throws(() => Json.Parse("tru"), "bad literal");
            Throws(() => Json.Parse("{} x"), "trailing characters");
            Throws(() => Json.Parse("\"\\x\""), "bad escape");
            Throws(() => Json.Parse(new string('[', 70) + new string(']', 70)), "too deep");
        }

        static void ProtocolChecks()
        {
            var p = new GreentwinProtocol();
            bool isNew;
            p.Receive("{\"type\":\"snapshot\",\"scenario\":\"sc\",\"seq\":3}", out isNew);
            p.Receive("{\"type\":\"update\",\"scenario\":\"sc\",\"seq\":4}", out isNew);
            Check(isNew && p.SeqOf("sc") == 4, "next update applied");
            p.Receive("{\"type\":\"update\",\"scenario\":\"sc\",\"seq\":4}", out isNew);
            Check(!isNew, "duplicate dropped");
            bool gap = false;
            try { p.Receive("{\"type\":\"update\",\"scenario\":\"sc\",\"seq\":6}", out isNew); }
            catch (InvalidOperationException) { gap = true; }
            Check(gap && p.SeqOf("sc") == -1, "gap detected");

            string doc = "{\"asset\":{\"version\":\"2.0\"}}";
            while (doc.Length % 4 != 0) doc += " ";  // chunks are padded to 4 bytes
            var glb = new List<byte>(Encoding.ASCII.GetBytes("glTF"));
            glb.AddRange(BitConverter.GetBytes(2u));
            glb.AddRange(BitConverter.GetBytes((uint)(20 + doc.Length)));
            glb.AddRange(BitConverter.GetBytes((uint)doc.Length));
            glb.AddRange(Encoding.ASCII.GetBytes("JSON"));
            glb.AddRange(Encoding.ASCII.GetBytes(doc));
            var info = GreentwinProtocol.InspectGlb(glb.ToArray());
            Check(info.Version == 2 && info.Length == glb.Count && !info.HasBinChunk, "glb header");
            Check(Json.Str(Json.Obj(info.Document, "asset"), "version") == "2.0", "glb JSON chunk");
            glb[3] = (byte)'X';
            Throws(() => GreentwinProtocol.InspectGlb(glb.ToArray()), "glb magic");

            Check(GreentwinProtocol.HttpBase("wss://h:1/ws") == "https://h:1" && GreentwinProtocol.HttpBase("ws://h:2/ws/") == "http://h:2", "http base of the socket");
            Check(GreentwinProtocol.VegetationRequestUrl("http://h/", "2031-04-20", "baked", "my sc")
                  == "http://h/api/vegetation?date=2031-04-20&variant=baked&scenario=my%20sc", "vegetation request");
            Check(GreentwinProtocol.VegetationTilesetUrl("http://h", "{\"url\":\"/vegetation/b/k/tileset.json\"}")
                  == "http://h/vegetation/b/k/tileset.json", "vegetation tileset url");
            Check(GreentwinProtocol.IsoDate(GreentwinProtocol.Obj("year", 2031L, "date", "04-20")) == "2031-04-20", "iso date");
        }

        static async Task SessionChecks()
        {
            var transports = new BlockingCollection<FakeTransport>();
            var s = new GreentwinSession("ws://test/ws", "tok", "planner", () =>
            {
                var t = new FakeTransport();
                transports.Add(t);
                return t;
            }) { InitialBackoffSeconds = 0.01, MaxBackoffSeconds = 0.02, HeartbeatSeconds = 3600 };
            var started = s.StartAsync(CancellationToken.None);
            var t1 = transports.Take();
            var hello = t1.Next();
            Check(Json.Str(hello, "type") == "hello" && !hello.ContainsKey("resume"), "first hello");
            t1.Push("{\"type\":\"welcome\",\"epoch\":\"e1\",\"session\":\"a\",\"role\":\"planner\"}");
            await GreentwinSession.Within(started, 10);

            var layers = new List<string>();
            s.LayerChanged += (sc, name, info) => { lock (layers) layers.Add(name + "=" + Json.Str(info, "url") + "|" + Json.Str(info, "kind")); };
            var sub = s.SubscribeAsync("sc");
            var subMsg = t1.Next();
            t1.Push("{\"type\":\"snapshot\",\"ref\":\"" + Json.Str(subMsg, "ref") + "\",\"scenario\":\"sc\",\"seq\":3,\"layers\":{\"vegetation\":"
                    + "{\"url\":\"/v\",\"version\":0,\"kind\":\"3dtiles\",\"variants\":{\"baked\":{\"url\":\"/b\",\"version\":0}}}}}");
            Check(Json.Long(await GreentwinSession.Within(sub, 10), "seq", -1) == 3, "snapshot answers subscribe");
            lock (layers) Check(string.Join(",", layers) == "vegetation=/v|3dtiles,vegetation_baked=/b|3dtiles", "a variant is raised as its own layer");

            // set_time on the scenario: answered by its broadcast (which has no ref)
            var setTime = s.SetTimeAsync(2030, "05-01", "sc");
            var setMsg = t1.Next();
            Check(Json.Str(setMsg, "type") == "set_time" && Json.Str(setMsg, "scenario") == "sc"
                  && Json.Str(Json.Obj(setMsg, "time"), "date") == "05-01", "set_time for the scenario");
            t1.Push("{\"type\":\"time\",\"scenario\":\"sc\",\"seq\":3,\"time\":{\"year\":2030,\"date\":\"05-01\"}}");
            var timeAnswer = await GreentwinSession.Within(setTime, 10);
            Check(Json.Str(timeAnswer, "scenario") == "sc" && GreentwinProtocol.IsoDate(s.TimeOf("sc")) == "2030-05-01", "the broadcast answers set_time");

            var edit = s.EditAsync("sc", GreentwinProtocol.PlantTree("tilia_cordata", 1, 2, 5, null));
            var first = t1.Next();
            Check(Json.Str(first, "type") == "edit" && Json.Str(first, "key").Length >= 8, "edit with a key");
            var undo = s.UndoAsync("sc");
            t1.Next();
            t1.Drop();  // the connection breaks before either is answered
            string undoError = null;
            try { await GreentwinSession.Within(undo, 10); }
            catch (GreentwinException e) { undoError = e.Code; }
            Check(undoError == "disconnected", "an undo is not resent");

            var t2 = transports.Take();
            var hello2 = t2.Next();
            var resume = Json.Obj(hello2, "resume");
            Check(resume != null && Json.Str(resume, "epoch") == "e1" && Json.Long(resume, "seq", -1) == 3, "resume");
            t2.Push("{\"type\":\"welcome\",\"epoch\":\"e1\",\"session\":\"b\",\"role\":\"planner\"}");
            var again = t2.Next();
            Check(Json.Write(again) == Json.Write(first), "the same edit frame (ref and key) is resent");
            t2.Push("{\"type\":\"ack\",\"ref\":\"" + Json.Str(first, "ref") + "\",\"scenario\":\"sc\",\"seq\":4,\"duplicate\":true}");
            Check(Json.Long(await GreentwinSession.Within(edit, 10), "seq", -1) == 4, "the resent edit's ack");
            Check(s.Connections == 2, "two welcomes");
            s.Dispose();
        }

        public static int Main()
        {
            try
            {
                JsonChecks();
                ProtocolChecks();
                SessionChecks().GetAwaiter().GetResult();
                Console.WriteLine("ok");
                return 0;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine(e);
                return 1;
            }
        }
    }
}
