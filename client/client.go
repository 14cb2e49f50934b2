package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultServer is the address of a local Herald running its built-in
// configuration.
const DefaultServer = "http://127.0.0.1:8080"

// Placeholder stands for the channel id (or the comma-separated ids of
// several channels) in a URL template.
const Placeholder = "{channel}"

// maxInfoBody bounds the channel info and error bodies the client reads.
const maxInfoBody = 64 << 10

// Options configure a Client. The zero value talks to a Herald with the
// built-in layout: publisher at /pub/<id>, subscriber at /sub/<id>.
type Options struct {
	// PublishURL is the publisher URL template: Placeholder is replaced by
	// the channel id, path-escaped. A template without Placeholder is used
	// as it is, for one fixed channel. Empty: <server>/pub/{channel}.
	PublishURL string
	// SubscribeURL is the subscriber URL template, like PublishURL.
	// Empty: <server>/sub/{channel}.
	SubscribeURL string
	// ListURL is the URL of a channel listing location (`channel_list:
	// on`), which List reads; empty: List returns ErrNoListing.
	ListURL string
	// MultiplexURL is the URL of a `websocket_multiplex` location
	// (http:// or https://, or ws:// or wss://): subscriptions over the
	// Multiplex transport connect there, and Auto tries it first. Empty:
	// Multiplex is not offered.
	MultiplexURL string
	// BatchURL is the URL of a batch publish location (`publish_batch:
	// on`), which PublishBatch posts to; empty: PublishBatch returns
	// ErrNoBatch.
	BatchURL string
	// HTTPClient makes every HTTP request; nil means a client of the
	// Client's own with connection reuse. Its Timeout, if any, must be
	// zero or longer than a long-poll wait: use Timeout instead.
	HTTPClient *http.Client
	// Timeout bounds each channel management and publish request
	// (0: 30 s). Subscriptions have no overall timeout; they end with
	// their context.
	Timeout time.Duration
	// Header is added to every request (an Authorization header, say).
	Header http.Header
}

// Client talks to one Herald server: it opens, checks, publishes to and
// closes channels and subscribes to them. It is safe for concurrent use
// and reuses connections; make one and share it.
type Client struct {
	pubURL, subURL string
	listURL        string
	muxURL         string
	batchURL       string
	hc             *http.Client
	timeout        time.Duration
	header         http.Header
}

// New returns a client of the Herald at server ("http://host:port"; empty
// means DefaultServer), configured by o (nil for the defaults).
func New(server string, o *Options) (*Client, error) {
	if o == nil {
		o = &Options{}
	}
	if server == "" {
		server = DefaultServer
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("herald client: server %q: %w", server, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("herald client: server %q: want http://host:port or https://host:port", server)
	}
	base := strings.TrimRight(server, "/")
	c := &Client{pubURL: o.PublishURL, subURL: o.SubscribeURL, listURL: o.ListURL, muxURL: o.MultiplexURL, batchURL: o.BatchURL, hc: o.HTTPClient, timeout: o.Timeout, header: o.Header.Clone()}
	if c.pubURL == "" {
		c.pubURL = base + "/pub/" + Placeholder
	}
	if c.subURL == "" {
		c.subURL = base + "/sub/" + Placeholder
	}
	for _, t := range []string{c.pubURL, c.subURL} {
		if _, err := url.Parse(strings.ReplaceAll(t, Placeholder, "x")); err != nil {
			return nil, fmt.Errorf("herald client: URL template %q: %w", t, err)
		}
	}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 32
		c.hc = &http.Client{Transport: tr}
	}
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	return c, nil
}

// NewChannelID returns a fresh, unguessable channel id: 128 random bits,
// base64url without padding (22 characters of A-Z, a-z, 0-9, '-' and '_'),
// so it needs no escaping in a path, a query argument or a cookie and holds
// no split delimiter.
func NewChannelID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random channel id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// channelURL fills a template with the channels, each path-escaped and
// joined with commas (the built-in channel_id_split_delimiter).
func channelURL(template string, channels []string) string {
	if !strings.Contains(template, Placeholder) {
		return template
	}
	esc := make([]string, len(channels))
	for i, ch := range channels {
		esc[i] = url.PathEscape(ch)
	}
	return strings.ReplaceAll(template, Placeholder, strings.Join(esc, ","))
}

// checkChannels refuses ids that cannot travel: empty ones, and, for
// several channels in one request, ids holding the delimiter.
func checkChannels(channels []string) error {
	if len(channels) == 0 {
		return errors.New("no channel")
	}
	for _, ch := range channels {
		if ch == "" {
			return errors.New("empty channel id")
		}
		if len(channels) > 1 && strings.Contains(ch, ",") {
			return fmt.Errorf("channel id %q holds ',', the delimiter of several channels", ch)
		}
	}
	return nil
}

