// Console smoke test of the greentwin/1 protocol code, run against a live server:
//   mono ProtocolSmoke.exe ws://127.0.0.1:8080/ws <planner-token> <scenario-id>
// hello -> welcome, subscribe -> snapshot, edit -> ack + update, ping -> pong,
// request_glb -> binary frame. Prints one JSON summary line; exit code 0 on success.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net.WebSockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Greentwin
{
    public static class ProtocolSmoke
    {
        static async Task Send(ClientWebSocket ws, string text, CancellationToken ct)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            await ws.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Text, true, ct);
        }

        static async Task<KeyValuePair<WebSocketMessageType, byte[]>> Receive(ClientWebSocket ws, CancellationToken ct)
        {
            var buf = new byte[64 * 1024];
            using (var ms = new MemoryStream())
            {
                WebSocketReceiveResult r;
                do
                {
                    r = await ws.ReceiveAsync(new ArraySegment<byte>(buf), ct);
                    ms.Write(buf, 0, r.Count);
                } while (!r.EndOfMessage);
                return new KeyValuePair<WebSocketMessageType, byte[]>(r.MessageType, ms.ToArray());
            }
        }

        static async Task<Dictionary<string, object>> Expect(ClientWebSocket ws, GreentwinProtocol p, string type, CancellationToken ct)
        {
            var frame = await Receive(ws, ct);
            bool isNew;
            var m = p.Receive(Encoding.UTF8.GetString(frame.Value), out isNew);
            if ((string)m["type"] != type) throw new Exception("expected " + type + ", got " + Json.Write(m));
            return m;
        }

        static async Task<int> Run(string url, string token, string scenario)
        {
            var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var ct = cts.Token;
            var p = new GreentwinProtocol();
            using (var ws = new ClientWebSocket())
            {
                await ws.ConnectAsync(new Uri(url), ct);
                await Send(ws, p.Hello(token, "planner", null), ct);
                var welcome = await Expect(ws, p, "welcome", ct);
                await Send(ws, p.Subscribe(scenario), ct);
                var snap = await Expect(ws, p, "snapshot", ct);
                string editRef = p.NewRef();
                await Send(ws, p.Edit(editRef, scenario, GreentwinProtocol.PlantTree("tilia-cordata", 24.93, 60.16, 8)), ct);
                var ack = await Expect(ws, p, "ack", ct);
                if ((string)ack["ref"] != editRef) throw new Exception("ack for another ref");
                var update = await Expect(ws, p, "update", ct);
                await Send(ws, p.Ping("p1"), ct);
                await Expect(ws, p, "pong", ct);
                await Send(ws, p.RequestTreeGlb("g1", "tilia-cordata", 20, 1), ct);
                var bin = await Receive(ws, ct);
                if (bin.Key != WebSocketMessageType.Binary) throw new Exception("binary frame expected");
                var glb = GreentwinProtocol.DecodeGlb(bin.Value, bin.Value.Length);
                string magic = Encoding.ASCII.GetString(glb.Glb, 0, 4);
                await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", ct);
                var summary = GreentwinProtocol.Obj(
                    "ok", true, "role", welcome["role"], "snapshot_seq", snap["seq"],
                    "ack_seq", ack["seq"], "update_seq", update["seq"],
                    "layers", new List<object>(((Dictionary<string, object>)update["layers"]).Keys),
                    "glb_magic", magic, "glb_bytes", (double)glb.Glb.Length,
                    "tracked_seq", (double)p.Seq[scenario]);
                Console.WriteLine(Json.Write(summary));
                return 0;
            }
        }

        public static int Main(string[] args)
        {
            if (args.Length != 3)
            {
                Console.Error.WriteLine("usage: ProtocolSmoke <ws-url> <token> <scenario>");
                return 2;
            }
            try { return Run(args[0], args[1], args[2]).GetAwaiter().GetResult(); }
            catch (Exception e)
            {
                Console.Error.WriteLine("smoke failed: " + e);
                return 1;
            }
        }
    }
}
