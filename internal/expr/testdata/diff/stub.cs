// Stub of the APIM policy expression object model (context), mirroring the
// Go context built by diffContext() in diff_test.go. The generated program
// (cases appended by diff_test.go) evaluates every case once, in one process.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading;
using System.Web;
using System.Xml.Linq;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

public interface IUrl {
	string Host { get; } string Path { get; } int Port { get; }
	IReadOnlyDictionary<string, string[]> Query { get; } string QueryString { get; } string Scheme { get; }
}
public interface IMessageBody {
	T As<T>(bool preserveContent = false);
	IDictionary<string, IList<string>> AsFormUrlEncodedContent(bool preserveContent = false);
}
public interface IRequest {
	IMessageBody Body { get; } IReadOnlyDictionary<string, string[]> Headers { get; } string IpAddress { get; }
	IReadOnlyDictionary<string, string> MatchedParameters { get; } string Method { get; } IUrl OriginalUrl { get; } IUrl Url { get; }
}
public interface IResponse {
	IMessageBody Body { get; } IReadOnlyDictionary<string, string[]> Headers { get; } int StatusCode { get; } string StatusReason { get; }
}
public interface ISubscription {
	DateTime CreatedDate { get; } DateTime? EndDate { get; } string Id { get; } string Key { get; } string Name { get; }
	string PrimaryKey { get; } string SecondaryKey { get; } DateTime? StartDate { get; }
}
public interface IGroup { string Id { get; } string Name { get; } }
public interface IUser {
	string Email { get; } string FirstName { get; } IEnumerable<IGroup> Groups { get; } string Id { get; }
	string LastName { get; } string Note { get; } DateTime RegistrationDate { get; }
}
public interface IProduct {
	bool ApprovalRequired { get; } string Id { get; } string Name { get; } string State { get; } bool SubscriptionRequired { get; }
}
public interface ISubscriptionKeyParameterNames { string Header { get; } string Query { get; } }
public interface IApi {
	string Id { get; } string Name { get; } string Path { get; } IEnumerable<string> Protocols { get; } IUrl ServiceUrl { get; }
	ISubscriptionKeyParameterNames SubscriptionKeyParameterNames { get; } string Version { get; } string Revision { get; } bool IsCurrentRevision { get; }
}
public interface IOperation { string Id { get; } string Method { get; } string Name { get; } string UrlTemplate { get; } }
public interface IGateway { string Id { get; } string InstanceId { get; } bool IsSelfHosted { get; } }
public interface IDeployment { IGateway Gateway { get; } string GatewayId { get; } string Region { get; } string ServiceId { get; } string ServiceName { get; } }
public interface ILastError {
	string Source { get; } string Reason { get; } string Message { get; } string Scope { get; } string Section { get; } string Path { get; } string PolicyId { get; }
}
public interface IProxyRequestContext {
	IApi Api { get; } IDeployment Deployment { get; } TimeSpan Elapsed { get; } ILastError LastError { get; }
	IOperation Operation { get; } IProduct Product { get; } IRequest Request { get; } Guid RequestId { get; }
	IResponse Response { get; } ISubscription Subscription { get; } DateTime Timestamp { get; } bool Tracing { get; }
	IUser User { get; } IReadOnlyDictionary<string, object> Variables { get; } void Trace(string message);
}

