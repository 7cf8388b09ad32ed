// greentwin/1 protocol helpers, engine independent (no UnityEngine types):
// a minimal JSON reader/writer, message builders, per-scenario seq tracking and the
// binary glb frame decoder. Compiles with Unity's C# and with Mono's mcs.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Greentwin
{
    /// <summary>Minimal JSON: objects are Dictionary&lt;string, object&gt;, arrays List&lt;object&gt;,
    /// numbers double, plus string, bool and null.</summary>
    public static class Json
    {
        public static object Parse(string text)
        {
            int i = 0;
            object v = ParseValue(text, ref i);
            SkipWs(text, ref i);
            if (i != text.Length) throw new FormatException("trailing characters at " + i);
            return v;
        }

        static void SkipWs(string s, ref int i)
        {
            while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        }

        static object ParseValue(string s, ref int i)
        {
            SkipWs(s, ref i);
            if (i >= s.Length) throw new FormatException("unexpected end");
            char c = s[i];
            if (c == '{')
            {
                var d = new Dictionary<string, object>();
                i++;
                SkipWs(s, ref i);
                if (s[i] == '}') { i++; return d; }
                while (true)
                {
                    SkipWs(s, ref i);
                    string key = ParseString(s, ref i);
                    SkipWs(s, ref i);
                    if (s[i++] != ':') throw new FormatException("':' expected at " + (i - 1));
                    d[key] = ParseValue(s, ref i);
                    SkipWs(s, ref i);
                    char n = s[i++];
                    if (n == '}') return d;
                    if (n != ',') throw new FormatException("',' expected at " + (i - 1));
                }
            }
            if (c == '[')
            {
                var l = new List<object>();
                i++;
                SkipWs(s, ref i);
                if (s[i] == ']') { i++; return l; }
                while (true)
                {
                    l.Add(ParseValue(s, ref i));
                    SkipWs(s, ref i);
                    char n = s[i++];
                    if (n == ']') return l;
                    if (n != ',') throw new FormatException("',' expected at " + (i - 1));
                }
            }
            if (c == '"') return ParseString(s, ref i);
            if (s.Length - i >= 4 && string.CompareOrdinal(s, i, "true", 0, 4) == 0) { i += 4; return true; }
            if (s.Length - i >= 5 && string.CompareOrdinal(s, i, "false", 0, 5) == 0) { i += 5; return false; }
            if (s.Length - i >= 4 && string.CompareOrdinal(s, i, "null", 0, 4) == 0) { i += 4; return null; }
            int start = i;
            while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0) i++;
            if (start == i) throw new FormatException("unexpected '" + c + "' at " + i);
            return double.Parse(s.Substring(start, i - start), CultureInfo.InvariantCulture);
        }

        static string ParseString(string s, ref int i)
        {
            if (s[i] != '"') throw new FormatException("string expected at " + i);
            i++;
            var sb = new StringBuilder();
            while (true)
            {
                char c = s[i++];
                if (c == '"') return sb.ToString();
                if (c != '\\') { sb.Append(c); continue; }
                char e = s[i++];
                switch (e)
                {
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'r': sb.Append('\r'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'u':
                        sb.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber));
                        i += 4;
                        break;
                    default: sb.Append(e); break;
                }
            }
        }

        public static string Write(object v)
        {
            var sb = new StringBuilder();
            WriteValue(sb, v);
            return sb.ToString();
        }

        static void WriteValue(StringBuilder sb, object v)
        {
            if (v == null) { sb.Append("null"); return; }
            if (v is string) { WriteString(sb, (string)v); return; }
            if (v is bool) { sb.Append((bool)v ? "true" : "false"); return; }
            if (v is double || v is float || v is int || v is long)
            {
                sb.Append(Convert.ToDouble(v).ToString("R", CultureInfo.InvariantCulture));
                return;
            }
            var d = v as IDictionary<string, object>;
            if (d != null)
            {
                sb.Append('{');
                bool first = true;
                foreach (var kv in d)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    WriteString(sb, kv.Key);
                    sb.Append(':');
                    WriteValue(sb, kv.Value);
                }
                sb.Append('}');
                return;
            }
            var l = v as System.Collections.IEnumerable;
            if (l != null)
            {
                sb.Append('[');
                bool first = true;
                foreach (var x in l)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    WriteValue(sb, x);
                }
                sb.Append(']');
                return;
            }
            throw new ArgumentException("cannot write " + v.GetType());
        }

        static void WriteString(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                if (c == '"' || c == '\\') { sb.Append('\\').Append(c); }
                else if (c < 0x20) { sb.Append("\\u").Append(((int)c).ToString("x4")); }
                else sb.Append(c);
            }
            sb.Append('"');
        }
    }

    /// <summary>A decoded glb binary frame: its JSON header and the glb bytes.</summary>
    public sealed class GlbFrame
    {
        public Dictionary<string, object> Header;
        public byte[] Glb;
    }

    /// <summary>Builds client messages and tracks each scenario's seq (duplicates and gaps).</summary>
    public sealed class GreentwinProtocol
    {
        public const string Version = "greentwin/1";
        public string Epoch;
        public string Session;
        public readonly Dictionary<string, long> Seq = new Dictionary<string, long>();
        int nextRef = 1;

        public string NewRef() { return "c" + (nextRef++).ToString(CultureInfo.InvariantCulture); }

        public static Dictionary<string, object> Obj(params object[] kv)
        {
            var d = new Dictionary<string, object>();
            for (int i = 0; i + 1 < kv.Length; i += 2) d[(string)kv[i]] = kv[i + 1];
            return d;
        }

        public string Hello(string token, string role, string resumeScenario)
        {
            var m = Obj("type", "hello", "protocol", Version);
            if (token != null) m["token"] = token;
            if (role != null) m["role"] = role;
            long seq;
            if (resumeScenario != null && Epoch != null && Seq.TryGetValue(resumeScenario, out seq))
                m["resume"] = Obj("scenario", resumeScenario, "epoch", Epoch, "seq", (double)seq);
            return Json.Write(m);
        }

        public string Subscribe(string scenario) { return Json.Write(Obj("type", "subscribe", "scenario", scenario)); }
        public string Ping(string reference) { return Json.Write(Obj("type", "ping", "ref", reference)); }

        public string Edit(string reference, string scenario, Dictionary<string, object> op)
        {
            return Json.Write(Obj("type", "edit", "ref", reference, "scenario", scenario, "op", op));
        }

        public static Dictionary<string, object> PlantTree(string species, double lon, double lat, double ageYears)
        {
            return Obj("op", "plant_tree", "species", species,
                       "position", new List<object> { lon, lat }, "age_years", ageYears);
        }

        public string RequestTreeGlb(string reference, string species, double ageYears, int lod)
        {
            return Json.Write(Obj("type", "request_glb", "ref", reference, "lod", (double)lod,
                "object", Obj("kind", "tree", "species", species, "age_years", ageYears)));
        }

        /// <summary>Parse a server text frame and update the protocol state.
        /// Returns the message; <c>IsNew</c> is false for an update already applied.</summary>
        public Dictionary<string, object> Receive(string text, out bool isNew)
        {
            var m = (Dictionary<string, object>)Json.Parse(text);
            isNew = true;
            string type = (string)m["type"];
            if (type == "welcome")
            {
                Epoch = (string)m["epoch"];
                Session = (string)m["session"];
            }
            else if (type == "snapshot")
            {
                Seq[(string)m["scenario"]] = (long)(double)m["seq"];
            }
            else if (type == "update")
            {
                string sc = (string)m["scenario"];
                long seq = (long)(double)m["seq"];
                long last;
                if (!Seq.TryGetValue(sc, out last) || seq <= last) { isNew = false; }
                else if (seq != last + 1)
                {
                    throw new InvalidOperationException("gap in " + sc + ": " + seq + " after " + last + "; subscribe again");
                }
                else Seq[sc] = seq;
            }
            return m;
        }

        /// <summary>Decode a binary frame: "GTB1", uint32 LE header length, JSON header, glb.</summary>
        public static GlbFrame DecodeGlb(byte[] frame, int count)
        {
            if (count < 8 || frame[0] != 'G' || frame[1] != 'T' || frame[2] != 'B' || frame[3] != '1')
                throw new FormatException("not a greentwin/1 binary frame");
            int n = BitConverter.ToInt32(frame, 4);
            if (!BitConverter.IsLittleEndian) n = System.Net.IPAddress.NetworkToHostOrder(n);
            var header = (Dictionary<string, object>)Json.Parse(Encoding.UTF8.GetString(frame, 8, n));
            int len = (int)(double)header["byte_length"];
            if (8 + n + len != count) throw new FormatException("glb length differs from the header");
            var glb = new byte[len];
            Array.Copy(frame, 8 + n, glb, 0, len);
            return new GlbFrame { Header = header, Glb = glb };
        }
    }
}
