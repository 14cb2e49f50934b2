package hook

import (
	"context"
	"net/http"

	"github.com/heraldpush/herald/internal/location"
)

// Authorize asks the application whether a subscriber or publisher may
// proceed: a GET (with body, a publisher's message, when the hook passes
// request bodies). The answer admits when its status is 2xx; otherwise it
// is the refusal, which a subscriber receives as the application wrote
// it. An error means the application could not say (see FailureStatus).
func (h *Hook) Authorize(ctx context.Context, vars location.Request, body []byte) (ok bool, refusal *Answer, err error) {
	if !h.PassRequestBody {
		body = nil
	}
	a, err := h.Call(ctx, http.MethodGet, vars, body, nil)
	if err != nil {
		return false, nil, err
	}
	if a.Status >= 200 && a.Status < 300 {
		return true, nil, nil
	}
	return false, a, nil
}

// RefusalHeader returns the headers of an application's refusal that a
// subscriber receives: all but those that describe the application's
// connection and its own framing (Content-Length, Connection, ...), which
// Herald writes itself.
func (a *Answer) RefusalHeader() http.Header {
	out := make(http.Header, len(a.Header))
	for k, v := range a.Header {
		switch k {
		case "Content-Length", "Connection", "Keep-Alive", "Transfer-Encoding", "Server", "Date", "Trailer", "Upgrade", "Proxy-Connection":
			continue
		}
		out[k] = v
	}
	return out
}

// Upstream is what publisher_upstream_request made of a message.
type Upstream struct {
	// Publish is false when nothing is to be published.
	Publish bool
	// Body and ContentType are the message to publish: the application's
	// rewrite or the original.
	Body        []byte
	ContentType string
	// Status, when nothing is published, is the publisher's answer: 204
	// when the application dropped the message, 403 when it rejected it,
	// 500 when it could not be asked.
	Status int
}

// Publish POSTs a message to the application before it is published, with
// its Content-Type and X-Publisher-Type ("http" or "websocket"), and reads
// what to publish from the answer, as Nchan does: 200, 201 or 202 publish
// the application's body with its Content-Type; 304 publishes the
// original; 204 publishes nothing and the publisher gets 204; any other
// status: nothing is published and the publisher gets 403. An application
// that cannot be reached or is too slow gives 500 (err says why).
func (h *Hook) Publish(ctx context.Context, vars location.Request, body []byte, contentType, publisherType string) (Upstream, error) {
	// Accept-Encoding is not passed: the answer is published as it is, so
	// it must not come compressed for this one client.
	hd := http.Header{"X-Publisher-Type": {publisherType}, "Accept-Encoding": nil}
	if contentType != "" {
		hd["Content-Type"] = []string{contentType}
	} else {
		hd["Content-Type"] = nil
	}
	if body == nil {
		body = []byte{}
	}
	a, err := h.Call(ctx, http.MethodPost, vars, body, hd)
	if err != nil {
		return Upstream{Status: http.StatusInternalServerError}, err
	}
	switch a.Status {
	case http.StatusOK, http.StatusCreated, http.StatusAccepted:
		return Upstream{Publish: true, Body: a.Body, ContentType: a.Header.Get("Content-Type")}, nil
	case http.StatusNotModified:
		return Upstream{Publish: true, Body: body, ContentType: contentType}, nil
	case http.StatusNoContent:
		return Upstream{Status: http.StatusNoContent}, nil
	}
	return Upstream{Status: http.StatusForbidden}, nil
}
