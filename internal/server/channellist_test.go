package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/heraldpush/herald/internal/store/redis/redistest"
)

// listConfig has a listing at /channels (loopback only, the default), one
// of group g at /channels/g, one that allows only an address the tests
// never come from, and publishers and subscribers of the default group and
// of group g.
var listConfig = eventsConfig(
	location("= /channels", "channel_list: on"),
	location("= /channels/g", "channel_list: on", "channel_group: g"),
	location("= /channels/closed", "channel_list: on", "channel_list_allow: 192.0.2.1 198.51.100.0/24"),
	location(`~ ^/pub/(.+)$`, "publisher: true", "channel_id: $1"),
	location(`~ ^/sub/(.+)$`, "subscriber: true", "channel_id: $1"),
	location(`~ ^/gpub/(.+)$`, "publisher: true", "channel_id: $1", "channel_group: g"),
)

// listedChannel is a channel of a listing's JSON.
type listedChannel struct {
	Group         string `json:"group"`
	ID            string `json:"id"`
	Messages      int    `json:"messages"`
	Requested     int    `json:"requested"`
	Subscribers   int    `json:"subscribers"`
	LastMessageID string `json:"last_message_id"`
}

type listedPage struct {
	Channels []listedChannel `json:"channels"`
	Next     string          `json:"next"`
}

// listAll reads a listing page by page (limit channels a page) from
// base+path with the arguments args, and checks each page's size and
// Link header.
func listAll(t *testing.T, base, path string, args url.Values, limit int) []listedChannel {
	t.Helper()
	var all []listedChannel
	args = cloneValues(args)
	args.Set("limit", fmt.Sprint(limit))
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("more than 1000 pages")
		}
		r := do(t, "GET", base+path+"?"+args.Encode(), "")
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("listing %s?%s: %d %q %q", path, args.Encode(), r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		var p listedPage
		if err := json.Unmarshal([]byte(r.Body), &p); err != nil {
			t.Fatalf("listing: %v in %q", err, r.Body)
		}
		if len(p.Channels) > limit {
			t.Fatalf("page of %d channels, limit %d", len(p.Channels), limit)
		}
		all = append(all, p.Channels...)
		link := r.Header.Get("Link")
		if p.Next == "" {
			if link != "" {
				t.Fatalf("last page with Link %q", link)
			}
			return all
		}
		next := cloneValues(args)
		next.Set("cursor", p.Next)
		if want := "<" + path + "?" + next.Encode() + `>; rel="next"`; link != want {
			t.Fatalf("Link %q, want %q", link, want)
		}
		args.Set("cursor", p.Next)
	}
}

// cloneValues returns a copy of v.
func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// listKeys returns "group/id" of each listed channel.
func listKeys(cs []listedChannel) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Group + "/" + c.ID
	}
	return out
}

// makeChannels publishes one message to n channels c-000.. of the default
// group (through bases in turn) and two to channel g/busy; it returns the
// keys made, sorted.
func makeChannels(t *testing.T, bases []string, n int) []string {
	t.Helper()
	var keys []string
	for i := range n {
		id := fmt.Sprintf("c-%03d", i)
		if i%3 == 0 {
			id = fmt.Sprintf("d-%03d", i)
		}
		if r := do(t, "POST", bases[i%len(bases)]+"/pub/"+id, "x"); r.Status != http.StatusAccepted {
			t.Fatalf("publish %s: %d %q", id, r.Status, r.Body)
		}
		keys = append(keys, "/"+id)
	}
	for range 2 {
		if r := do(t, "POST", bases[0]+"/gpub/busy", "y"); r.Status != http.StatusAccepted && r.Status != http.StatusCreated {
			t.Fatalf("publish g/busy: %d", r.Status)
		}
	}
	keys = append(keys, "g/busy")
	slices.Sort(keys)
	return keys
}

