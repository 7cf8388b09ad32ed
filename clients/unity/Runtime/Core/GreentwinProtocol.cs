// greentwin/1 message builders, per-scenario seq tracking and the binary glb frame decoder.
// Engine independent (no UnityEngine types); see docs/protocol.md for the messages.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Greentwin
{
    /// <summary>A decoded binary frame: its JSON header and the glb bytes.</summary>
    public sealed class GlbFrame
    {
        public Dictionary<string, object> Header;
        public byte[] Glb;
        public string Ref { get { return Json.Str(Header, "ref"); } }
        public string Kind { get { return Json.Str(Header, "kind"); } }
    }

    /// <summary>What the 12-byte header and first chunk of a glb say (glTF 2.0, section 4.4).</summary>
    public sealed class GlbInfo
    {
        public uint Version;
        public uint Length;
        public Dictionary<string, object> Document;
        public bool HasBinChunk;
    }

    /// <summary>An <c>error</c> message from the server answering one of our requests.</summary>
    public class GreentwinException : Exception
    {
        public readonly string Code;
        public readonly string Ref;

        public GreentwinException(string code, string message, string reference) : base(code + ": " + message)
        {
            Code = code;
            Ref = reference;
        }
    }

    /// <summary>Builds client messages and tracks each scenario's seq (duplicates and gaps).</summary>
    public sealed class GreentwinProtocol
    {
        public const string Version = "greentwin/1";
        public string Epoch;
        public string Session;
        public readonly Dictionary<string, long> Seq = new Dictionary<string, long>();
        int nextRef = 1;
        readonly object gate = new object();

        public string NewRef()
        {
            lock (gate) return "c" + (nextRef++).ToString(CultureInfo.InvariantCulture);
        }

        /// <summary>A fresh idempotency key for one edit (reused only when resending it).</summary>
        public static string NewKey() { return "k" + Guid.NewGuid().ToString("N"); }

        public static Dictionary<string, object> Obj(params object[] kv)
        {
            var d = new Dictionary<string, object>();
            for (int i = 0; i + 1 < kv.Length; i += 2) d[(string)kv[i]] = kv[i + 1];
            return d;
        }

        public static List<object> LonLat(double lon, double lat) { return new List<object> { lon, lat }; }

        public string Hello(string token, string role, string resumeScenario)
        {
            var m = Obj("type", "hello", "protocol", Version);
            if (!string.IsNullOrEmpty(token)) m["token"] = token;
            if (!string.IsNullOrEmpty(role)) m["role"] = role;
            long seq;
            lock (gate)
            {
                if (resumeScenario != null && Epoch != null && Seq.TryGetValue(resumeScenario, out seq))
                    m["resume"] = Obj("scenario", resumeScenario, "epoch", Epoch, "seq", seq);
            }
            return Json.Write(m);
        }

        public static Dictionary<string, object> Subscribe(string reference, string scenario)
        {
            return Obj("type", "subscribe", "ref", reference, "scenario", scenario);
        }

        public static Dictionary<string, object> Edit(string reference, string scenario, Dictionary<string, object> op, string key, long? baseSeq)
        {
            var m = Obj("type", "edit", "ref", reference, "scenario", scenario, "op", op);
            if (key != null) m["key"] = key;
            if (baseSeq.HasValue) m["base_seq"] = baseSeq.Value;
            return m;
        }

        public static Dictionary<string, object> PlantTree(string species, double lon, double lat, double ageYears, string id)
        {
            var op = Obj("op", "plant_tree", "species", species, "position", LonLat(lon, lat), "age_years", ageYears);
            if (id != null) op["id"] = id;
            return op;
        }

        public static Dictionary<string, object> RemoveTree(string id) { return Obj("op", "remove_tree", "id", id); }

        /// <summary><c>set_time {time: {year, date: "MM-DD"}, scenario?}</c>: without a scenario the
        /// session's own time, with one (planner) the scenario's shared time.</summary>
        public static Dictionary<string, object> SetTime(string reference, int year, string monthDay, string scenario)
        {
            var m = Obj("type", "set_time", "ref", reference, "time", Obj("year", (long)year, "date", monthDay));
            if (!string.IsNullOrEmpty(scenario)) m["scenario"] = scenario;
            return m;
        }

        /// <summary>"YYYY-MM-DD" of a protocol time <c>{year, date: "MM-DD"}</c> (null if incomplete).</summary>
        public static string IsoDate(Dictionary<string, object> time)
        {
            object y = Json.Get(time, "year");  // parsed: a double; built here: a long or int
            long year = y is double ? (long)(double)y : y is long ? (long)y : y is int ? (int)y : -1;
            string md = Json.Str(time, "date");
            if (year < 0 || md == null) return null;
            return year.ToString("D4", CultureInfo.InvariantCulture) + "-" + md;
        }

        /// <summary>http(s)://host:port of a server given as its WebSocket or HTTP URL.</summary>
        public static string HttpBase(string url)
        {
            string b = url.TrimEnd('/');
            if (b.EndsWith("/ws")) b = b.Substring(0, b.Length - 3);
            if (b.StartsWith("wss://")) return "https://" + b.Substring(6);
            if (b.StartsWith("ws://")) return "http://" + b.Substring(5);
            return b;
        }

        /// <summary>The request for the vegetation tileset of a date (<c>GET /api/vegetation</c>;
        /// variant "baked" for engines without EXT_mesh_gpu_instancing, or "instanced"; no
        /// scenario: the server's default one).</summary>
        public static string VegetationRequestUrl(string httpBase, string isoDate, string variant, string scenario)
        {
            string u = httpBase.TrimEnd('/') + "/api/vegetation?date=" + Uri.EscapeDataString(isoDate)
                + "&variant=" + Uri.EscapeDataString(string.IsNullOrEmpty(variant) ? "baked" : variant);
            if (!string.IsNullOrEmpty(scenario)) u += "&scenario=" + Uri.EscapeDataString(scenario);
            return u;
        }

        /// <summary>The absolute tileset URL in the answer of <c>GET /api/vegetation</c>.</summary>
        public static string VegetationTilesetUrl(string httpBase, string answerJson)
        {
            string url = Json.Str(Json.Parse(answerJson), "url");
            if (url == null) throw new InvalidOperationException("the vegetation answer names no url");
            return url.StartsWith("http://") || url.StartsWith("https://") ? url : httpBase.TrimEnd('/') + url;
        }

        public static Dictionary<string, object> TreeModel(string species, double ageYears)
        {
            return Obj("kind", "tree", "species", species, "age_years", ageYears);
        }

        /// <summary>Parse a server text frame and update the seq state. <paramref name="isNew"/>
        /// is false for an update already applied; a gap throws <see cref="InvalidOperationException"/>
        /// (the caller subscribes again for a snapshot).</summary>
        public Dictionary<string, object> Receive(string text, out bool isNew)
        {
            var m = Json.Parse(text) as Dictionary<string, object>;
            if (m == null || Json.Str(m, "type") == null) throw new FormatException("a server message is an object with a type");
            isNew = true;
            string type = Json.Str(m, "type");
            lock (gate)
            {
                if (type == "welcome")
                {
                    Epoch = Json.Str(m, "epoch");
                    Session = Json.Str(m, "session");
                }
                else if (type == "snapshot")
                {
                    Seq[Json.Str(m, "scenario")] = Json.Long(m, "seq", 0);
                }
                else if (type == "update")
                {
                    string sc = Json.Str(m, "scenario");
                    long seq = Json.Long(m, "seq", -1);
                    long last;
                    if (!Seq.TryGetValue(sc, out last) || seq <= last) isNew = false;
                    else if (seq != last + 1)
                    {
                        Seq.Remove(sc);
                        throw new InvalidOperationException("gap in " + sc + ": " + seq + " after " + last);
                    }
                    else Seq[sc] = seq;
                }
            }
            return m;
        }

        public long SeqOf(string scenario)
        {
            long s;
            lock (gate) return Seq.TryGetValue(scenario, out s) ? s : -1;
        }

        /// <summary>Decode a binary frame: "GTB1", uint32 LE header length, JSON header, glb.</summary>
        public static GlbFrame DecodeGlb(byte[] frame, int count)
        {
            if (count < 8 || frame[0] != 'G' || frame[1] != 'T' || frame[2] != 'B' || frame[3] != '1')
                throw new FormatException("not a greentwin/1 binary frame");
            int n = (int)ReadU32(frame, 4);
            if (n < 0 || 8 + n > count) throw new FormatException("header length beyond the frame");
            var header = Json.Parse(Encoding.UTF8.GetString(frame, 8, n)) as Dictionary<string, object>;
            if (header == null) throw new FormatException("the frame header is not a JSON object");
            long len = Json.Long(header, "byte_length", -1);
            if (8 + n + len != count) throw new FormatException("glb length differs from the header");
            var glb = new byte[len];
            Array.Copy(frame, 8 + n, glb, 0, len);
            return new GlbFrame { Header = header, Glb = glb };
        }

        /// <summary>Check a glb's 12-byte header and read its JSON chunk (glTF 2.0, 4.4).</summary>
        public static GlbInfo InspectGlb(byte[] glb)
        {
            if (glb.Length < 20 || glb[0] != 'g' || glb[1] != 'l' || glb[2] != 'T' || glb[3] != 'F')
                throw new FormatException("no glTF magic");
            var info = new GlbInfo { Version = ReadU32(glb, 4), Length = ReadU32(glb, 8) };
            if (info.Version != 2) throw new FormatException("glTF version " + info.Version + ", not 2");
            if (info.Length != glb.Length) throw new FormatException("glb length field differs from its size");
            uint chunkLength = ReadU32(glb, 12);
            if (ReadU32(glb, 16) != 0x4E4F534A) throw new FormatException("the first chunk is not JSON");
            if (chunkLength % 4 != 0 || 20 + chunkLength > glb.Length) throw new FormatException("bad JSON chunk length");
            info.Document = Json.Parse(Encoding.UTF8.GetString(glb, 20, (int)chunkLength).TrimEnd(' ')) as Dictionary<string, object>;
            if (info.Document == null) throw new FormatException("the JSON chunk is not an object");
            long next = 20 + chunkLength;
            info.HasBinChunk = next + 8 <= glb.Length && ReadU32(glb, (int)next + 4) == 0x004E4942;
            return info;
        }

        static uint ReadU32(byte[] b, int at)
        {
            return (uint)(b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24));
        }
    }
}
