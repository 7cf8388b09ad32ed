// The browser half of WebGLTransport.cs: one WebSocket per id; messages are handed to C#
// through the callbacks given at open (text as a UTF-8 C string, binary as bytes on the heap).
var GreentwinWebSocketLib = {
  $GreentwinSockets: { next: 1, open: {} },

  GreentwinWsOpen__deps: ["$GreentwinSockets"],
  GreentwinWsOpen: function (urlPtr, onOpen, onText, onBinary, onClose) {
    var url = UTF8ToString(urlPtr);
    var ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      return -1;
    }
    ws.binaryType = "arraybuffer";
    var id = GreentwinSockets.next++;
    GreentwinSockets.open[id] = ws;
    ws.onopen = function () {
      {{{ makeDynCall("vi", "onOpen") }}}(id);
    };
    ws.onmessage = function (event) {
      if (typeof event.data === "string") {
        var size = lengthBytesUTF8(event.data) + 1;
        var text = _malloc(size);
        stringToUTF8(event.data, text, size);
        {{{ makeDynCall("vii", "onText") }}}(id, text);
        _free(text);
      } else {
        var bytes = new Uint8Array(event.data);
        var buffer = _malloc(bytes.length);
        HEAPU8.set(bytes, buffer);
        {{{ makeDynCall("viii", "onBinary") }}}(id, buffer, bytes.length);
        _free(buffer);
      }
    };
    ws.onclose = function (event) {
      delete GreentwinSockets.open[id];
      {{{ makeDynCall("vii", "onClose") }}}(id, event.code);
    };
    return id;
  },

  GreentwinWsSendText__deps: ["$GreentwinSockets"],
  GreentwinWsSendText: function (id, textPtr) {
    var ws = GreentwinSockets.open[id];
    if (!ws || ws.readyState !== 1) return 1;
    ws.send(UTF8ToString(textPtr));
    return 0;
  },

  GreentwinWsClose__deps: ["$GreentwinSockets"],
  GreentwinWsClose: function (id, code) {
    var ws = GreentwinSockets.open[id];
    if (ws) ws.close(code === 1000 ? 1000 : 4000);
  },
};

autoAddDeps(GreentwinWebSocketLib, "$GreentwinSockets");
mergeInto(LibraryManager.library, GreentwinWebSocketLib);