// checkListing lists base's channels in pages and by prefix and group,
// and checks the listing against keys (what makeChannels made).
func checkListing(t *testing.T, base string, keys []string) {
	t.Run("every channel in pages", func(t *testing.T) {
		for _, limit := range []int{1, 7, 1000} {
			got := listAll(t, base, "/channels", nil, limit)
			if !slices.Equal(listKeys(got), keys) {
				t.Fatalf("limit %d: listed %q, want %q", limit, listKeys(got), keys)
			}
			for _, c := range got {
				want := 1
				if c.ID == "busy" {
					want = 2
				}
				if c.Messages != want || c.Subscribers != 0 || !strings.Contains(c.LastMessageID, ":") {
					t.Fatalf("%s/%s: %+v", c.Group, c.ID, c)
				}
			}
		}
	})
	t.Run("a prefix", func(t *testing.T) {
		var want []string
		for _, k := range keys {
			if strings.HasPrefix(k, "/d-") {
				want = append(want, k)
			}
		}
		got := listKeys(listAll(t, base, "/channels", url.Values{"prefix": {"d-"}, "group": {""}}, 4))
		if !slices.Equal(got, want) {
			t.Fatalf("listed %q, want %q", got, want)
		}
	})
	t.Run("a group", func(t *testing.T) {
		for _, tc := range []struct {
			path string
			args url.Values
		}{{"/channels", url.Values{"group": {"g"}}}, {"/channels/g", nil}, {"/channels/g", url.Values{"group": {""}}}} {
			if got := listKeys(listAll(t, base, tc.path, tc.args, 10)); !slices.Equal(got, []string{"g/busy"}) {
				t.Fatalf("%s %v: listed %q", tc.path, tc.args, got)
			}
		}
	})
	t.Run("text", func(t *testing.T) {
		r := do(t, "GET", base+"/channels?group=g", "", "Accept", "text/plain")
		lines := strings.Split(strings.TrimSuffix(r.Body, "\n"), "\n")
		if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "text/plain; charset=utf-8" || len(lines) != 2 ||
			lines[0] != "group\tid\tmessages\tsubscribers\trequested\tlast_message_id" ||
			!strings.HasPrefix(lines[1], "g\tbusy\t2\t0\t-1\t") {
			t.Fatalf("text listing: %d %q %q", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
	})
}

// TestChannelList checks a channel_list location on the memory engine:
// pages, prefix, group, formats, subscriber counts, bad arguments and who
// may read it.
func TestChannelList(t *testing.T) {
	s := startServer(t, listConfig)
	keys := makeChannels(t, []string{s.URL}, 23)
	checkListing(t, s.URL, keys)

	t.Run("subscribers", func(t *testing.T) {
		c := openEventSource(t, s, "/sub/c-001")
		defer c.conn.Close()
		got := listAll(t, s.URL, "/channels", url.Values{"prefix": {"c-001"}}, 5)
		if len(got) != 1 || got[0].Subscribers != 1 || got[0].Requested != 0 {
			t.Fatalf("listed %+v", got)
		}
	})
	t.Run("methods and refusals", func(t *testing.T) {
		for _, tc := range []struct {
			method, target string
			status         int
		}{
			{"GET", "/channels?limit=0", http.StatusBadRequest},
			{"GET", "/channels?limit=x", http.StatusBadRequest},
			{"GET", "/channels?cursor=nokey", http.StatusBadRequest},
			{"POST", "/channels", http.StatusMethodNotAllowed},
			{"DELETE", "/channels", http.StatusMethodNotAllowed},
			{"HEAD", "/channels", http.StatusOK},
			{"OPTIONS", "/channels", http.StatusOK},
			// Only 192.0.2.1 and 198.51.100.0/24 may: not loopback.
			{"GET", "/channels/closed", http.StatusForbidden},
		} {
			if r := do(t, tc.method, s.URL+tc.target, ""); r.Status != tc.status {
				t.Errorf("%s %s: %d %q, want %d", tc.method, tc.target, r.Status, r.Body, tc.status)
			}
		}
		if r := do(t, "GET", s.URL+"/channels?limit=5000", ""); r.Status != http.StatusOK {
			t.Errorf("a limit over 1000: %d, want 200 (cut to 1000)", r.Status)
		}
	})
}

// TestChannelListRedis lists the channels of a Redis shared by two nodes,
// made through both, from one of them.
func TestChannelListRedis(t *testing.T) {
	srv := redistest.Start(t)
	a := startRedisHerald(t, listConfig, []string{srv.Addr}, false)
	b := startRedisHerald(t, listConfig, []string{srv.Addr}, false)
	keys := makeChannels(t, []string{a.URL, b.URL}, 23)
	checkListing(t, a.URL, keys)
}

// TestChannelListCluster lists the channels of a Redis Cluster of three
// masters, spread over all of them, whichever node made them.
func TestChannelListCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3, 0)
	a := startRedisHerald(t, listConfig, c.Addrs(), true)
	b := startRedisHerald(t, listConfig, c.Addrs(), true)
	keys := makeChannels(t, []string{a.URL, b.URL}, 60)
	for _, m := range c.Masters() {
		if n := m.MustDo("DBSIZE"); n == ":0" {
			t.Fatalf("master %s holds no channel", m.Addr)
		}
	}
	checkListing(t, b.URL, keys)
}

// TestChannelListLoopbackOnly checks the default channel_list_allow with
// clients that are not loopback: behind a trusted proxy (set_real_ip_from)
// the client is the one X-Real-IP names, and the listing answers it only
// if it is loopback.
func TestChannelListLoopbackOnly(t *testing.T) {
	s := startServer(t, "set_real_ip_from: 127.0.0.1\n"+listConfig)
	for _, tc := range []struct {
		client string
		status int
	}{
		{"", http.StatusOK}, // the connection's own address: 127.0.0.1
		{"127.0.0.2", http.StatusOK},
		{"::1", http.StatusOK},
		{"203.0.113.5", http.StatusForbidden},
		{"10.0.0.1", http.StatusForbidden},
		{"2001:db8::1", http.StatusForbidden},
	} {
		var headers []string
		if tc.client != "" {
			headers = []string{"X-Real-IP", tc.client}
		}
		if r := do(t, "GET", s.URL+"/channels", "", headers...); r.Status != tc.status {
			t.Errorf("client %q: %d %q, want %d", tc.client, r.Status, r.Body, tc.status)
		}
	}
}
