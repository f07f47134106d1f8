package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/eco-pm/eco/logs"
)

// What an instance sends over Node's IPC channel (process.send) is never dropped: each
// message is a line of stream "message" in the app's log and reaches followers (eco logs,
// GET /v1/logs/follow); "ready" while wait_ready waits is the ready signal instead.
//
// A message of the shape {"type": "eco:broadcast", "data": X} also hands X to every other
// running instance of the app, which receives it with process.on('message'): what the
// tutorials' cluster primary does for its workers, and what PM2 users do through the
// primary. The sender does not get its own message back.

// BroadcastType is the "type" of a message that eco relays to the app's other instances.
const BroadcastType = "eco:broadcast"

// message handles one message the running process sent.
func (m *machine) message(msg json.RawMessage) {
	in := m.in
	in.writeEvent(m.spec, logs.StreamMessage, string(msg))
	data, ok := broadcastData(msg)
	if !ok || in.deps.relay == nil {
		return
	}
	if sent, failed := in.deps.relay(in, data); failed > 0 {
		in.writeEvent(m.spec, logs.StreamEco, fmt.Sprintf("broadcast reached %d of %d other instances", sent, sent+failed))
	}
}

// broadcastData returns the data of a broadcast message, and false for any other message.
func broadcastData(msg json.RawMessage) (json.RawMessage, bool) {
	if len(msg) == 0 || msg[0] != '{' || !bytes.Contains(msg, []byte(BroadcastType)) {
		return nil, false // the cheap test first: most messages are not broadcasts
	}
	var b struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if json.Unmarshal(msg, &b) != nil || b.Type != BroadcastType || len(b.Data) == 0 {
		return nil, false
	}
	return b.Data, true
}

// relay writes data to the IPC channel of every running instance of the app but from, and
// reports how many got it and how many did not. The writes run side by side and relay waits
// for them, on from's goroutine: a sender's broadcasts arrive in the order it sent them, and a
// process that does not read its channel holds the sender up to proc's send timeout once, not
// once per peer. It writes to the processes directly, never waiting for another instance's
// goroutine, so two instances that broadcast to each other cannot wait for each other.
func (r *appRunner) relay(from *instance, data json.RawMessage) (sent, failed int) {
	r.mu.Lock()
	peers := make([]*instance, 0, len(r.instances)+len(r.incoming))
	for _, in := range r.instances {
		peers = append(peers, in)
	}
	peers = append(peers, r.incoming...)
	r.mu.Unlock()
	var wg sync.WaitGroup
	var ok, bad atomic.Int64
	for _, in := range peers {
		if in == from {
			continue
		}
		p := in.process.Load()
		if p == nil {
			continue
		}
		select {
		case <-p.Done():
			continue // not running: nothing to deliver to
		default:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Send(data); err != nil {
				bad.Add(1)
				return
			}
			ok.Add(1)
		}()
	}
	wg.Wait()
	return int(ok.Load()), int(bad.Load())
}

// sendToInstance writes msg to the IPC channel of instance index of r's app (eco send
// --instance N).
func sendToInstance(ctx context.Context, r *appRunner, index int, msg any) (string, error) {
	r.mu.Lock()
	in := r.instances[index]
	n := r.spec.Instances
	r.mu.Unlock()
	if in == nil {
		if index < 0 || index >= n {
			return "", fmt.Errorf("%w: %s has no instance %d (it has 0 to %d)", errNotFound, r.name(), index, n-1)
		}
		return "", fmt.Errorf("%s[%d] is not running", r.name(), index)
	}
	if err := in.command(ctx, instCmd{kind: cmdSend, msg: msg}); err != nil {
		if errors.Is(err, errInstanceGone) {
			return "", fmt.Errorf("%s[%d] is not running", r.name(), index)
		}
		return "", err
	}
	return fmt.Sprintf("sent to %s", in.name()), nil
}
