// IGreentwinTransport over the browser's WebSocket for Unity WebGL builds, where
// System.Net.WebSockets is not available. The JavaScript half is
// Plugins/WebGL/GreentwinWebSocket.jslib; it calls back into the static methods below.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using System.Threading.Tasks;
using AOT;

namespace Greentwin
{
    public sealed class WebGLTransport : IGreentwinTransport
    {
        delegate void OpenCallback(int id);
        delegate void TextCallback(int id, string text);
        delegate void BinaryCallback(int id, IntPtr data, int length);
        delegate void CloseCallback(int id, int code);

        [DllImport("__Internal")] static extern int GreentwinWsOpen(string url, OpenCallback onOpen, TextCallback onText, BinaryCallback onBinary, CloseCallback onClose);
        [DllImport("__Internal")] static extern int GreentwinWsSendText(int id, string text);
        [DllImport("__Internal")] static extern void GreentwinWsClose(int id, int code);

        static readonly Dictionary<int, WebGLTransport> sockets = new Dictionary<int, WebGLTransport>();

        int id = -1;
        readonly Queue<Frame> frames = new Queue<Frame>();
        TaskCompletionSource<Frame> waiting;
        TaskCompletionSource<bool> opened = new TaskCompletionSource<bool>();
        bool closed;

        public Task ConnectAsync(Uri url, CancellationToken ct)
        {
            id = GreentwinWsOpen(url.ToString(), OnOpen, OnText, OnBinary, OnClose);
            if (id < 0) throw new InvalidOperationException("the browser refused the WebSocket");
            sockets[id] = this;
            ct.Register(() => opened.TrySetCanceled());
            return opened.Task;
        }

        public Task SendTextAsync(string text, CancellationToken ct)
        {
            if (closed || GreentwinWsSendText(id, text) != 0) throw new InvalidOperationException("the WebSocket is closed");
            return Task.FromResult(true);
        }

        public Task<Frame> ReceiveAsync(CancellationToken ct)
        {
            if (frames.Count > 0) return Task.FromResult(frames.Dequeue());
            if (closed) return Task.FromResult<Frame>(null);
            waiting = new TaskCompletionSource<Frame>();
            ct.Register(() => { if (waiting != null) waiting.TrySetCanceled(); });
            return waiting.Task;
        }

        public Task CloseAsync(CancellationToken ct)
        {
            if (!closed && id >= 0) GreentwinWsClose(id, 1000);
            return Task.FromResult(true);
        }

        public void Abort()
        {
            if (!closed && id >= 0) GreentwinWsClose(id, 4000);
            Closed();
        }

        public void Dispose() { Abort(); }

        void Deliver(Frame f)
        {
            var w = waiting;
            waiting = null;
            if (w != null) w.TrySetResult(f);
            else frames.Enqueue(f);
        }

        void Closed()
        {
            if (closed) return;
            closed = true;
            sockets.Remove(id);
            opened.TrySetException(new InvalidOperationException("the WebSocket closed"));
            var w = waiting;
            waiting = null;
            if (w != null) w.TrySetResult(null);
        }

        [MonoPInvokeCallback(typeof(OpenCallback))]
        static void OnOpen(int id)
        {
            WebGLTransport t;
            if (sockets.TryGetValue(id, out t)) t.opened.TrySetResult(true);
        }

        [MonoPInvokeCallback(typeof(TextCallback))]
        static void OnText(int id, string text)
        {
            WebGLTransport t;
            if (sockets.TryGetValue(id, out t)) t.Deliver(new Frame { Binary = false, Data = System.Text.Encoding.UTF8.GetBytes(text) });
        }

        [MonoPInvokeCallback(typeof(BinaryCallback))]
        static void OnBinary(int id, IntPtr data, int length)
        {
            WebGLTransport t;
            if (!sockets.TryGetValue(id, out t)) return;
            var bytes = new byte[length];
            Marshal.Copy(data, bytes, 0, length);
            t.Deliver(new Frame { Binary = true, Data = bytes });
        }

        [MonoPInvokeCallback(typeof(CloseCallback))]
        static void OnClose(int id, int code)
        {
            WebGLTransport t;
            if (sockets.TryGetValue(id, out t)) t.Closed();
        }
    }
}
