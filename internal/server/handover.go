package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// handover is a binary upgrade in progress: another process accepts on
// the listeners now, and this one ends its subscribers over spread.
type handover struct {
	started atomic.Bool
	spread  atomic.Int64 // nanoseconds
}

// delay returns a channel that fires at a random moment within the spread
// of a handover in progress, or nil when there is none (a plain shutdown
// ends subscribers at once).
func (s *Server) handoverDelay() <-chan time.Time {
	spread := time.Duration(s.handover.spread.Load())
	if spread <= 0 {
		return nil
	}
	return time.After(rand.N(spread))
}

// ListenerFiles returns a copy of each listening socket, by configured
// listen address, for another process to inherit (see package handoff).
// The caller closes the files.
func (s *Server) ListenerFiles() (map[string]*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*os.File, len(s.endpoints))
	for _, ep := range s.endpoints {
		fl, ok := ep.raw.(interface{ File() (*os.File, error) })
		if !ok {
			closeFiles(out)
			return nil, fmt.Errorf("listener %s cannot be handed over", ep.la.Addr)
		}
		if ul, ok := ep.raw.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(false) // the socket file is the new process's now
		}
		f, err := fl.File()
		if err != nil {
			closeFiles(out)
			return nil, fmt.Errorf("listener %s: %w", ep.la.Addr, err)
		}
		out[ep.la.Addr] = f
	}
	return out, nil
}

func closeFiles(fs map[string]*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// StopAccepting closes this process's listeners (another process accepts
// on copies of them) without ending a connection: requests in progress and
// subscribers go on until Handover ends them.
func (s *Server) StopAccepting() {
	s.handover.started.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ep := range s.endpoints {
		ep.ln.Close()
	}
}

// Handover ends this server after another process took over its
// listeners: each waiting long-poll gets its timeout answer (it polls
// again, reaching the new process) and each streaming subscriber its
// transport's restart ending (EventSource a retry hint, WebSocket close
// 1012), at a random moment within spread, so clients do not all
// reconnect at once; until then they keep receiving. It returns once every
// request and subscriber finished, or ctx ended.
//
// Until the spread has passed, connections kept alive between requests
// stay open and each answer on them says "Connection: close" (on HTTP/2, a
// GOAWAY): a client that sends its next request on one gets an answer and
// connects anew, to the new process. Closing them at once would lose a
// request that a client sent as the close went out.
func (s *Server) Handover(ctx context.Context, spread time.Duration) error {
	s.StopAccepting()
	spread = max(spread, time.Millisecond)
	s.handover.spread.Store(int64(spread))
	s.quitOnce.Do(func() { close(s.quit) }) // subscribers pick their moments
	t := time.NewTimer(spread)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	err := s.Drain(ctx)
	// The listeners were closed above: closing them again is no failure.
	if err != nil && errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
		return nil
	}
	return err
}
