// The Unity face of a greentwin/1 session: connects (ClientWebSocket, or the browser's
// WebSocket in WebGL builds), follows one scenario, keeps the current URL of every layer
// (the live ones from snapshots and updates, the city tileset from /api/layers), puts the
// CesiumGeoreference origin where the server says the city is, and offers the edits.
// Events are raised on Unity's main thread.
using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using CesiumForUnity;
using UnityEngine;
using UnityEngine.Networking;

namespace Greentwin
{
    [AddComponentMenu("Greentwin/Greentwin Client")]
    [DisallowMultipleComponent]
    public class GreentwinClient : MonoBehaviour
    {
        /// <summary>The city tileset's layer name here (in /api/layers it is the 3D Tiles
        /// "buildings" layer; "buildings" in updates is the scenario's own volumes).</summary>
        public const string CityLayer = "city";
        /// <summary>The layer <see cref="LoadVegetationOnDate"/> sets: the vegetation tileset of
        /// the date asked for (a GreentwinTilesetLayer with this layer name follows it).</summary>
        public const string DatedVegetationLayer = "vegetation_on_date";

        [Tooltip("http(s)://host:port of the greentwin server")] public string serverUrl = "http://127.0.0.1:8080";
        [Tooltip("Bearer token from the operator; empty for a read-only viewer")] public string token = "";
        [Tooltip("Ask for less than the token grants (viewer, citizen, planner); empty = as granted")] public string role = "";
        public string scenario = "baseline";
        [Tooltip("Set to the city's origin from the server's welcome (optional)")] public CesiumGeoreference georeference;
        public float heartbeatSeconds = 20f;

        /// <summary>(layer, absolute URL, kind: 3dtiles | overlay | geojson) on the main thread.</summary>
        public event Action<string, string, string> LayerChanged;
        public event Action<Dictionary<string, object>> Welcomed;
        public event Action<Dictionary<string, object>> UpdateReceived;
        public event Action<Dictionary<string, object>> ErrorReceived;
        /// <summary>(scenario, time {year, date "MM-DD"}) when the scenario's time is announced
        /// (snapshot, a set_time by anyone); scenario null: this session's own time.</summary>
        public event Action<string, Dictionary<string, object>> TimeChanged;

        public GreentwinSession Session { get; private set; }
        readonly Dictionary<string, KeyValuePair<string, string>> layers = new Dictionary<string, KeyValuePair<string, string>>();
        readonly Queue<Action> mainThread = new Queue<Action>();
        CancellationTokenSource cts;

        public string WebSocketUrl
        {
            get
            {
                string b = serverUrl.TrimEnd('/');
                if (b.StartsWith("https://")) return "wss://" + b.Substring(8) + "/ws";
                if (b.StartsWith("http://")) return "ws://" + b.Substring(7) + "/ws";
                return b + "/ws";
            }
        }

        public string Absolute(string path)
        {
            return path.StartsWith("http://") || path.StartsWith("https://") ? path : serverUrl.TrimEnd('/') + path;
        }

        /// <summary>The current absolute URL and kind of a layer, if known yet.</summary>
        public bool TryGetLayer(string layer, out string url, out string kind)
        {
            KeyValuePair<string, string> found;
            bool ok = layers.TryGetValue(layer, out found);
            url = ok ? found.Key : null;
            kind = ok ? found.Value : null;
            return ok;
        }

        static IGreentwinTransport CreateTransport()
        {
#if UNITY_WEBGL && !UNITY_EDITOR
            return new WebGLTransport();
#else
            return new ClientWebSocketTransport();
#endif
        }

        async void Start()
        {
            cts = new CancellationTokenSource();
            Session = new GreentwinSession(WebSocketUrl, token, role, CreateTransport) { HeartbeatSeconds = heartbeatSeconds };
            Session.Welcomed += m => Post(() => OnWelcome(m));
            Session.LayerChanged += (sc, name, info) =>
            {
                if (sc == scenario) Post(() => SetLayer(name, Json.Str(info, "url"), Json.Str(info, "kind")));
            };
            Session.UpdateReceived += m => Post(() => { if (UpdateReceived != null) UpdateReceived(m); });
            Session.ErrorReceived += m => Post(() =>
            {
                Debug.LogWarning("greentwin " + Json.Str(m, "code") + ": " + Json.Str(m, "message"));
                if (ErrorReceived != null) ErrorReceived(m);
            });
            Session.TimeChanged += (sc, time) =>
            {
                if (sc == null || sc == scenario) Post(() => { if (TimeChanged != null) TimeChanged(sc, time); });
            };
            Session.Disconnected += reason => Post(() => Debug.Log("greentwin: connection lost (" + reason + "), reconnecting"));
            try
            {
                await Session.StartAsync(cts.Token);
                await Session.SubscribeAsync(scenario);
                await FetchCityLayer();
            }
            catch (Exception e) when (!(e is OperationCanceledException))
            {
                Debug.LogError("greentwin: " + e.Message);
            }
        }

        void Update()
        {
            while (true)
            {
                Action a;
                lock (mainThread)
                {
                    if (mainThread.Count == 0) break;
                    a = mainThread.Dequeue();
                }
                a();
            }
        }

