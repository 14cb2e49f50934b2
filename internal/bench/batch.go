package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// batchPublisher is publisher p's loop with --batch: requests of Batch
// messages each, to BatchURL, round robin over its own share of the
// channels (channel c is publisher c%Publishers's), so every channel has
// one publisher and its messages a defined order without a lock.
func (r *runner) batchPublisher(p int, plan *pubPlan) {
	k := r.cfg.Publishers
	var mine []*channel
	for c := p; c < len(r.chans); c += k {
		mine = append(mine, r.chans[c])
	}
	if len(mine) == 0 {
		return
	}
	msgs := make([]protocol.BatchMessage, 0, r.cfg.Batch)
	chans := make([]*channel, 0, r.cfg.Batch)
	seqs := make([]uint64, 0, r.cfg.Batch)
	var body []byte
	j := 0
	for r.ctx.Err() == nil && r.pubErrRun.Load() < maxPublishErrors {
		n := int64(r.cfg.Batch)
		i := plan.next.Add(n) - n
		if plan.limit > 0 {
			if i >= plan.limit {
				return
			}
			n = min(n, plan.limit-i)
		}
		if time.Now().After(plan.until) {
			return
		}
		msgs, chans, seqs = msgs[:0], chans[:0], seqs[:0]
		t := time.Now()
		for range n {
			ch := mine[j%len(mine)]
			j++
			seq := ch.next.Add(1) - 1
			msgs = append(msgs, protocol.BatchMessage{Channel: ch.name, Data: appendBody(nil, seq, t.UnixNano(), r.cfg.Size)})
			chans, seqs = append(chans, ch), append(seqs, seq)
		}
		body = protocol.AppendBatchMessages(body[:0], msgs)
		r.firstPublish.CompareAndSwap(0, t.UnixNano())
		r.published.Add(n)
		results, err := r.postBatch(body)
		if err != nil {
			for range n {
				r.countStatus(0)
			}
			r.countError("publish", err)
			if r.pubErrRun.Add(1) == maxPublishErrors && r.ctx.Err() == nil {
				r.warn("publishing stopped after %d batches in a row got no answer", maxPublishErrors)
			}
			continue
		}
		r.pubErrRun.Store(0)
		took := time.Since(t)
		for x, res := range results {
			r.countStatus(res.Status)
			if res.Status/100 == 2 {
				r.publishHist.Record(p, took)
				r.acked.Add(1)
				chans[x].ack(seqs[x])
			}
		}
		if plan.pace > 0 && !sleepUntil(r.ctx, time.Now().Add(plan.pace)) {
			return
		}
	}
}

// postBatch sends one batch publish and reads its results, one per
// message.
func (r *runner) postBatch(body []byte) ([]protocol.BatchResult, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", r.cfg.BatchURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("batch answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("batch publish: status %d: %s", res.StatusCode, bytes.TrimSpace(b))
	}
	return protocol.ParseBatchResults(b)
}