// Info is a channel's state as the server reports it.
type Info struct {
	// Channel is the channel's id, as the client named it (several,
	// comma-separated, for PublishMany).
	Channel string
	// Messages is how many messages the channel buffers.
	Messages int
	// Requested is how long ago a subscriber last touched the channel;
	// negative if none ever did.
	Requested time.Duration
	// Subscribers is how many subscribers are connected.
	Subscribers int
	// LastMessageID is the id of the newest message ("0" for several
	// channels, or a channel without messages).
	LastMessageID string
}

// infoJSON is channel info as Herald and Nchan write it in JSON.
type infoJSON struct {
	Messages      int    `json:"messages"`
	Requested     int64  `json:"requested"`
	Subscribers   int    `json:"subscribers"`
	LastMessageID string `json:"last_message_id"`
}

// parseInfo reads a JSON channel info body.
func parseInfo(channel string, body []byte) (Info, error) {
	var j infoJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return Info{}, fmt.Errorf("channel info: %w", err)
	}
	req := time.Duration(j.Requested) * time.Second
	if j.Requested < 0 {
		req = -1
	}
	return Info{Channel: channel, Messages: j.Messages, Requested: req, Subscribers: j.Subscribers, LastMessageID: j.LastMessageID}, nil
}

// ErrNotFound is matched (errors.Is) by the error of a request for a
// channel the server does not have: a *StatusError with status 404.
var ErrNotFound = errors.New("channel not found")

// ErrGone is matched by the error that ends a subscription whose channel
// was closed (deleted): a *StatusError with status 410.
var ErrGone = errors.New("channel gone")

// StatusError is an answer of the server that the client could not take:
// a refusal or a failure, with what the server said.
type StatusError struct {
	Method string // the request's method (GET for a subscription)
	URL    string // the request's URL
	Code   int    // the HTTP status, or 410, 403... read from a stream's ending
	Status string // the status line's text, as "403 Forbidden"
	Body   string // the start of the answer's body, trimmed
}

// Error says what the server answered to which request.
func (e *StatusError) Error() string {
	s := fmt.Sprintf("herald client: %s %s: %s", e.Method, e.URL, e.Status)
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// Is makes a 404 match ErrNotFound and a 410 ErrGone.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Code == http.StatusNotFound ||
		target == ErrGone && e.Code == http.StatusGone
}

// statusError builds the error of an unexpected answer, reading the start
// of its body.
func statusError(method, u string, resp *http.Response) *StatusError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	st := resp.Status
	if st == "" {
		st = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return &StatusError{Method: method, URL: u, Code: resp.StatusCode, Status: st, Body: strings.TrimSpace(string(b))}
}

// do sends one channel management request and returns the status and
// body of an answer in want, or the error of any other.
func (c *Client) do(ctx context.Context, method string, channels []string, body []byte, hdr http.Header, want ...int) (int, []byte, error) {
	if err := checkChannels(channels); err != nil {
		return 0, nil, fmt.Errorf("herald client: %w", err)
	}
	u := channelURL(c.pubURL, channels)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("herald client: %s %s: %w", method, u, err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("herald client: %w", err) // it names the method and URL
	}
	defer resp.Body.Close()
	for _, w := range want {
		if resp.StatusCode == w {
			b, err := io.ReadAll(io.LimitReader(resp.Body, maxInfoBody))
			if err != nil {
				return 0, nil, fmt.Errorf("herald client: %s %s: read answer: %w", method, u, err)
			}
			return resp.StatusCode, b, nil
		}
	}
	return resp.StatusCode, nil, statusError(method, u, resp)
}

// info reads the channel info of a 200/201/202 answer.
func (c *Client) info(ctx context.Context, method string, channels []string, body []byte, hdr http.Header, want ...int) (Info, int, error) {
	code, b, err := c.do(ctx, method, channels, body, hdr, want...)
	if err != nil {
		return Info{}, code, err
	}
	name := strings.Join(channels, ",")
	in, err := parseInfo(name, b)
	if err != nil {
		return Info{}, code, fmt.Errorf("herald client: %s %s: %w", method, channelURL(c.pubURL, channels), err)
	}
	return in, code, nil
}

