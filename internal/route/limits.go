package route

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/heraldpush/herald/internal/clientaddr"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/limit"
)

// Limits are a location's per-client limits (limit_req, limit_conn), keyed
// by the request's client address (its RemoteAddr, which the server has
// already set to the real client behind trusted proxies).
type Limits struct {
	// Requests limits the request rate; nil for none.
	Requests *limit.Requests
	// Conns limits requests in progress; nil for none.
	Conns *limit.Conns
	// ReqStatus and ConnStatus answer what each refuses.
	ReqStatus, ConnStatus int
	// Quit, closed when the server begins to drain, ends the wait of a
	// delayed request (answered 503, as waiting subscribers are).
	Quit <-chan struct{}
}

// newLimits provisions a location's limits and returns their stages.
func newLimits(l *config.Location) (Limits, []Stage) {
	lm := Limits{ReqStatus: l.LimitReqStatus, ConnStatus: l.LimitConnStatus}
	if lm.ReqStatus == 0 {
		lm.ReqStatus = http.StatusTooManyRequests
	}
	if lm.ConnStatus == 0 {
		lm.ConnStatus = http.StatusTooManyRequests
	}
	var stages []Stage
	if l.LimitReq.Enabled() {
		lm.Requests = limit.NewRequests(limit.RequestsConfig{Rate: l.LimitReq.Rate, Burst: l.LimitReq.Burst,
			NoDelay: l.LimitReq.NoDelay, Size: l.LimitZoneSize})
		stages = append(stages, limitReqStage{})
	}
	if l.LimitConn > 0 {
		lm.Conns = limit.NewConns(l.LimitConn, l.LimitZoneSize)
		stages = append(stages, limitConnStage{})
	}
	return lm, stages
}

// ClientKey is the address a request's limits count it under: its client's
// IP address, or the zero address for every Unix socket peer.
func ClientKey(r *http.Request) netip.Addr {
	ap, _, ok := clientaddr.ParseRemote(r.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	return ap.Addr()
}

// limitReqStage refuses a client over its request rate, and holds a
// request of a burst (without nodelay) until the rate lets it through.
type limitReqStage struct{}

func (limitReqStage) Name() string { return "limit_req" }

func (limitReqStage) Run(ctx context.Context, q *Request) *Refusal {
	lm := &q.Route.Limits
	v := lm.Requests.Take(ClientKey(q.HTTP))
	if !v.OK {
		secs := int64((v.RetryAfter + time.Second - 1) / time.Second)
		return &Refusal{Status: lm.ReqStatus, Reason: "limit_req", Message: "Too many requests.",
			Header: http.Header{"Retry-After": {strconv.FormatInt(max(secs, 1), 10)}}}
	}
	if v.Delay > 0 {
		t := time.NewTimer(v.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return &Refusal{Status: lm.ReqStatus, Reason: "limit_req", Message: "Client went away while delayed."}
		case <-lm.Quit:
			return &Refusal{Status: http.StatusServiceUnavailable, Reason: "shutdown", Message: "Server shutting down.",
				Header: http.Header{"Retry-After": {"1"}}}
		}
	}
	return nil
}

// limitConnStage refuses a client with as many requests in progress as
// the location allows; a request it admits holds its slot until the
// request ends (see Request.Done and Request.Detach).
type limitConnStage struct{}

func (limitConnStage) Name() string { return "limit_conn" }

func (limitConnStage) Run(_ context.Context, q *Request) *Refusal {
	lm := &q.Route.Limits
	key := ClientKey(q.HTTP)
	if !lm.Conns.Acquire(key) {
		return &Refusal{Status: lm.ConnStatus, Reason: "limit_conn", Message: "Too many connections.",
			Header: http.Header{"Retry-After": {"1"}}}
	}
	conns := lm.Conns
	q.onDone = append(q.onDone, func() { conns.Release(key) })
	return nil
}

// Done releases what the request's stages hold (a limit_conn slot), unless
// Detach handed it to something that outlives the handler. It runs once.
func (q *Request) Done() {
	fs := q.onDone
	q.onDone = nil
	for _, f := range fs {
		f()
	}
}

// Detach takes over what the request's stages hold, for a subscriber whose
// session outlives its handler: the returned function (never nil) releases
// it, and Done no longer does.
func (q *Request) Detach() func() {
	fs := q.onDone
	q.onDone = nil
	if len(fs) == 0 {
		return func() {}
	}
	return func() {
		for _, f := range fs {
			f()
		}
	}
}
