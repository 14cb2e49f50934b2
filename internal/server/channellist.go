package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
)

// A channel_list location answers the channels of its store (all of a
// Redis deployment's, whichever node holds them) with their info, one page
// at a time: see store.Lister. Its access (channel_list_allow) is a route
// stage (route.List).

// listEntry is one channel of a listing's JSON: its key and its info, with
// the names of Nchan's channel info in JSON.
type listEntry struct {
	Group         string `json:"group"`
	ID            string `json:"id"`
	Messages      int    `json:"messages"`
	Requested     int64  `json:"requested"`
	Subscribers   int    `json:"subscribers"`
	LastMessageID string `json:"last_message_id"`
}

// listPage is a listing's JSON answer.
type listPage struct {
	Channels []listEntry `json:"channels"`
	// Next is the cursor of the next page; absent on the last.
	Next string `json:"next,omitempty"`
}

// channelList answers GET on a channel_list location.
func (s *Server) channelList(w http.ResponseWriter, q *route.Request) {
	r, rt := q.HTTP, q.Route
	lister, ok := rt.Store.(store.Lister)
	if !ok {
		plainError(w, http.StatusNotImplemented, "This location's store cannot list its channels.")
		return
	}
	args := r.URL.Query()
	o := store.ListOptions{Prefix: args.Get("prefix"), After: args.Get("cursor")}
	if v := args.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			plainError(w, http.StatusBadRequest, "limit: want a whole number from 1 to "+strconv.Itoa(store.MaxListLimit)+".")
			return
		}
		o.Limit = min(n, store.MaxListLimit)
	}
	if o.After != "" {
		if _, err := store.ParseChannelKey(o.After); err != nil {
			plainError(w, http.StatusBadRequest, "cursor: not the next of a page.")
			return
		}
	}
	switch {
	case !rt.Channels.Group.IsEmpty():
		o.Group = rt.Channels.Group.Eval(q.Vars())
	case args.Has("group"):
		o.Group = args.Get("group")
	default:
		o.AllGroups = true
	}
	page, err := lister.Channels(r.Context(), o)
	if err != nil {
		s.log.Warn("channel listing failed", "location", rt.Name, "err", err)
		storeError(err).write(w)
		return
	}
	hd := w.Header()
	if page.Next != "" {
		next := url.Values{}
		for k, v := range args {
			next[k] = v
		}
		next.Set("cursor", page.Next)
		hd.Set("Link", "<"+r.URL.Path+"?"+next.Encode()+">; rel=\"next\"")
	}
	now := s.now()
	var body []byte
	if listWantsText(r.Header.Get("Accept")) {
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		body = append(body, "group\tid\tmessages\tsubscribers\trequested\tlast_message_id\n"...)
		for _, c := range page.Channels {
			body = appendListField(body, c.Key.Group)
			body = append(body, '\t')
			body = appendListField(body, c.Key.ID)
			body = append(body, '\t')
			body = strconv.AppendInt(body, int64(c.Info.Messages), 10)
			body = append(body, '\t')
			body = strconv.AppendInt(body, int64(c.Info.Subscribers), 10)
			body = append(body, '\t')
			body = strconv.AppendInt(body, c.Info.Requested(now), 10)
			body = append(body, '\t')
			body = append(body, c.Info.LastMessageID.String()...)
			body = append(body, '\n')
		}
	} else {
		out := listPage{Channels: make([]listEntry, 0, len(page.Channels)), Next: page.Next}
		for _, c := range page.Channels {
			out.Channels = append(out.Channels, listEntry{
				Group: c.Key.Group, ID: c.Key.ID,
				Messages: c.Info.Messages, Requested: c.Info.Requested(now), Subscribers: c.Info.Subscribers,
				LastMessageID: c.Info.LastMessageID.String(),
			})
		}
		b, err := json.Marshal(out)
		if err != nil {
			plainError(w, http.StatusInternalServerError, "Internal error.")
			return
		}
		hd.Set("Content-Type", "application/json")
		body = append(b, '\n')
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// listWantsText reports whether an Accept header prefers text/plain to
// JSON: the first of them it names wins; JSON by default.
func listWantsText(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, _ := strings.Cut(part, ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "text/plain":
			return true
		case "application/json", "text/json":
			return false
		}
	}
	return false
}

// appendListField appends a group or id to a text listing, quoted (Go
// syntax) when it holds a tab, a line break or another control character,
// so each channel stays one line of tab-separated fields.
func appendListField(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f || s[i] == '"' && i == 0 {
			return strconv.AppendQuote(b, s)
		}
	}
	return append(b, s...)
}
