// A greentwin/1 session that survives lost connections: hello (with resume), subscriptions,
// edits/undo/redo answered by their ack, updates in seq order, glb requests answered by a
// binary frame, a heartbeat, and reconnection with exponential back-off. Engine independent:
// events are raised on the caller's synchronization context where there is one (Unity's main
// thread), else on the thread pool.
using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace Greentwin
{
    public sealed class GreentwinSession : IDisposable
    {
        public readonly string Url;
        public readonly string Token;
        public readonly string Role;
        /// <summary>Seconds between application-level pings; a ping unanswered for twice as
        /// long drops the connection (then it reconnects).</summary>
        public double HeartbeatSeconds = 20;
        public double InitialBackoffSeconds = 0.5;
        public double MaxBackoffSeconds = 30;
        public readonly GreentwinProtocol Protocol = new GreentwinProtocol();

        /// <summary>The last welcome (role, limits, <c>extent</c>, <c>origin</c>).</summary>
        public Dictionary<string, object> Welcome { get; private set; }
        /// <summary>How many connections got a welcome so far.</summary>
        public int Connections { get; private set; }

        public event Action<Dictionary<string, object>> Welcomed;
        public event Action<Dictionary<string, object>> SnapshotReceived;
        /// <summary>A new update (duplicates are dropped before this).</summary>
        public event Action<Dictionary<string, object>> UpdateReceived;
        /// <summary>(scenario, layer name, {url, version, kind}) from a snapshot or update; a
        /// layer's variant comes as its own layer (vegetation.variants.baked: vegetation_baked).</summary>
        public event Action<string, string, Dictionary<string, object>> LayerChanged;
        /// <summary>An error frame that answers no pending request (bad frame, rate limit...).</summary>
        public event Action<Dictionary<string, object>> ErrorReceived;
        /// <summary>Every text message, after the handling above (time, comment, votes...).</summary>
        public event Action<Dictionary<string, object>> MessageReceived;
        public event Action<GlbFrame> GlbReceived;
        /// <summary>(scenario, time {year, date}) when a scenario's shared time is known or
        /// changes (snapshots, <c>time</c> broadcasts); scenario null: the session's own time.</summary>
        public event Action<string, Dictionary<string, object>> TimeChanged;
        public event Action<string> Disconnected;

        // answers never run the caller's continuation on the read loop (it could block it)
        const TaskCreationOptions Async = TaskCreationOptions.RunContinuationsAsynchronously;

        sealed class Pending
        {
            public TaskCompletionSource<Dictionary<string, object>> Text;
            public TaskCompletionSource<GlbFrame> Glb;
            public Dictionary<string, object> Message;
            public bool Resend;  // sent again after a reconnect (subscribe, keyed edits)
        }

        readonly Func<IGreentwinTransport> factory;
        readonly object gate = new object();
        readonly Dictionary<string, Pending> pending = new Dictionary<string, Pending>();
        readonly List<string> followed = new List<string>();
        readonly Dictionary<string, Dictionary<string, object>> times = new Dictionary<string, Dictionary<string, object>>();
        readonly List<KeyValuePair<KeyValuePair<string, long>, TaskCompletionSource<bool>>> seqWaiters =
            new List<KeyValuePair<KeyValuePair<string, long>, TaskCompletionSource<bool>>>();
        readonly Random jitter = new Random();
        IGreentwinTransport transport;
        bool welcomed;
        TaskCompletionSource<bool> firstWelcome = new TaskCompletionSource<bool>(Async);
        CancellationTokenSource cts;
        Task loop;
        Task heartbeatTask;

        public GreentwinSession(string url, string token, string role, Func<IGreentwinTransport> transportFactory)
        {
            Url = url;
            Token = token;
            Role = role;
            factory = transportFactory ?? (() => new ClientWebSocketTransport());
        }

        /// <summary>Start connecting (and reconnecting); completes at the first welcome.</summary>
        public Task StartAsync(CancellationToken ct)
        {
            if (loop != null) throw new InvalidOperationException("the session is already started");
            cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            loop = RunAsync(cts.Token);
            return firstWelcome.Task;
        }

        public bool IsConnected { get { lock (gate) return welcomed; } }

        // --- requests -------------------------------------------------------------------
        /// <summary>Follow a scenario; the answer is its snapshot. Followed scenarios are
        /// resumed or subscribed again after every reconnect.</summary>
        public Task<Dictionary<string, object>> SubscribeAsync(string scenario)
        {
            lock (gate) if (!followed.Contains(scenario)) followed.Add(scenario);
            return Request(GreentwinProtocol.Subscribe(Protocol.NewRef(), scenario), true);
        }

        /// <summary>Send an edit op; the answer is its ack (<c>seq</c>), or a
        /// <see cref="GreentwinException"/>. Each edit carries a fresh idempotency key, so an
        /// edit unanswered when the connection dropped is resent safely after reconnecting.</summary>
        public Task<Dictionary<string, object>> EditAsync(string scenario, Dictionary<string, object> op, long? baseSeq = null)
        {
            var msg = GreentwinProtocol.Edit(Protocol.NewRef(), scenario, op, GreentwinProtocol.NewKey(), baseSeq);
            return Request(msg, true);
        }

        public Task<Dictionary<string, object>> UndoAsync(string scenario)
        {
            return Request(GreentwinProtocol.Obj("type", "undo", "ref", Protocol.NewRef(), "scenario", scenario), false);
        }

        public Task<Dictionary<string, object>> RedoAsync(string scenario)
        {
            return Request(GreentwinProtocol.Obj("type", "redo", "ref", Protocol.NewRef(), "scenario", scenario), false);
        }

        /// <summary>Set the time {year, date "MM-DD"}: without a scenario the session's own time,
        /// with one (planner) the scenario's shared time, stored and broadcast to its
        /// subscribers. The answer is the <c>time</c> message (the broadcast, for a scenario).</summary>
        public Task<Dictionary<string, object>> SetTimeAsync(int year, string monthDay, string scenario = null)
        {
            return Request(GreentwinProtocol.SetTime(Protocol.NewRef(), year, monthDay, scenario), false);
        }

        /// <summary>The last time known for a scenario (null: the session's own), or null.</summary>
        public Dictionary<string, object> TimeOf(string scenario)
        {
            Dictionary<string, object> t;
            lock (gate) return times.TryGetValue(scenario ?? "", out t) ? t : null;
        }

        public Task<Dictionary<string, object>> PingAsync()
        {
            return Request(GreentwinProtocol.Obj("type", "ping", "ref", Protocol.NewRef()), false);
        }

        /// <summary>Ask for a glb model (<c>object</c>: {kind: tree, species, age_years} or
        /// {kind: building, footprint, height_m}); the answer is the binary frame.</summary>
        public Task<GlbFrame> RequestGlbAsync(Dictionary<string, object> model, int lod)
        {
            string r = Protocol.NewRef();
            var p = new Pending
            {
                Glb = new TaskCompletionSource<GlbFrame>(Async),
                Message = GreentwinProtocol.Obj("type", "request_glb", "ref", r, "lod", (long)lod, "object", model),
            };
            lock (gate) pending[r] = p;
            SendPending(r, p);
            return p.Glb.Task;
        }

        /// <summary>Send a text frame as it is (tests use it for deliberately bad frames).</summary>
        public Task SendRawAsync(string text)
        {
            var t = CurrentTransport();
            if (t == null) throw new InvalidOperationException("not connected");
            return t.SendTextAsync(text, cts.Token);
        }

        /// <summary>Completes once the scenario's applied seq reaches <paramref name="seq"/>.</summary>
        public Task WaitForSeqAsync(string scenario, long seq)
        {
            var tcs = new TaskCompletionSource<bool>(Async);
            lock (gate)
            {
                if (Protocol.SeqOf(scenario) >= seq) return Task.FromResult(true);
                seqWaiters.Add(new KeyValuePair<KeyValuePair<string, long>, TaskCompletionSource<bool>>(
                    new KeyValuePair<string, long>(scenario, seq), tcs));
            }
            return tcs.Task;
        }

        /// <summary>A task's result, or a <see cref="TimeoutException"/> after <paramref name="seconds"/>.</summary>
        public static async Task<T> Within<T>(Task<T> task, double seconds)
        {
            if (await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(seconds))) != task)
                throw new TimeoutException("no answer within " + seconds + " s");
            return await task;
        }

        public static async Task Within(Task task, double seconds)
        {
            if (await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(seconds))) != task)
                throw new TimeoutException("no answer within " + seconds + " s");
            await task;
        }

        Task<Dictionary<string, object>> Request(Dictionary<string, object> msg, bool resend)
        {
            var p = new Pending { Text = new TaskCompletionSource<Dictionary<string, object>>(Async), Message = msg, Resend = resend };
            string r = (string)msg["ref"];
            lock (gate) pending[r] = p;
            SendPending(r, p);
            return p.Text.Task;
        }

        IGreentwinTransport CurrentTransport()
        {
            lock (gate) return welcomed ? transport : null;
        }

        async void SendPending(string r, Pending p)
        {
            var t = CurrentTransport();
            if (t == null)
            {
                if (!p.Resend) Fail(r, new GreentwinException("disconnected", "not connected", r));
                return;  // resendable requests go out after the next welcome
            }
            try { await t.SendTextAsync(Json.Write(p.Message), cts.Token); }
            catch (Exception e)
            {
                if (!p.Resend) Fail(r, e);
            }
        }

        void Fail(string r, Exception e)
        {
            Pending p;
            lock (gate)
            {
                if (!pending.TryGetValue(r, out p)) return;
                pending.Remove(r);
            }
            if (p.Text != null) p.Text.TrySetException(e);
            if (p.Glb != null) p.Glb.TrySetException(e);
        }

        Pending Take(string r)
        {
            if (r == null) return null;
            Pending p;
            lock (gate)
            {
                if (!pending.TryGetValue(r, out p)) return null;
                pending.Remove(r);
            }
            return p;
        }

        // --- the connection loop --------------------------------------------------------
        async Task RunAsync(CancellationToken ct)
        {
            int attempt = 0;
            while (!ct.IsCancellationRequested)
            {
                string reason = "closed";
                var t = factory();
                try
                {
                    await t.ConnectAsync(new Uri(Url), ct);
                    lock (gate) transport = t;
                    string resume = null;
                    lock (gate)
                        foreach (var sc in followed)
                            if (Protocol.SeqOf(sc) >= 0) { resume = sc; break; }
                    await t.SendTextAsync(Protocol.Hello(Token, Role, resume), ct);
                    heartbeatTask = Heartbeat(t, ct);
                    await ReadLoop(t, resume, ct);
                    attempt = 0;
                }
                catch (Exception e)
                {
                    reason = e.Message;
                }
                List<string> lost = new List<string>();
                lock (gate)
                {
                    welcomed = false;
                    transport = null;
                    foreach (var kv in pending) if (!kv.Value.Resend) lost.Add(kv.Key);
                }
                foreach (var r in lost) Fail(r, new GreentwinException("disconnected", "the connection closed: " + reason, r));
                try { t.Abort(); } catch (Exception) { }
                t.Dispose();
                if (ct.IsCancellationRequested) break;
                var d = Disconnected;
                if (d != null) d(reason);
                double delay = Math.Min(MaxBackoffSeconds, InitialBackoffSeconds * Math.Pow(2, Math.Min(attempt, 16)));
                attempt++;
                lock (jitter) delay *= 0.75 + 0.5 * jitter.NextDouble();
                try { await Task.Delay(TimeSpan.FromSeconds(delay), ct); }
                catch (OperationCanceledException) { break; }
            }
            firstWelcome.TrySetCanceled();
        }

        async Task Heartbeat(IGreentwinTransport t, CancellationToken ct)
        {
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    await Task.Delay(TimeSpan.FromSeconds(HeartbeatSeconds), ct);
                    lock (gate) if (transport != t) return;
                    if (!IsConnected) continue;
                    try { await Within(PingAsync(), 2 * HeartbeatSeconds); }
                    catch (TimeoutException)
                    {
                        t.Abort();  // the read loop ends; the session reconnects
                        return;
                    }
                    catch (GreentwinException) { return; }
                }
            }
            catch (OperationCanceledException) { }
        }

        async Task ReadLoop(IGreentwinTransport t, string resumed, CancellationToken ct)
        {
            while (true)
            {
                var frame = await t.ReceiveAsync(ct);
                if (frame == null) return;
                if (frame.Binary) OnBinary(frame.Data);
                else await OnText(t, frame.Text, resumed, ct);
            }
        }

        void OnBinary(byte[] data)
        {
            var glb = GreentwinProtocol.DecodeGlb(data, data.Length);
            var p = Take(glb.Ref);
            if (p != null && p.Glb != null) p.Glb.TrySetResult(glb);
            var h = GlbReceived;
            if (h != null) h(glb);
        }

        async Task OnText(IGreentwinTransport t, string text, string resumed, CancellationToken ct)
        {
            bool isNew;
            Dictionary<string, object> m;
            try { m = Protocol.Receive(text, out isNew); }
            catch (InvalidOperationException)
            {
                // a gap: subscribe again; the snapshot replaces what we had
                var parsed = Json.Parse(text);
                string sc = Json.Str(parsed, "scenario");
                await t.SendTextAsync(Json.Write(GreentwinProtocol.Subscribe(Protocol.NewRef(), sc)), ct);
                return;
            }
            string type = Json.Str(m, "type");
            string r = Json.Str(m, "ref");
            switch (type)
            {
                case "welcome":
                    await OnWelcome(t, m, resumed, ct);
                    break;
                case "snapshot":  // the layers first, then the one who asked
                    RaiseLayers(m);
                    NoteTime(Json.Str(m, "scenario"), Json.Obj(m, "time"));
                    Raise(SnapshotReceived, m);
                    ReleaseSeqWaiters();
                    Answer(r, m);
                    break;
                case "update":
                    if (!isNew) break;
                    RaiseLayers(m);
                    Raise(UpdateReceived, m);
                    ReleaseSeqWaiters();
                    break;
                case "error":
                    var p = Take(r);
                    var err = new GreentwinException(Json.Str(m, "code"), Json.Str(m, "message"), r);
                    if (p != null && p.Text != null) p.Text.TrySetException(err);
                    else if (p != null && p.Glb != null) p.Glb.TrySetException(err);
                    else Raise(ErrorReceived, m);
                    break;
                case "time":
                    string tsc = Json.Str(m, "scenario");
                    NoteTime(tsc, Json.Obj(m, "time"));
                    // a scenario's time is broadcast without a ref: it answers our oldest set_time for it
                    if (r == null && tsc != null) r = OldestSetTime(tsc);
                    Answer(r, m);
                    break;
                default:  // ack, pong, unsubscribed answer their ref
                    Answer(r, m);
                    break;
            }
            Raise(MessageReceived, m);
        }

        async Task OnWelcome(IGreentwinTransport t, Dictionary<string, object> m, string resumed, CancellationToken ct)
        {
            List<string> subscribe = new List<string>();
            List<KeyValuePair<string, Pending>> resend = new List<KeyValuePair<string, Pending>>();
            lock (gate)
            {
                Welcome = m;
                Connections++;
                welcomed = true;
                var waiting = new HashSet<string>();
                foreach (var kv in pending)
                {
                    if (!kv.Value.Resend) continue;
                    resend.Add(kv);
                    if (Json.Str(kv.Value.Message, "type") == "subscribe") waiting.Add(Json.Str(kv.Value.Message, "scenario"));
                }
                foreach (var sc in followed)
                    if (sc != resumed && !waiting.Contains(sc)) subscribe.Add(sc);
            }
            Raise(Welcomed, m);
            firstWelcome.TrySetResult(true);
            foreach (var sc in subscribe)
                await t.SendTextAsync(Json.Write(GreentwinProtocol.Subscribe(Protocol.NewRef(), sc)), ct);
            foreach (var kv in resend)
                await t.SendTextAsync(Json.Write(kv.Value.Message), ct);
        }

        void NoteTime(string scenario, Dictionary<string, object> time)
        {
            if (time == null) return;
            lock (gate) times[scenario ?? ""] = time;
            var h = TimeChanged;
            if (h != null) h(scenario, time);
        }

        string OldestSetTime(string scenario)
        {
            string best = null;
            long bestN = long.MaxValue;
            lock (gate)
                foreach (var kv in pending)
                {
                    var msg = kv.Value.Message;
                    if (Json.Str(msg, "type") != "set_time" || Json.Str(msg, "scenario") != scenario) continue;
                    long n;
                    if (long.TryParse(kv.Key.Substring(1), out n) && n < bestN) { bestN = n; best = kv.Key; }
                }
            return best;
        }

        void Answer(string r, Dictionary<string, object> m)
        {
            var p = Take(r);
            if (p != null && p.Text != null) p.Text.TrySetResult(m);
        }

        void RaiseLayers(Dictionary<string, object> m)
        {
            var h = LayerChanged;
            var layers = Json.Obj(m, "layers");
            if (h == null || layers == null) return;
            string sc = Json.Str(m, "scenario");
            foreach (var kv in layers)
            {
                var info = kv.Value as Dictionary<string, object>;
                if (info == null) continue;
                h(sc, kv.Key, info);
                // a variant (vegetation.variants.baked) is raised as its own layer: vegetation_baked
                var variants = Json.Obj(info, "variants");
                if (variants == null) continue;
                foreach (var v in variants)
                {
                    var vinfo = v.Value as Dictionary<string, object>;
                    if (vinfo == null) continue;
                    h(sc, kv.Key + "_" + v.Key, GreentwinProtocol.Obj(
                        "url", Json.Str(vinfo, "url"), "version", Json.Get(vinfo, "version"), "kind", Json.Str(info, "kind")));
                }
            }
        }

        void ReleaseSeqWaiters()
        {
            var done = new List<TaskCompletionSource<bool>>();
            lock (gate)
            {
                for (int i = seqWaiters.Count - 1; i >= 0; i--)
                {
                    var w = seqWaiters[i];
                    if (Protocol.SeqOf(w.Key.Key) >= w.Key.Value)
                    {
                        done.Add(w.Value);
                        seqWaiters.RemoveAt(i);
                    }
                }
            }
            foreach (var tcs in done) tcs.TrySetResult(true);
        }

        static void Raise(Action<Dictionary<string, object>> h, Dictionary<string, object> m)
        {
            if (h != null) h(m);
        }

        /// <summary>Close the connection and stop reconnecting.</summary>
        public async Task CloseAsync()
        {
            var t = CurrentTransport();
            if (t != null)
            {
                try { await Within(t.CloseAsync(CancellationToken.None), 5); }
                catch (Exception) { }
            }
            if (cts != null) cts.Cancel();
            if (loop != null)
            {
                try { await Within(loop, 5); }
                catch (Exception) { }
            }
        }

        public void Dispose()
        {
            if (cts != null) cts.Cancel();
        }
    }
}
