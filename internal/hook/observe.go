package hook

import (
	"context"
	"time"
)

// Observer is told of every request a hook sends: the hook's name (its
// configuration key, as "authorize_request"), the status the application
// answered (0 when it could not be reached or did not answer in time) and
// how long the exchange took. The metrics count hook calls with it.
type Observer func(name string, status int, took time.Duration)

type observerKey struct{}

// WithObserver returns a context whose hook requests are reported to o.
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// observerFrom returns the context's observer, nil when there is none.
func observerFrom(ctx context.Context) Observer {
	o, _ := ctx.Value(observerKey{}).(Observer)
	return o
}

// observed reports an exchange that began at start, when the request's
// context carries an observer.
func (h *Hook) observed(ctx context.Context, start time.Time, a *Answer) {
	o := observerFrom(ctx)
	if o == nil {
		return
	}
	status := 0
	if a != nil {
		status = a.Status
	}
	o(h.Name, status, time.Since(start))
}
