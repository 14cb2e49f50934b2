package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ErrNoListing is returned by List when the client has no ListURL: the
// server needs a channel listing location (`channel_list: on`) and the
// client its URL.
var ErrNoListing = errors.New("no channel listing location: set Options.ListURL to a location with channel_list: on")

// maxListBody bounds a listing page the client reads (1000 channels with
// long ids).
const maxListBody = 8 << 20

// ListOptions choose the channels of a listing.
type ListOptions struct {
	// Prefix keeps only channels whose id starts with it.
	Prefix string
	// Group, with OnlyGroup, keeps only that group's channels ("" is the
	// default group); without OnlyGroup every group is listed, unless the
	// location sets channel_group.
	Group     string
	OnlyGroup bool
	// Limit is the most channels in a page (0: the server's 100; at most
	// 1000).
	Limit int
	// Cursor starts the page after it: the Next of the page before.
	Cursor string
}

// Listed is one channel of a listing.
type Listed struct {
	// Group is the channel's group ("" the default one).
	Group string
	// Info is the channel's info; Info.Channel is its id.
	Info Info
}

// ListPage is one page of a channel listing.
type ListPage struct {
	Channels []Listed
	// Next is the cursor of the next page; empty on the last.
	Next string
}

// listJSON is a listing page as Herald writes it.
type listJSON struct {
	Channels []struct {
		Group string `json:"group"`
		ID    string `json:"id"`
		infoJSON
	} `json:"channels"`
	Next string `json:"next"`
}

// parseListPage reads a JSON listing page.
func parseListPage(body []byte) (ListPage, error) {
	var j listJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return ListPage{}, fmt.Errorf("channel listing: %w", err)
	}
	p := ListPage{Channels: make([]Listed, 0, len(j.Channels)), Next: j.Next}
	for _, c := range j.Channels {
		req := time.Duration(c.Requested) * time.Second
		if c.Requested < 0 {
			req = -1
		}
		p.Channels = append(p.Channels, Listed{Group: c.Group, Info: Info{Channel: c.ID, Messages: c.Messages,
			Requested: req, Subscribers: c.Subscribers, LastMessageID: c.LastMessageID}})
	}
	return p, nil
}

// List reads one page of the server's channel listing, at Options.ListURL.
func (c *Client) List(ctx context.Context, o ListOptions) (ListPage, error) {
	if c.listURL == "" {
		return ListPage{}, fmt.Errorf("herald client: %w", ErrNoListing)
	}
	u, err := url.Parse(c.listURL)
	if err != nil {
		return ListPage{}, fmt.Errorf("herald client: ListURL: %w", err)
	}
	q := u.Query()
	if o.Prefix != "" {
		q.Set("prefix", o.Prefix)
	}
	if o.OnlyGroup {
		q.Set("group", o.Group)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return ListPage{}, fmt.Errorf("herald client: %w", err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return ListPage{}, fmt.Errorf("herald client: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ListPage{}, statusError(http.MethodGet, u.String(), resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxListBody))
	if err != nil {
		return ListPage{}, fmt.Errorf("herald client: GET %s: %w", u, err)
	}
	p, err := parseListPage(b)
	if err != nil {
		return ListPage{}, fmt.Errorf("herald client: GET %s: %w", u, err)
	}
	return p, nil
}

// ListAll reads the whole listing page by page, yielding each channel;
// an error ends it.
func (c *Client) ListAll(ctx context.Context, o ListOptions) iter.Seq2[Listed, error] {
	return func(yield func(Listed, error) bool) {
		for pages := 0; ; pages++ {
			p, err := c.List(ctx, o)
			if err != nil {
				yield(Listed{}, err)
				return
			}
			for _, ch := range p.Channels {
				if !yield(ch, nil) {
					return
				}
			}
			if p.Next == "" || p.Next == o.Cursor {
				return
			}
			o.Cursor = p.Next
		}
	}
}