class Url : IUrl {
	public string Host { get; set; } public string Path { get; set; } public int Port { get; set; }
	public IReadOnlyDictionary<string, string[]> Query { get; set; } public string Scheme { get; set; }
	public string QueryString { get {
		if (Query.Count == 0) return "";
		return "?" + string.Join("&", Query.SelectMany(kv => kv.Value.Select(v => kv.Key + "=" + v)));
	} }
	public override string ToString() {
		bool def = (Scheme == "https" && Port == 443) || (Scheme == "http" && Port == 80);
		return Scheme + "://" + Host + (def ? "" : ":" + Port) + Path + QueryString;
	}
	public static Url Make(string s) {
		var u = new Uri(s);
		var q = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
		var order = new List<string>();
		var acc = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);
		foreach (var part in u.Query.TrimStart('?').Split(new[] {'&'}, StringSplitOptions.RemoveEmptyEntries)) {
			var kv = part.Split(new[] {'='}, 2);
			if (!acc.ContainsKey(kv[0])) { acc[kv[0]] = new List<string>(); order.Add(kv[0]); }
			acc[kv[0]].Add(kv.Length > 1 ? Uri.UnescapeDataString(kv[1]) : "");
		}
		foreach (var k in order) q[k] = acc[k].ToArray();
		return new Url { Host = u.Host, Path = u.AbsolutePath, Port = u.Port, Scheme = u.Scheme, Query = q };
	}
}
class Body : IMessageBody {
	string text; bool consumed;
	public Body(string t) { text = t; }
	public T As<T>(bool preserveContent = false) {
		string t = consumed ? "" : text;
		if (!preserveContent) consumed = true;
		object r;
		if (typeof(T) == typeof(string)) r = t;
		else if (typeof(T) == typeof(byte[])) r = Encoding.UTF8.GetBytes(t);
		else if (typeof(T) == typeof(JObject)) r = JObject.Parse(t);
		else if (typeof(T) == typeof(JArray)) r = JArray.Parse(t);
		else if (typeof(T) == typeof(JToken)) r = JToken.Parse(t);
		else if (typeof(T) == typeof(XDocument)) r = XDocument.Parse(t);
		else if (typeof(T) == typeof(XElement)) r = XElement.Parse(t);
		else throw new InvalidOperationException("unsupported body type");
		return (T)r;
	}
	public IDictionary<string, IList<string>> AsFormUrlEncodedContent(bool preserveContent = false) {
		string t = consumed ? "" : text;
		if (!preserveContent) consumed = true;
		var d = new Dictionary<string, IList<string>>();
		foreach (var part in t.Split(new[] {'&'}, StringSplitOptions.RemoveEmptyEntries)) {
			var kv = part.Split(new[] {'='}, 2);
			var k = WebUtility.UrlDecode(kv[0]);
			if (!d.ContainsKey(k)) d[k] = new List<string>();
			d[k].Add(kv.Length > 1 ? WebUtility.UrlDecode(kv[1]) : "");
		}
		return d;
	}
}
class Req : IRequest {
	public IMessageBody Body { get; set; } public IReadOnlyDictionary<string, string[]> Headers { get; set; } public string IpAddress { get; set; }
	public IReadOnlyDictionary<string, string> MatchedParameters { get; set; } public string Method { get; set; } public IUrl OriginalUrl { get; set; } public IUrl Url { get; set; }
}
class Resp : IResponse {
	public IMessageBody Body { get; set; } public IReadOnlyDictionary<string, string[]> Headers { get; set; } public int StatusCode { get; set; } public string StatusReason { get; set; }
}
class Sub : ISubscription {
	public DateTime CreatedDate { get; set; } public DateTime? EndDate { get; set; } public string Id { get; set; } public string Key { get; set; } public string Name { get; set; }
	public string PrimaryKey { get; set; } public string SecondaryKey { get; set; } public DateTime? StartDate { get; set; }
}
class Grp : IGroup { public string Id { get; set; } public string Name { get; set; } }
class Usr : IUser {
	public string Email { get; set; } public string FirstName { get; set; } public IEnumerable<IGroup> Groups { get; set; } public string Id { get; set; }
	public string LastName { get; set; } public string Note { get; set; } public DateTime RegistrationDate { get; set; }
}
class Prod : IProduct { public bool ApprovalRequired { get; set; } public string Id { get; set; } public string Name { get; set; } public string State { get; set; } public bool SubscriptionRequired { get; set; } }
class KeyNames : ISubscriptionKeyParameterNames { public string Header { get; set; } public string Query { get; set; } }
class Api : IApi {
	public string Id { get; set; } public string Name { get; set; } public string Path { get; set; } public IEnumerable<string> Protocols { get; set; } public IUrl ServiceUrl { get; set; }
	public ISubscriptionKeyParameterNames SubscriptionKeyParameterNames { get; set; } public string Version { get; set; } public string Revision { get; set; } public bool IsCurrentRevision { get; set; }
}
class Op : IOperation { public string Id { get; set; } public string Method { get; set; } public string Name { get; set; } public string UrlTemplate { get; set; } }
class Gw : IGateway { public string Id { get; set; } public string InstanceId { get; set; } public bool IsSelfHosted { get; set; } }
class Dep : IDeployment { public IGateway Gateway { get; set; } public string GatewayId { get { return Gateway.Id; } } public string Region { get; set; } public string ServiceId { get; set; } public string ServiceName { get; set; } }
class LastErr : ILastError {
	public string Source { get; set; } public string Reason { get; set; } public string Message { get; set; } public string Scope { get; set; }
	public string Section { get; set; } public string Path { get; set; } public string PolicyId { get; set; }
}
class Ctx : IProxyRequestContext {
	public IApi Api { get; set; } public IDeployment Deployment { get; set; } public TimeSpan Elapsed { get; set; } public ILastError LastError { get; set; }
	public IOperation Operation { get; set; } public IProduct Product { get; set; } public IRequest Request { get; set; } public Guid RequestId { get; set; }
	public IResponse Response { get; set; } public ISubscription Subscription { get; set; } public DateTime Timestamp { get; set; } public bool Tracing { get; set; }
	public IUser User { get; set; } public IReadOnlyDictionary<string, object> Variables { get; set; } public void Trace(string message) { }
}

