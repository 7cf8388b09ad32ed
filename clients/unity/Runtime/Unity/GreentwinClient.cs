// Unity MonoBehaviour following a greentwin/1 scenario: connects with ClientWebSocket,
// says hello, subscribes, applies updates in seq order, resumes after a lost connection,
// and loads glb models sent as binary frames with glTFast (com.unity.cloud.gltfast).
// Not compiled in this repository's tests (needs UnityEngine and glTFast); its protocol
// logic lives in GreentwinProtocol.cs, which the tests compile and run.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net.WebSockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using GLTFast;
using UnityEngine;

namespace Greentwin
{
    public class GreentwinClient : MonoBehaviour
    {
        [Tooltip("ws://host:port/ws")] public string url = "ws://127.0.0.1:8080/ws";
        [Tooltip("Bearer token from the operator; empty for a read-only viewer")] public string token = "";
        public string scenario = "baseline";

        /// <summary>Raised on the main thread with a layer name and its new immutable URL
        /// (hand it to Cesium for Unity, or fetch the GeoJSON).</summary>
        public event Action<string, string> LayerChanged;

        readonly GreentwinProtocol protocol = new GreentwinProtocol();
        readonly Queue<Action> mainThread = new Queue<Action>();
        ClientWebSocket ws;
        CancellationTokenSource cts;

        async void Start()
        {
            cts = new CancellationTokenSource();
            await RunWithReconnect(cts.Token);
        }

        void OnDestroy()
        {
            cts?.Cancel();
            ws?.Dispose();
        }

        void Update()
        {
            lock (mainThread)
                while (mainThread.Count > 0) mainThread.Dequeue()();
        }

        async Task RunWithReconnect(CancellationToken ct)
        {
            var delay = 1.0f;
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    ws = new ClientWebSocket();
                    await ws.ConnectAsync(new Uri(url), ct);
                    // resume if we already followed the scenario, else subscribe
                    await Send(protocol.Hello(string.IsNullOrEmpty(token) ? null : token, null,
                                              protocol.Seq.ContainsKey(scenario) ? scenario : null), ct);
                    if (!protocol.Seq.ContainsKey(scenario)) await Send(protocol.Subscribe(scenario), ct);
                    delay = 1.0f;
                    await ReadLoop(ct);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    Debug.LogWarning("greentwin: connection lost (" + e.Message + "), retrying");
                }
                await Task.Delay(TimeSpan.FromSeconds(delay), ct);
                delay = Mathf.Min(delay * 2, 30);
            }
        }

        public Task Send(string text, CancellationToken ct)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            return ws.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Text, true, ct);
        }

        /// <summary>Plant a tree (needs a planner token); the change arrives as an update.</summary>
        public Task PlantTree(string species, double lon, double lat, double ageYears)
        {
            return Send(protocol.Edit(protocol.NewRef(), scenario,
                GreentwinProtocol.PlantTree(species, lon, lat, ageYears)), cts.Token);
        }

        /// <summary>Ask for one tree model; it is instantiated when the binary frame arrives.</summary>
        public Task RequestTree(string species, double ageYears, int lod)
        {
            return Send(protocol.RequestTreeGlb(protocol.NewRef(), species, ageYears, lod), cts.Token);
        }

        async Task ReadLoop(CancellationToken ct)
        {
            var buf = new byte[64 * 1024];
            while (ws.State == WebSocketState.Open)
            {
                using (var ms = new MemoryStream())
                {
                    WebSocketReceiveResult r;
                    do
                    {
                        r = await ws.ReceiveAsync(new ArraySegment<byte>(buf), ct);
                        if (r.MessageType == WebSocketMessageType.Close) return;
                        ms.Write(buf, 0, r.Count);
                    } while (!r.EndOfMessage);
                    var data = ms.ToArray();
                    if (r.MessageType == WebSocketMessageType.Binary) OnGlb(GreentwinProtocol.DecodeGlb(data, data.Length));
                    else OnText(Encoding.UTF8.GetString(data));
                }
            }
        }

        void OnText(string text)
        {
            bool isNew;
            Dictionary<string, object> m;
            try { m = protocol.Receive(text, out isNew); }
            catch (InvalidOperationException)  // a gap: subscribe again for a snapshot
            {
                protocol.Seq.Remove(scenario);
                _ = Send(protocol.Subscribe(scenario), cts.Token);
                return;
            }
            var type = (string)m["type"];
            if ((type == "snapshot" || (type == "update" && isNew)) && m.ContainsKey("layers"))
            {
                foreach (var kv in (Dictionary<string, object>)m["layers"])
                {
                    var layer = kv.Key;
                    var layerUrl = (string)((Dictionary<string, object>)kv.Value)["url"];
                    lock (mainThread) mainThread.Enqueue(() => LayerChanged?.Invoke(layer, layerUrl));
                }
            }
            else if (type == "error")
            {
                Debug.LogWarning("greentwin error " + m["code"] + ": " + m["message"]);
            }
        }

        void OnGlb(GlbFrame frame)
        {
            lock (mainThread) mainThread.Enqueue(async () =>
            {
                var gltf = new GltfImport();
                if (await gltf.LoadGltfBinary(frame.Glb))
                {
                    var go = new GameObject("greentwin " + frame.Header["kind"] + " " + frame.Header["ref"]);
                    await gltf.InstantiateMainSceneAsync(go.transform);
                }
            });
        }
    }
}
