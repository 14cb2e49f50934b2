package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
)

// httpError is a response for a request that cannot proceed.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) write(w http.ResponseWriter) { plainError(w, e.status, e.msg) }

// plainError writes a short text/plain error body; an empty msg writes none.
func plainError(w http.ResponseWriter, status int, msg string) {
	hd := w.Header()
	if msg == "" {
		hd.Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(len(msg)+1))
	w.WriteHeader(status)
	w.Write([]byte(msg + "\n"))
}

// storeError maps a store error to a response.
func storeError(err error) *httpError {
	if rf, ok := errors.AsType[*route.Refusal](err); ok {
		return &httpError{rf.Status, rf.Message}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &httpError{http.StatusNotFound, ""}
	case errors.Is(err, store.ErrGone):
		return &httpError{http.StatusGone, ""}
	case errors.Is(err, store.ErrNotCreated):
		return &httpError{http.StatusForbidden, "Channel does not exist: subscribers may only subscribe to channels a publisher created."}
	case errors.Is(err, store.ErrTooManySubscribers):
		return &httpError{http.StatusForbidden, "Channel subscriber limit reached."}
	case errors.Is(err, store.ErrConflict):
		return &httpError{http.StatusConflict, ""}
	case errors.Is(err, store.ErrOutOfMemory):
		return &httpError{http.StatusInsufficientStorage, "Message store is full (max_reserved_memory)."}
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed):
		return &httpError{http.StatusServiceUnavailable, "Message store unavailable."}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &httpError{http.StatusServiceUnavailable, "Request cancelled."}
	}
	return &httpError{http.StatusInternalServerError, "Internal error."}
}
