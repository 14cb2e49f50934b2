package chaninfo

import (
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/store"
	"github.com/heraldpush/herald/protocol/msgid"
)

func TestNegotiate(t *testing.T) {
	tests := []struct {
		accept string
		want   Format
	}{
		{"", Plain},
		{"*/*", Plain},
		{"text/plain", Plain},
		{"application/json", JSON},
		{"text/json", JSON},
		{"text/x-json", JSON},
		{"application/x-json", JSON},
		{"application/yaml", YAML},
		{"text/yaml", YAML},
		{"application/x-yaml", YAML},
		{"text/x-yaml", YAML},
		{"text/xml", XML},
		{"application/xml", XML},
		{"Application/JSON", JSON},
		{"text/html, application/json;q=0.9", JSON},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", XML},
		{"application/json, text/xml", JSON},
		{"text/xml, application/json", XML},
		{"  application/yaml ; q=1 ", YAML},
		{"text/html", Plain},
		{"image/png", Plain},
		{"application/octet-stream", Plain},
		{"something/json", Plain},
		{"json", Plain},
		{",,,", Plain},
	}
	for _, tt := range tests {
		t.Run(tt.accept, func(t *testing.T) {
			if got := Negotiate(tt.accept); got != tt.want {
				t.Fatalf("Negotiate(%q) = %v, want %v", tt.accept, got, tt.want)
			}
		})
	}
}

func TestContentType(t *testing.T) {
	tests := []struct {
		f    Format
		want string
	}{
		{Plain, "text/plain"},
		{JSON, "text/json"},
		{XML, "text/xml"},
		{YAML, "text/yaml"},
		{Format(99), "text/plain"},
	}
	for _, tt := range tests {
		if got := tt.f.ContentType(); got != tt.want {
			t.Errorf("Format(%d).ContentType() = %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestAppend(t *testing.T) {
	now := time.Unix(1450755298, 500_000_000)
	requested := store.Info{
		Messages:      5,
		Subscribers:   0,
		LastRequested: time.Unix(1450755280, 0),
		LastMessageID: msgid.ID{Time: 1450755280, Tag: 0},
	}
	never := store.Info{
		Messages:      0,
		Subscribers:   3,
		LastMessageID: msgid.ID{Time: 1450755281, Tag: 12},
	}
	tests := []struct {
		name string
		f    Format
		info store.Info
		want string
	}{
		{
			"plain", Plain, requested,
			"queued messages: 5\r\nlast requested: 18 sec. ago\r\nactive subscribers: 0\r\nlast message id: 1450755280:0",
		},
		{
			"json", JSON, requested,
			`{"messages": 5, "requested": 18, "subscribers": 0, "last_message_id": "1450755280:0" }`,
		},
		{
			"xml", XML, requested,
			"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<channel>\r\n  <messages>5</messages>\r\n  <requested>18</requested>\r\n  <subscribers>0</subscribers>\r\n  <last_message_id>1450755280:0</last_message_id>\r\n</channel>",
		},
		{
			"yaml", YAML, requested,
			"---\r\nmessages: 5\r\nrequested: 18\r\nsubscribers: 0\r\nlast_message_id: \"1450755280:0\"\r\n\r\n",
		},
		{
			"plain never requested", Plain, never,
			"queued messages: 0\r\nlast requested: -1 sec. ago\r\nactive subscribers: 3\r\nlast message id: 1450755281:12",
		},
		{
			"json never requested", JSON, never,
			`{"messages": 0, "requested": -1, "subscribers": 3, "last_message_id": "1450755281:12" }`,
		},
		{
			"xml never requested", XML, never,
			"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<channel>\r\n  <messages>0</messages>\r\n  <requested>-1</requested>\r\n  <subscribers>3</subscribers>\r\n  <last_message_id>1450755281:12</last_message_id>\r\n</channel>",
		},
		{
			"yaml never requested", YAML, never,
			"---\r\nmessages: 0\r\nrequested: -1\r\nsubscribers: 3\r\nlast_message_id: \"1450755281:12\"\r\n\r\n",
		},
		{
			"requested in the future counts as now", JSON, store.Info{LastRequested: now.Add(time.Minute)},
			`{"messages": 0, "requested": 0, "subscribers": 0, "last_message_id": "0:0" }`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(Append(nil, tt.f, tt.info, now))
			if got != tt.want {
				t.Fatalf("Append(%v) =\n%q\nwant\n%q", tt.f, got, tt.want)
			}
			// Append appends: a prefix is kept.
			if got := string(Append([]byte("prefix:"), tt.f, tt.info, now)); got != "prefix:"+tt.want {
				t.Fatalf("Append with prefix = %q", got)
			}
		})
	}
}

// TestAppendSum: the info of several channels, as Nchan answers a publish
// to /pub/a,b (measured on Nchan 1.3.6): the most messages, the
// subscribers added up, the latest request, and "0" as the last message
// id.
func TestAppendSum(t *testing.T) {
	now := time.Unix(1450755298, 0)
	var sum store.Info
	for _, i := range []store.Info{
		{Messages: 2, Subscribers: 1, LastRequested: time.Unix(1450755290, 0), LastMessageID: msgid.ID{Time: 1450755290, Tag: 1}},
		{Messages: 5, Subscribers: 0, LastMessageID: msgid.ID{Time: 1450755297}},
		{Messages: 1, Subscribers: 2, LastRequested: time.Unix(1450755296, 0)},
	} {
		Add(&sum, i)
	}
	tests := []struct {
		f    Format
		sum  store.Info
		want string
	}{
		{Plain, sum, "queued messages: 5\r\nlast requested: 2 sec. ago\r\nactive subscribers: 3\r\nlast message id: 0"},
		{JSON, sum, `{"messages": 5, "requested": 2, "subscribers": 3, "last_message_id": "0" }`},
		{JSON, store.Info{Messages: 1}, `{"messages": 1, "requested": -1, "subscribers": 0, "last_message_id": "0" }`},
		{XML, store.Info{Messages: 1}, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\r\n<channel>\r\n  <messages>1</messages>\r\n  <requested>-1</requested>\r\n  <subscribers>0</subscribers>\r\n  <last_message_id>0</last_message_id>\r\n</channel>"},
		{YAML, store.Info{Messages: 2}, "---\r\nmessages: 2\r\nrequested: -1\r\nsubscribers: 0\r\nlast_message_id: \"0\"\r\n\r\n"},
	}
	for _, tt := range tests {
		if got := string(AppendSum(nil, tt.f, tt.sum, now)); got != tt.want {
			t.Errorf("AppendSum(%v) =\n%q\nwant\n%q", tt.f, got, tt.want)
		}
	}
}