public class Jwt {
	public string Algorithm { get; set; } public IEnumerable<string> Audiences { get; set; }
	public IReadOnlyDictionary<string, string[]> Claims { get; set; } public DateTime? ExpirationTime { get; set; }
	public string Id { get; set; } public string Issuer { get; set; } public DateTime? IssuedAt { get; set; }
	public DateTime? NotBefore { get; set; } public string Subject { get; set; } public string Type { get; set; }
}
public class BasicAuthCredentials { public string UserId { get; set; } public string Password { get; set; } }

public static class ApimExtensions {
	public static string GetValueOrDefault(this IReadOnlyDictionary<string, string[]> d, string name, string defaultValue = null) {
		string[] v;
		return d.TryGetValue(name, out v) ? string.Join(",", v) : defaultValue;
	}
	public static string GetValueOrDefault(this IReadOnlyDictionary<string, string> d, string name, string defaultValue = null) {
		string v;
		return d.TryGetValue(name, out v) ? v : defaultValue;
	}
	public static T GetValueOrDefault<T>(this IReadOnlyDictionary<string, object> d, string name, T defaultValue = default(T)) {
		object v;
		return d.TryGetValue(name, out v) ? (T)v : defaultValue;
	}
	public static object GetValueOrDefault(this IReadOnlyDictionary<string, object> d, string name) {
		object v;
		return d.TryGetValue(name, out v) ? v : null;
	}
	static byte[] B64Url(string s) {
		s = s.Replace('-', '+').Replace('_', '/');
		while (s.Length % 4 != 0) s += "=";
		return Convert.FromBase64String(s);
	}
	public static Jwt AsJwt(this string s) {
		Jwt j;
		return s.TryParseJwt(out j) ? j : null;
	}
	public static bool TryParseJwt(this string s, out Jwt jwt) {
		jwt = null;
		if (s == null) return false;
		if (s.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) s = s.Substring(7);
		var parts = s.Split('.');
		if (parts.Length != 3) return false;
		JObject h, p;
		try {
			h = JObject.Parse(Encoding.UTF8.GetString(B64Url(parts[0])));
			p = JObject.Parse(Encoding.UTF8.GetString(B64Url(parts[1])));
		} catch { return false; }
		var claims = new Dictionary<string, string[]>();
		foreach (var prop in p.Properties()) {
			if (prop.Value.Type == JTokenType.Array) claims[prop.Name] = prop.Value.Select(t => (string)t).ToArray();
			else claims[prop.Name] = new[] { prop.Value.ToString() };
		}
		Func<string, DateTime?> time = n => p[n] == null ? (DateTime?)null : new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds((long)p[n]);
		var aud = p["aud"];
		jwt = new Jwt {
			Algorithm = (string)h["alg"], Type = (string)h["typ"], Claims = claims,
			Audiences = aud == null ? new string[0] : aud.Type == JTokenType.Array ? aud.Select(t => (string)t).ToArray() : new[] { (string)aud },
			ExpirationTime = time("exp"), NotBefore = time("nbf"), IssuedAt = time("iat"),
			Id = (string)p["jti"], Issuer = (string)p["iss"], Subject = (string)p["sub"],
		};
		return true;
	}
	public static BasicAuthCredentials AsBasic(this string s) {
		if (s == null) return null;
		if (s.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) s = s.Substring(6);
		string t;
		try { t = Encoding.UTF8.GetString(Convert.FromBase64String(s.Trim())); } catch { return null; }
		int i = t.IndexOf(':');
		if (i < 0) return null;
		return new BasicAuthCredentials { UserId = t.Substring(0, i), Password = t.Substring(i + 1) };
	}
}

