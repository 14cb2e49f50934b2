package redis

import (
	"context"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Script calls made at the same time share round trips: a call that finds
// maxPipelines pipelines already in flight waits in a queue, and the next
// pipeline to go carries every call queued by then. One publisher sees no
// difference (its call goes alone, at once); many publishers cost Redis and
// Herald one read and one write per pipeline instead of per call, which is
// most of a small script's cost on both sides.

// maxPipelines is how many pipelines of script calls a store keeps in
// flight; more calls queue for the next one. Two keep Redis busy while
// Herald reads one pipeline's replies and sends the next.
const maxPipelines = 2

// maxPipelineCalls bounds one pipeline; what is queued beyond goes in the
// next.
const maxPipelineCalls = 256

// scriptCall is one script call waiting for its pipeline.
type scriptCall struct {
	sc   *goredis.Script
	keys []string
	args []any

	res  []any
	err  error
	done chan struct{}
}

// pipeliner batches script calls into pipelines (see maxPipelines).
type pipeliner struct {
	mu       sync.Mutex
	queue    []*scriptCall
	inFlight int
	max      int
	// exec runs one pipeline: it sets every call's res and err.
	exec func(calls []*scriptCall)
}

// do runs c in a pipeline and waits for its reply, for ctx to end or, when
// timeout is above 0, for timeout to pass (then it returns
// context.DeadlineExceeded); the call may still run then, and its reply is
// dropped. A call whose ctx has already ended is not sent. A timer bounds
// the wait rather than a context derived from ctx: a derived context costs
// every call several allocations and a place in ctx's list of children.
func (p *pipeliner) do(ctx context.Context, c *scriptCall, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.done = make(chan struct{})
	p.mu.Lock()
	p.queue = append(p.queue, c)
	if p.inFlight < p.max {
		p.inFlight++
		batch := p.take()
		p.mu.Unlock()
		p.send(batch)
	} else {
		p.mu.Unlock()
	}
	select {
	case <-c.done:
		return nil
	default:
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-expired:
		return context.DeadlineExceeded
	}
}

// take removes up to maxPipelineCalls calls from the queue; p.mu is held.
func (p *pipeliner) take() []*scriptCall {
	n := min(len(p.queue), maxPipelineCalls)
	batch := make([]*scriptCall, n)
	copy(batch, p.queue)
	rest := copy(p.queue, p.queue[n:])
	clear(p.queue[rest:])
	p.queue = p.queue[:rest]
	return batch
}

// send executes a batch, answers its calls, and, if calls queued meanwhile,
// hands the pipeline slot to a goroutine that sends them; otherwise it
// frees the slot.
func (p *pipeliner) send(batch []*scriptCall) {
	p.exec(batch)
	for _, c := range batch {
		close(c.done)
	}
	p.mu.Lock()
	if len(p.queue) == 0 {
		p.inFlight--
		p.mu.Unlock()
		return
	}
	next := p.take()
	p.mu.Unlock()
	go p.send(next)
}

// execScripts sends calls as one pipeline of EVALSHAs through rdb. A call
// whose script the server does not have (NOSCRIPT: a restarted or newly
// promoted Redis) is sent again alone with the script's source.
func execScripts(ctx context.Context, rdb goredis.UniversalClient, calls []*scriptCall) {
	if len(calls) == 1 {
		c := calls[0]
		c.res, c.err = c.sc.Run(ctx, rdb, c.keys, c.args...).Slice()
		return
	}
	cmds := make([]*goredis.Cmd, len(calls))
	rdb.Pipelined(ctx, func(pl goredis.Pipeliner) error {
		for i, c := range calls {
			cmds[i] = c.sc.EvalSha(ctx, pl, c.keys, c.args...)
		}
		return nil
	})
	for i, c := range calls {
		c.res, c.err = cmds[i].Slice()
		if c.err != nil && goredis.HasErrorPrefix(c.err, "NOSCRIPT") {
			c.res, c.err = c.sc.Run(ctx, rdb, c.keys, c.args...).Slice()
		}
	}
}
