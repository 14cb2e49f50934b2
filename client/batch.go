package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/heraldpush/herald/protocol"
)

// ErrNoBatch is returned by PublishBatch when the client has no BatchURL.
var ErrNoBatch = errors.New("no batch publish location: set Options.BatchURL to a location with publish_batch: on")

// BatchMessage is one message of a batch publish: a Message for one
// channel.
type BatchMessage struct {
	Channel string
	Message
}

// BatchResult is the outcome of one message of a batch publish.
type BatchResult struct {
	Channel string
	// ID is the published message's id; "" when it was not published.
	ID string
	// Status is 201 (a subscriber was waiting) or 202 (stored) for a
	// published message, 204 when the server's upstream application
	// dropped it, or the HTTP status it was refused with (403, 413, ...).
	Status int
	// Reason says why it was not published.
	Reason string
}

// Published reports whether the message was published.
func (r BatchResult) Published() bool {
	return r.Status == http.StatusCreated || r.Status == http.StatusAccepted
}

// maxBatchAnswer bounds the answer read from a batch publish.
const maxBatchAnswer = 4 << 20

// PublishBatch publishes many messages, to any channels, in one request
// to the client's BatchURL (a location with publish_batch: on; see
// docs/batch.md). The results come in the order of msgs: a message the
// server refused has its status and reason there, and the others were
// published all the same. An error means the batch as a whole failed
// (nothing was published when the server answered 400, 413 or 415).
func (c *Client) PublishBatch(ctx context.Context, msgs []BatchMessage) ([]BatchResult, error) {
	if c.batchURL == "" {
		return nil, ErrNoBatch
	}
	pm := make([]protocol.BatchMessage, len(msgs))
	for i, m := range msgs {
		if m.Channel == "" {
			return nil, fmt.Errorf("herald client: batch message %d has no channel", i)
		}
		body := m.Body
		if body == nil {
			body = []byte{}
		}
		pm[i] = protocol.BatchMessage{Channel: m.Channel, Data: body, ContentType: m.ContentType, Event: m.Event}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.batchURL, bytes.NewReader(protocol.AppendBatchMessages(nil, pm)))
	if err != nil {
		return nil, fmt.Errorf("herald client: POST %s: %w", c.batchURL, err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("herald client: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError(http.MethodPost, c.batchURL, resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBatchAnswer))
	if err != nil {
		return nil, fmt.Errorf("herald client: POST %s: read answer: %w", c.batchURL, err)
	}
	res, err := protocol.ParseBatchResults(b)
	if err != nil {
		return nil, fmt.Errorf("herald client: POST %s: %w", c.batchURL, err)
	}
	if len(res) != len(msgs) {
		return nil, fmt.Errorf("herald client: POST %s: %d results for %d messages", c.batchURL, len(res), len(msgs))
	}
	out := make([]BatchResult, len(res))
	for i, r := range res {
		out[i] = BatchResult{Channel: r.Channel, ID: r.ID, Status: r.Status, Reason: r.Reason}
	}
	return out, nil
}