static class Harness {
	static IReadOnlyDictionary<string, string[]> H(params string[] kv) {
		var d = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
		for (int i = 0; i < kv.Length; i += 2) {
			string[] old;
			d[kv[i]] = d.TryGetValue(kv[i], out old) ? old.Concat(new[] { kv[i + 1] }).ToArray() : new[] { kv[i + 1] };
		}
		return d;
	}
	public static IProxyRequestContext NewContext() {
		var now = new DateTime(2026, 11, 25, 6, 39, 18, DateTimeKind.Utc).AddTicks(1234567);
		return new Ctx {
			Request = new Req {
				Method = "POST", Url = Url.Make("https://api.contoso.com/orders/42?tier=gold&x=1&x=2"),
				OriginalUrl = Url.Make("https://gw.contoso.com:8443/v1/orders/42?tier=gold"),
				Headers = H("X-Tier", "gold", "Accept", "application/json", "Accept", "text/plain",
					"Authorization", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiYXVkIjpbImFwaTEiLCJhcGkyIl0sImV4cCI6MTc2NDA1NDc1OCwicm9sZXMiOlsiYWRtaW4iLCJyZWFkZXIiXSwibmFtZSI6IkFsaWNlIn0.sig"),
				IpAddress = "10.1.2.3",
				Body = new Body("{\"name\":\"widget\",\"qty\":3,\"price\":9.5,\"tags\":[\"a\",\"b\"],\"nested\":{\"ok\":true,\"n\":null},\"when\":\"2026-01-02T03:04:05Z\"}"),
				MatchedParameters = new Dictionary<string, string> { { "id", "42" } },
			},
			Response = new Resp { StatusCode = 429, StatusReason = "Too Many Requests", Headers = H("Content-Type", "application/json", "Retry-After", "10"), Body = new Body("[1,2,3]") },
			Variables = new Dictionary<string, object> {
				{ "str", "hello" }, { "num", 5 }, { "long", 7L }, { "flag", true }, { "numstr", "12" },
				{ "obj", JObject.Parse("{\"a\":1,\"b\":\"two\"}") }, { "null", null },
				{ "list", new List<string> { "x", "y" } },
			},
			Subscription = new Sub { Id = "sub-1", Name = "Alice", Key = "k1", PrimaryKey = "k1", SecondaryKey = "k2", CreatedDate = new DateTime(2025, 1, 2, 3, 4, 5, DateTimeKind.Utc) },
			User = new Usr { Id = "u-1", Email = "alice@contoso.com", FirstName = "Alice", LastName = "Smith", Note = "",
				Groups = new IGroup[] { new Grp { Id = "developers", Name = "Developers" }, new Grp { Id = "admins", Name = "Admins" } },
				RegistrationDate = new DateTime(2024, 2, 29, 12, 0, 0, DateTimeKind.Utc) },
			Product = new Prod { Id = "starter", Name = "Starter", State = "published", SubscriptionRequired = true },
			Api = new Api { Id = "orders", Name = "Orders", Path = "orders", Version = "v1", Revision = "1", IsCurrentRevision = true,
				Protocols = new[] { "https" }, ServiceUrl = Url.Make("http://backend.internal:9001/api"),
				SubscriptionKeyParameterNames = new KeyNames { Header = "Ocp-Apim-Subscription-Key", Query = "subscription-key" } },
			Operation = new Op { Id = "get-order", Name = "Get order", Method = "GET", UrlTemplate = "/orders/{id}" },
			Deployment = new Dep { Region = "West Europe", ServiceName = "apimgw", ServiceId = "svc-1", Gateway = new Gw { Id = "gw-1", InstanceId = "i-1" } },
			LastError = new LastErr { Source = "rate-limit", Reason = "RateLimitExceeded", Message = "Rate limit is exceeded.", Scope = "api", Section = "inbound", Path = "rate-limit[1]", PolicyId = "" },
			RequestId = new Guid("0f8fad5b-d9cb-469f-a165-70867728950e"),
			Timestamp = now.AddMilliseconds(-1500),
			Elapsed = TimeSpan.FromMilliseconds(1500),
		};
	}

	static string Fmt(object o) {
		if (o == null) return "null";
		if (o is string) return (string)o;
		if (o is JToken) return o.ToString();
		if (o is IEnumerable) {
			var parts = new List<string>();
			foreach (var x in (IEnumerable)o) parts.Add(Fmt(x));
			return "[" + string.Join(",", parts) + "]";
		}
		return o.ToString();
	}

	static string Esc(string s) {
		return s.Replace("\\", "\\\\").Replace("\r", "\\r").Replace("\n", "\\n").Replace("\t", "\\t");
	}

	public delegate object Case(IProxyRequestContext context);

	public static void Run(Case[] cases) {
		Thread.CurrentThread.CurrentCulture = CultureInfo.InvariantCulture;
		Thread.CurrentThread.CurrentUICulture = CultureInfo.InvariantCulture;
		var stdout = new System.IO.StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false));
		for (int i = 0; i < cases.Length; i++) {
			string r;
			try { r = "= " + Esc(Fmt(cases[i](NewContext()))); }
			catch (Exception e) { r = "! " + e.GetType().Name; }
			stdout.WriteLine(i + "\t" + r);
		}
		stdout.Flush();
	}
}
