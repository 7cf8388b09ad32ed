// The socket under a greentwin/1 session: System.Net.WebSockets on desktop, standalone and
// mobile players and in the console tests; the browser's WebSocket in WebGL builds
// (Runtime/Unity/WebGLTransport.cs), behind the same interface.
using System;
using System.IO;
using System.Net.WebSockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Greentwin
{
    /// <summary>One received WebSocket message.</summary>
    public sealed class Frame
    {
        public bool Binary;
        public byte[] Data;
        public string Text { get { return Encoding.UTF8.GetString(Data); } }
    }

    /// <summary>A message-oriented WebSocket connection (one connection per instance).</summary>
    public interface IGreentwinTransport : IDisposable
    {
        Task ConnectAsync(Uri url, CancellationToken ct);
        /// <summary>Send one text message; calls may overlap (the transport serialises them).</summary>
        Task SendTextAsync(string text, CancellationToken ct);
        /// <summary>The next whole message, or null once the connection has closed.</summary>
        Task<Frame> ReceiveAsync(CancellationToken ct);
        Task CloseAsync(CancellationToken ct);
        /// <summary>Drop the connection at once (a pending receive then ends).</summary>
        void Abort();
    }

    /// <summary><see cref="IGreentwinTransport"/> over <see cref="ClientWebSocket"/>.</summary>
    public sealed class ClientWebSocketTransport : IGreentwinTransport
    {
        /// <summary>Largest message accepted (the server's glb frames are far smaller).</summary>
        public int MaxMessageBytes = 64 * 1024 * 1024;
        readonly ClientWebSocket ws = new ClientWebSocket();
        readonly SemaphoreSlim sendLock = new SemaphoreSlim(1, 1);

        public Task ConnectAsync(Uri url, CancellationToken ct) { return ws.ConnectAsync(url, ct); }

        public async Task SendTextAsync(string text, CancellationToken ct)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            await sendLock.WaitAsync(ct);
            try { await ws.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Text, true, ct); }
            finally { sendLock.Release(); }
        }

        public async Task<Frame> ReceiveAsync(CancellationToken ct)
        {
            var buf = new byte[64 * 1024];
            using (var ms = new MemoryStream())
            {
                WebSocketReceiveResult r;
                do
                {
                    r = await ws.ReceiveAsync(new ArraySegment<byte>(buf), ct);
                    if (r.MessageType == WebSocketMessageType.Close) return null;
                    ms.Write(buf, 0, r.Count);
                    if (ms.Length > MaxMessageBytes) throw new IOException("message over " + MaxMessageBytes + " bytes");
                } while (!r.EndOfMessage);
                return new Frame { Binary = r.MessageType == WebSocketMessageType.Binary, Data = ms.ToArray() };
            }
        }

        public async Task CloseAsync(CancellationToken ct)
        {
            if (ws.State == WebSocketState.Open)
                await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", ct);
        }

        public void Abort() { ws.Abort(); }

        public void Dispose() { ws.Dispose(); }
    }
}
