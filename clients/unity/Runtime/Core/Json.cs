// A small JSON reader and writer (RFC 8259) with no dependency beyond the base class
// library, so the protocol core compiles unchanged with Unity's C#, Mono's mcs and .NET.
// Objects are Dictionary<string, object>, arrays List<object>, numbers double, plus
// string, bool and null. The tests feed it every message a real server sends.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Greentwin
{
    /// <summary>Reads and writes JSON text.</summary>
    public static class Json
    {
        /// <summary>Deepest nesting accepted (the server sends at most a few levels).</summary>
        public const int MaxDepth = 64;

        /// <summary>Parse one JSON value; throws <see cref="FormatException"/> on bad input.</summary>
        public static object Parse(string text)
        {
            if (text == null) throw new ArgumentNullException("text");
            int i = 0;
            try
            {
                object v = ParseValue(text, ref i, 0);
                SkipWs(text, ref i);
                if (i != text.Length) throw new FormatException("trailing characters at " + i);
                return v;
            }
            catch (IndexOutOfRangeException)
            {
                throw new FormatException("unexpected end of JSON text");
            }
            catch (ArgumentOutOfRangeException)
            {
                throw new FormatException("unexpected end of JSON text");
            }
        }

        static void SkipWs(string s, ref int i)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        }

        static object ParseValue(string s, ref int i, int depth)
        {
            if (depth > MaxDepth) throw new FormatException("JSON nested deeper than " + MaxDepth);
            SkipWs(s, ref i);
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
                    d[key] = ParseValue(s, ref i, depth + 1);
                    SkipWs(s, ref i);
                    char n = s[i++];
                    if (n == '}') return d;
                    if (n != ',') throw new FormatException("',' or '}' expected at " + (i - 1));
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
                    l.Add(ParseValue(s, ref i, depth + 1));
                    SkipWs(s, ref i);
                    char n = s[i++];
                    if (n == ']') return l;
                    if (n != ',') throw new FormatException("',' or ']' expected at " + (i - 1));
                }
            }
            if (c == '"') return ParseString(s, ref i);
            if (Literal(s, ref i, "true")) return true;
            if (Literal(s, ref i, "false")) return false;
            if (Literal(s, ref i, "null")) return null;
            int start = i;
            if (i < s.Length && s[i] == '-') i++;
            while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0) i++;
            if (start == i) throw new FormatException("unexpected '" + c + "' at " + i);
            double value;
            if (!double.TryParse(s.Substring(start, i - start), NumberStyles.Float, CultureInfo.InvariantCulture, out value))
                throw new FormatException("bad number at " + start);
            return value;
        }

        static bool Literal(string s, ref int i, string word)
        {
            if (s.Length - i < word.Length || string.CompareOrdinal(s, i, word, 0, word.Length) != 0) return false;
            i += word.Length;
            return true;
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
                if (c < 0x20) throw new FormatException("control character in string at " + (i - 1));
                if (c != '\\') { sb.Append(c); continue; }
                char e = s[i++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'r': sb.Append('\r'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'u':
                        // UTF-16 code units; a surrogate pair arrives as two escapes, appended in turn
                        sb.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default: throw new FormatException("bad escape '\\" + e + "' at " + (i - 1));
                }
            }
        }

        /// <summary>Write a value built of dictionaries, lists, strings, numbers, bools and null.</summary>
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
            if (v is int || v is long) { sb.Append(Convert.ToInt64(v).ToString(CultureInfo.InvariantCulture)); return; }
            if (v is double || v is float)
            {
                double d = Convert.ToDouble(v);
                if (double.IsNaN(d) || double.IsInfinity(d)) throw new ArgumentException("JSON has no NaN or infinity");
                sb.Append(d.ToString("R", CultureInfo.InvariantCulture));
                return;
            }
            var dict = v as IDictionary<string, object>;
            if (dict != null)
            {
                sb.Append('{');
                bool first = true;
                foreach (var kv in dict)
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
            var list = v as System.Collections.IEnumerable;
            if (list != null)
            {
                sb.Append('[');
                bool first = true;
                foreach (var x in list)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    WriteValue(sb, x);
                }
                sb.Append(']');
                return;
            }
            throw new ArgumentException("cannot write " + v.GetType() + " as JSON");
        }

        static void WriteString(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                if (c == '"' || c == '\\') sb.Append('\\').Append(c);
                else if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                else sb.Append(c);
            }
            sb.Append('"');
        }

        // --- typed access to parsed messages -------------------------------------------
        /// <summary>A member of an object, or null when missing or not an object.</summary>
        public static object Get(object obj, string key)
        {
            var d = obj as Dictionary<string, object>;
            object v;
            return d != null && d.TryGetValue(key, out v) ? v : null;
        }

        public static string Str(object obj, string key) { return Get(obj, key) as string; }

        public static Dictionary<string, object> Obj(object obj, string key)
        {
            return Get(obj, key) as Dictionary<string, object>;
        }

        public static double Num(object obj, string key, double fallback)
        {
            var v = Get(obj, key);
            return v is double ? (double)v : fallback;
        }

        public static long Long(object obj, string key, long fallback)
        {
            var v = Get(obj, key);
            return v is double ? (long)(double)v : fallback;
        }
    }
}