// Open creates a channel without publishing to it (PUT with no body) and
// returns its info. With id empty it opens a fresh channel with an
// unguessable id (NewChannelID), which Info.Channel holds; opening a
// channel that exists leaves it as it is.
func (c *Client) Open(ctx context.Context, id string) (Info, error) {
	if id == "" {
		var err error
		if id, err = NewChannelID(); err != nil {
			return Info{}, fmt.Errorf("herald client: %w", err)
		}
	}
	in, _, err := c.info(ctx, http.MethodPut, []string{id}, nil, nil, http.StatusOK, http.StatusCreated, http.StatusAccepted)
	return in, err
}

// Exists reports whether the server has the channel.
func (c *Client) Exists(ctx context.Context, id string) (bool, error) {
	_, err := c.Info(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Info returns a channel's info; a channel the server does not have is an
// error matching ErrNotFound.
func (c *Client) Info(ctx context.Context, id string) (Info, error) {
	in, _, err := c.info(ctx, http.MethodGet, []string{id}, nil, nil, http.StatusOK)
	return in, err
}

// Close deletes a channel: its subscribers are ended (410 Gone) and its
// messages dropped. It returns the channel's info from before; a channel
// the server does not have is an error matching ErrNotFound.
func (c *Client) Close(ctx context.Context, id string) (Info, error) {
	in, _, err := c.info(ctx, http.MethodDelete, []string{id}, nil, nil, http.StatusOK)
	return in, err
}

// Message is a message to publish.
type Message struct {
	// Body is the message; empty is a valid message.
	Body []byte
	// ContentType is stored with the message and given to subscribers
	// that receive it (long-poll, WebSocket); empty sends none.
	ContentType string
	// Event is the EventSource event name (X-EventSource-Event); empty
	// sends none.
	Event string
}

// Published is what the server answered a publish.
type Published struct {
	// ID is the id of the message published ("0" for several channels,
	// which give each message its own id).
	ID string
	// Delivered reports that at least one subscriber was waiting (201
	// Created); false means the message was stored for subscribers to
	// come (202 Accepted).
	Delivered bool
	// Info is the channel's info after the publish (for several
	// channels: the most messages of any, the subscribers added up).
	Info Info
}

func (m Message) header() http.Header {
	h := http.Header{}
	if m.ContentType != "" {
		h.Set("Content-Type", m.ContentType)
	}
	if m.Event != "" {
		h.Set("X-EventSource-Event", m.Event)
	}
	return h
}

// Publish publishes m to the channel.
func (c *Client) Publish(ctx context.Context, id string, m Message) (Published, error) {
	return c.publish(ctx, []string{id}, m)
}

// The limits of one request naming several channels, as Herald and
// Nchan have them by default: 255 channels, 1024 bytes of ids
// (max_channel_id_length) with their delimiters.
const (
	maxPerRequest = 255
	maxIDLength   = 1024
)

// batches cuts ids into runs that fit one request.
func batches(ids []string) [][]string {
	var out [][]string
	start, size := 0, -1
	for i, id := range ids {
		if i > start && (i-start == maxPerRequest || size+1+len(id) > maxIDLength) {
			out = append(out, ids[start:i])
			start, size = i, -1
		}
		size += 1 + len(id)
	}
	return append(out, ids[start:])
}

// PublishMany publishes m to every channel in ids, in as few requests as
// the server's default limits allow (255 channels, 1024 bytes of ids per
// request). The ids must not hold ',' (the built-in split delimiter).
// Delivered is true if any channel had a subscriber waiting; Info adds the
// requests' answers up. A failed request ends it: channels of the
// requests before it have the message.
func (c *Client) PublishMany(ctx context.Context, ids []string, m Message) (Published, error) {
	if err := checkChannels(ids); err != nil {
		return Published{}, fmt.Errorf("herald client: %w", err)
	}
	var total Published
	for i, b := range batches(ids) {
		p, err := c.publish(ctx, b, m)
		if err != nil {
			return total, err
		}
		if i == 0 {
			total = p
			continue
		}
		total.Delivered = total.Delivered || p.Delivered
		total.ID = "0"
		total.Info.Messages = max(total.Info.Messages, p.Info.Messages)
		total.Info.Subscribers += p.Info.Subscribers
		if p.Info.Requested >= 0 && (total.Info.Requested < 0 || p.Info.Requested < total.Info.Requested) {
			total.Info.Requested = p.Info.Requested
		}
	}
	total.Info.Channel = strings.Join(ids, ",")
	return total, nil
}

func (c *Client) publish(ctx context.Context, ids []string, m Message) (Published, error) {
	body := m.Body
	if body == nil {
		body = []byte{}
	}
	in, code, err := c.info(ctx, http.MethodPost, ids, body, m.header(), http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return Published{}, err
	}
	return Published{ID: in.LastMessageID, Delivered: code == http.StatusCreated, Info: in}, nil
}
