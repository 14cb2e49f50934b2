package server_test

import (
	"strings"
	"testing"
)

// TestPushStreamStatistics checks the statistics location against the
// module's answers: the summary, ALL, prefixes, named channels, formats,
// methods and refusals.
func TestPushStreamStatistics(t *testing.T) {
	s := startServer(t, psPubConfig("push_stream_wildcard_channel_prefix: broad_"))
	summary := func(channels, wildcards, published, stored string) string {
		return `{"hostname": "HOST", "time": "X", "channels": ` + channels + `, "wildcard_channels": ` + wildcards + `, "published_messages": ` + published +
			`, "stored_messages": ` + stored + `, "messages_in_trash": 0, "channels_in_delete": 0, "channels_in_trash": 0, "subscribers": 0, "uptime": X, "by_worker": [` +
			"\r\n" + `{"pid": "X", "subscribers": 0, "uptime": X}` + "\r\n]}\r\n"
	}
	info := func(ch, pub, stored string) string {
		return `{"channel": "` + ch + `", "published_messages": ` + pub + `, "stored_messages": ` + stored + `, "subscribers": 0}`
	}
	group := func(channels, wildcards string, infos ...string) string {
		b := `{"hostname": "HOST", "time": "X", "channels": ` + channels + `, "wildcard_channels": ` + wildcards + `, "uptime": X, "infos": [` + "\r\n"
		return b + strings.Join(infos, ",\r\n") + map[bool]string{true: "", false: "\r\n"}[len(infos) == 0] + "]}\r\n"
	}
	for _, x := range []psPubExchange{
		{name: "summary with no channel", method: "GET", path: "/channels-stats", status: 200, contentType: jsonType, want: summary("0", "0", "0", "0")},
		{name: "ALL with no channel", method: "GET", path: "/channels-stats?id=ALL", status: 200, contentType: jsonType, want: group("0", "0")},
		{name: "publish ch_b", method: "POST", path: "/pub?id=ch_b", body: "1", status: 200, contentType: jsonType, want: info("ch_b", "1", "1") + "\r\n"},
		{name: "publish ch_a", method: "POST", path: "/pub?id=ch_a", body: "1", status: 200, contentType: jsonType, want: info("ch_a", "1", "1") + "\r\n"},
		{name: "publish ch_a again", method: "POST", path: "/pub?id=ch_a", body: "2", status: 200, contentType: jsonType, want: info("ch_a", "2", "2") + "\r\n"},
		{name: "publish other, unstored", method: "POST", path: "/pubn?id=other", body: "1", status: 200, contentType: jsonType, want: info("other", "1", "0") + "\r\n"},
		{name: "publish a wildcard channel", method: "POST", path: "/pub?id=broad_1", body: "1", status: 200, contentType: jsonType, want: info("broad_1", "1", "1") + "\r\n"},
		{name: "summary", method: "GET", path: "/channels-stats", status: 200, contentType: jsonType, want: summary("3", "1", "5", "4")},
		{name: "summary in plain text", method: "GET", path: "/channels-stats", headers: []string{"Accept", "text/plain"}, status: 200, contentType: "text/plain",
			want: "hostname: HOST\r\ntime: X\r\nchannels: 3\r\nwildcard_channels: 1\r\npublished_messages: 5\r\nstored_messages: 4\r\nmessages_in_trash: 0\r\nchannels_in_delete: 0\r\nchannels_in_trash: 0\r\nsubscribers: 0\r\nuptime: X\r\nby_worker:\r\n  pid: X\r\n  subscribers: 0\r\n  uptime: X\r\n"},
		{name: "summary in YAML", method: "GET", path: "/channels-stats", headers: []string{"Accept", "text/x-yaml"}, status: 200, contentType: "text/x-yaml",
			want: "  hostname: HOST\r\n  time: X\r\n  channels: 3\r\n  wildcard_channels: 1\r\n  published_messages: 5\r\n  stored_messages: 4\r\n  messages_in_trash: 0\r\n  channels_in_delete: 0\r\n  channels_in_trash: 0\r\n  subscribers: 0\r\n  uptime: X\r\n  by_worker:\r\n   -\r\n    pid: X\r\n    subscribers: 0\r\n    uptime: X\r\n"},
		{name: "summary in XML", method: "GET", path: "/channels-stats", headers: []string{"Accept", "application/xml"}, status: 200, contentType: "application/xml",
			want: "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<infos>\r\n  <hostname>HOST</hostname>\r\n  <time>X</time>\r\n  <channels>3</channels>\r\n  <wildcard_channels>1</wildcard_channels>\r\n  <published_messages>5</published_messages>\r\n  <stored_messages>4</stored_messages>\r\n  <messages_in_trash>0</messages_in_trash>\r\n  <channels_in_delete>0</channels_in_delete>\r\n  <channels_in_trash>0</channels_in_trash>\r\n  <subscribers>0</subscribers>\r\n  <uptime>X</uptime>\r\n  <by_worker><worker>\r\n  <pid>X</pid>\r\n  <subscribers>0</subscribers>\r\n  <uptime>X</uptime>\r\n</worker>\r\n</by_worker>\r\n</infos>\r\n"},
		{name: "ALL, in the order the channels were made", method: "GET", path: "/channels-stats?id=ALL", status: 200, contentType: jsonType,
			want: group("3", "1", info("ch_b", "1", "1"), info("ch_a", "2", "2"), info("other", "1", "0"), info("broad_1", "1", "1"))},
		{name: "* is ALL", method: "GET", path: "/channels-stats?id=*", status: 200, contentType: jsonType,
			want: group("3", "1", info("ch_b", "1", "1"), info("ch_a", "2", "2"), info("other", "1", "0"), info("broad_1", "1", "1"))},
		{name: "prefix", method: "GET", path: "/channels-stats?id=ch_*", status: 200, contentType: jsonType,
			want: group("3", "1", info("ch_b", "1", "1"), info("ch_a", "2", "2"))},
		{name: "what follows the * is ignored", method: "GET", path: "/channels-stats?id=ch_*zzz", status: 200, contentType: jsonType,
			want: group("3", "1", info("ch_b", "1", "1"), info("ch_a", "2", "2"))},
		{name: "prefix of none", method: "GET", path: "/channels-stats?id=prefix_*", status: 200, contentType: jsonType, want: group("3", "1")},
		{name: "prefix in plain text", method: "GET", path: "/channels-stats?id=broad_*", headers: []string{"Accept", "text/plain"}, status: 200, contentType: "text/plain",
			want: "hostname: HOST, time: X, channels: 3, wildcard_channels: 1, uptime: X, infos: \r\nchannel: broad_1\r\npublished_messages: 1\r\nstored_messages: 1\r\nactive_subscribers: 0\r\n"},
		{name: "one channel", method: "GET", path: "/channels-stats?id=ch_a", status: 200, contentType: jsonType, want: info("ch_a", "2", "2") + "\r\n"},
		{name: "several channels", method: "GET", path: "/channels-stats?id=ch_a/ch_b/nope", status: 200, contentType: jsonType,
			want: group("3", "1", info("ch_a", "2", "2"), info("ch_b", "1", "1"))},
		{name: "several, one there", method: "GET", path: "/channels-stats?id=nope/ch_a", status: 200, contentType: jsonType, want: info("ch_a", "2", "2") + "\r\n"},
		{name: "ALL after a channel", method: "GET", path: "/channels-stats?id=ch_a/ALL", status: 200, contentType: jsonType,
			want: group("3", "1", info("ch_b", "1", "1"), info("ch_a", "2", "2"), info("other", "1", "0"), info("broad_1", "1", "1"))},
		{name: "a channel that does not exist", method: "GET", path: "/channels-stats?id=nope", status: 404},
		{name: "id too long", method: "GET", path: "/channels-stats?id=123456789012345678901", status: 400, explain: "Channel id is too large."},
		{name: "POST", method: "POST", path: "/channels-stats", body: "x", status: 405, allow: "GET"},
		{name: "PUT", method: "PUT", path: "/channels-stats", body: "x", status: 405, allow: "GET"},
		{name: "DELETE", method: "DELETE", path: "/channels-stats", status: 405, allow: "GET"},
		{name: "HEAD", method: "HEAD", path: "/channels-stats", status: 405, allow: "GET"},
	} {
		x.run(t, s)
	}
	r := do(t, "GET", s.URL+"/channels-stats", "")
	if r.Header.Get("X-Nginx-PushStream-Tag") != "0.5.5" {
		t.Errorf("X-Nginx-PushStream-Tag %q", r.Header.Get("X-Nginx-PushStream-Tag"))
	}
}