        void OnDestroy()
        {
            if (cts != null) cts.Cancel();
            if (Session != null) Session.Dispose();
        }

        void Post(Action a)
        {
            lock (mainThread) mainThread.Enqueue(a);
        }

        void OnWelcome(Dictionary<string, object> m)
        {
            var origin = Json.Obj(m, "origin");
            if (georeference != null && origin != null)
                georeference.SetOriginLongitudeLatitudeHeight(Json.Num(origin, "lon", 0), Json.Num(origin, "lat", 0), Json.Num(origin, "height", 0));
            if (Welcomed != null) Welcomed(m);
        }

        void SetLayer(string name, string path, string kind)
        {
            if (path == null) return;
            string url = Absolute(path);
            layers[name] = new KeyValuePair<string, string>(url, kind);
            if (LayerChanged != null) LayerChanged(name, url, kind);
        }

        /// <summary>The city tileset from /api/layers (it is not a live layer).</summary>
        async Task FetchCityLayer()
        {
            using (var req = UnityWebRequest.Get(Absolute("/api/layers?scenario=" + Uri.EscapeDataString(scenario))))
            {
                if (!string.IsNullOrEmpty(token)) req.SetRequestHeader("Authorization", "Bearer " + token);
                var op = req.SendWebRequest();
                while (!op.isDone) await Task.Yield();
                if (req.result != UnityWebRequest.Result.Success)
                {
                    Debug.LogWarning("greentwin: /api/layers failed: " + req.error);
                    return;
                }
                var all = Json.Obj(Json.Parse(req.downloadHandler.text), "layers");
                var city = all == null ? null : Json.Obj(all, "buildings");
                if (city != null && Json.Str(city, "kind") == "3dtiles") SetLayer(CityLayer, Json.Str(city, "url"), "3dtiles");
            }
        }

        // --- edits (a planner token): each answers the acknowledged seq ------------------
        public async Task<long> PlantTree(string species, double lon, double lat, double ageYears)
        {
            var ack = await Session.EditAsync(scenario, GreentwinProtocol.PlantTree(species, lon, lat, ageYears, null));
            return Json.Long(ack, "seq", -1);
        }

        public async Task<long> RemoveTree(string id)
        {
            return Json.Long(await Session.EditAsync(scenario, GreentwinProtocol.RemoveTree(id)), "seq", -1);
        }

        public async Task<long> Edit(Dictionary<string, object> op)
        {
            return Json.Long(await Session.EditAsync(scenario, op), "seq", -1);
        }

        public async Task<long> Undo() { return Json.Long(await Session.UndoAsync(scenario), "seq", -1); }

        public async Task<long> Redo() { return Json.Long(await Session.RedoAsync(scenario), "seq", -1); }

        // --- time (set_time) and the vegetation of a date ---------------------------------
        /// <summary>Set the time (year, "MM-DD"). shared: the scenario's shared time (planner),
        /// stored and broadcast to everyone following it; else this session's own. Returns the
        /// time the server announced.</summary>
        public async Task<Dictionary<string, object>> SetTime(int year, string monthDay, bool shared = true)
        {
            var answer = await Session.SetTimeAsync(year, monthDay, shared ? scenario : null);
            return Json.Obj(answer, "time");
        }

        /// <summary>The scenario's time as last announced ({year, date}), or null.</summary>
        public Dictionary<string, object> ScenarioTime { get { return Session == null ? null : Session.TimeOf(scenario); } }

        /// <summary>Fetch the vegetation tileset of a date ("YYYY-MM-DD"; null: the scenario's
        /// time) with GET /api/vegetation (baked: every tree's mesh in its tile, which Cesium for
        /// Unity draws; else instanced) and make it the layer <see cref="DatedVegetationLayer"/>.
        /// Returns its absolute URL, or null when it failed.</summary>
        public async Task<string> LoadVegetationOnDate(string isoDate = null, bool baked = true)
        {
            string date = isoDate ?? GreentwinProtocol.IsoDate(ScenarioTime);
            if (date == null)
            {
                Debug.LogWarning("greentwin: no date given and the scenario's time is not known yet");
                return null;
            }
            string httpBase = GreentwinProtocol.HttpBase(serverUrl);
            string request = GreentwinProtocol.VegetationRequestUrl(httpBase, date, baked ? "baked" : "instanced", scenario);
            using (var req = UnityWebRequest.Get(request))
            {
                if (!string.IsNullOrEmpty(token)) req.SetRequestHeader("Authorization", "Bearer " + token);
                var op = req.SendWebRequest();
                while (!op.isDone) await Task.Yield();
                if (req.result != UnityWebRequest.Result.Success)
                {
                    Debug.LogWarning("greentwin: /api/vegetation failed: " + req.error);
                    return null;
                }
                string url = GreentwinProtocol.VegetationTilesetUrl(httpBase, req.downloadHandler.text);
                SetLayer(DatedVegetationLayer, url, "3dtiles");
                return url;
            }
        }

        /// <summary>One tree model as a glb (instantiate it with <see cref="GreentwinGlb"/>).</summary>
        public Task<GlbFrame> RequestTreeModel(string species, double ageYears, int lod)
        {
            return Session.RequestGlbAsync(GreentwinProtocol.TreeModel(species, ageYears), lod);
        }
    }
}
