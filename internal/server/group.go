package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/heraldpush/herald/internal/chaninfo"
	"github.com/heraldpush/herald/internal/config"
	"github.com/heraldpush/herald/internal/route"
	"github.com/heraldpush/herald/internal/store"
)

// group serves a group location (group_location), as Nchan's
// nchan_group_location: GET answers the group's counts and limits, POST
// sets its limits from the location's group_max_* values and answers the
// same, DELETE deletes every channel of the group and answers the counts
// from before. Without channel_group_accounting it answers 403.
func (s *Server) group(w http.ResponseWriter, q *route.Request) {
	rt, r := q.Route, q.HTTP
	if rt.Group == nil {
		nchanText(w, http.StatusForbidden, "Channel group accounting is disabled.")
		return
	}
	name, ok := rt.GroupName(q)
	if !ok {
		nchanText(w, http.StatusBadRequest, "No group specified")
		return
	}
	ctx := r.Context()
	var need config.GroupOps
	switch r.Method {
	case http.MethodGet:
		need = config.GroupGet
	case http.MethodPost:
		need = config.GroupSet
	case http.MethodDelete:
		need = config.GroupDelete
	default:
		w.Header().Set("Allow", rt.Allow)
		plainError(w, http.StatusMethodNotAllowed, "Method not allowed: use "+rt.Allow+".")
		return
	}
	if rt.GroupOps&need == 0 {
		plainError(w, http.StatusForbidden, "")
		return
	}
	var (
		limits store.GroupLimits
		err    error
	)
	if need == config.GroupSet {
		var rf *route.Refusal
		if limits, rf, err = rt.Group.Apply(ctx, q.Vars(), name); rf != nil {
			s.refuse(w, q, rf)
			return
		}
	} else {
		limits, err = rt.Group.Limits.GroupLimits(ctx, name)
	}
	if err != nil {
		storeError(err).write(w)
		return
	}
	stats, err := rt.Group.Stats.GroupStats(ctx, name)
	if err != nil {
		storeError(err).write(w)
		return
	}
	if need == config.GroupDelete {
		if err := s.deleteGroup(q, name); err != nil {
			storeError(err).write(w)
			return
		}
	}
	f := chaninfo.Negotiate(r.Header.Get("Accept"))
	body := chaninfo.AppendGroup(make([]byte, 0, 512), f, stats, limits)
	hd := w.Header()
	hd.Set("Content-Type", f.ContentType())
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// deleteGroup deletes every channel of a group, a page of the store's
// listing at a time; their subscribers get 410 Gone as for any delete.
func (s *Server) deleteGroup(q *route.Request, group string) error {
	l, ok := q.Route.Store.(store.Lister)
	if !ok {
		return errors.New("the store cannot list a group's channels")
	}
	ctx := q.HTTP.Context()
	o := store.ListOptions{Group: group, Limit: store.MaxListLimit}
	for {
		page, err := l.Channels(ctx, o)
		if err != nil {
			return err
		}
		for _, c := range page.Channels {
			if _, err := q.Route.Store.Delete(ctx, c.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		o.After = page.Next
	}
}

// nchanText answers with one of Nchan's own messages, as Nchan sends them:
// text/plain, without a newline.
func nchanText(w http.ResponseWriter, status int, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain")
	hd.Set("Content-Length", strconv.Itoa(len(msg)))
	w.WriteHeader(status)
	w.Write([]byte(msg))
}
