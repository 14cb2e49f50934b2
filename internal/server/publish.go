package server

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/heraldpush/herald/internal/chaninfo"
	"github.com/heraldpush/herald/internal/store"
)

// publish handles POST, and PUT: a PUT with an empty body creates the
// channels (200) without publishing, as the Push Module protocol says.
func (h *handler) publish(w http.ResponseWriter, r *http.Request, l *loc, ids []store.ChannelKey) {
	body, err := readBody(w, r, l.ClientMaxBodySize)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			plainError(w, http.StatusRequestEntityTooLarge, "Message is larger than client_max_body_size ("+strconv.FormatInt(l.ClientMaxBodySize, 10)+" bytes).")
			return
		}
		plainError(w, http.StatusBadRequest, "Could not read the request body.")
		return
	}
	ctx := r.Context()
	if r.Method == http.MethodPut && len(body) == 0 {
		var info store.Info
		for _, id := range ids {
			if info, err = l.store.Create(ctx, id, l.chanOpts); err != nil {
				storeError(err).write(w)
				return
			}
		}
		h.writeInfo(w, r, l, http.StatusOK, info)
		return
	}
	p := store.Publication{
		Body:        body,
		ContentType: r.Header.Get("Content-Type"),
		EventName:   r.Header.Get("X-EventSource-Event"),
	}
	if l.EventSourceEvent != "" {
		p.EventName = l.EventSourceEvent
	}
	status := http.StatusAccepted
	var info store.Info
	for _, id := range ids {
		res, err := l.store.Publish(ctx, id, p, l.chanOpts)
		if err != nil {
			h.s.log.Warn("publish failed", "channel", id, "err", err)
			storeError(err).write(w)
			return
		}
		if res.Info.Subscribers > 0 {
			status = http.StatusCreated
		}
		info = res.Info
	}
	h.writeInfo(w, r, l, status, info)
}

// readBody reads the whole request body, failing past limit bytes.
// A limit of 0 means no limit, as in nginx.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if limit <= 0 {
		return io.ReadAll(r.Body)
	}
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	if r.ContentLength == 0 {
		return []byte{}, nil
	}
	rd := http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength > 0 {
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(rd)
}

// info answers GET on a publisher location: 200 with the channel's info, or
// 404 with an empty body.
func (h *handler) info(w http.ResponseWriter, r *http.Request, l *loc, ids []store.ChannelKey) {
	var info store.Info
	for _, id := range ids {
		var err error
		if info, err = l.store.Info(r.Context(), id); err != nil {
			storeError(err).write(w)
			return
		}
	}
	h.writeInfo(w, r, l, http.StatusOK, info)
}

// delete answers DELETE: 200 with the info from before the delete, or 404.
func (h *handler) delete(w http.ResponseWriter, r *http.Request, l *loc, ids []store.ChannelKey) {
	var info store.Info
	found := false
	for _, id := range ids {
		i, err := l.store.Delete(r.Context(), id)
		switch {
		case err == nil:
			info, found = i, true
			h.s.log.Debug("channel deleted", "channel", id)
		case errors.Is(err, store.ErrNotFound):
		default:
			storeError(err).write(w)
			return
		}
	}
	if !found {
		storeError(store.ErrNotFound).write(w)
		return
	}
	h.writeInfo(w, r, l, http.StatusOK, info)
}

func (h *handler) writeInfo(w http.ResponseWriter, r *http.Request, l *loc, status int, info store.Info) {
	f := chaninfo.Negotiate(r.Header.Get("Accept"))
	body := chaninfo.Append(make([]byte, 0, 160), f, info, h.s.now())
	hd := w.Header()
	hd.Set("Content-Type", f.ContentType())
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	h.setCORS(hd, r, l)
	w.WriteHeader(status)
	w.Write(body)
}
