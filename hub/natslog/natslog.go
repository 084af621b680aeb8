// Package natslog is the event log that the instances of one hub share
// (hubd --nats): a NATS JetStream stream of the hub's change events. Every
// instance publishes the changes it makes; each follows the stream and so
// delivers every instance's changes, in the stream's one order, numbered
// by the stream's sequence. A watcher's cursor is the stream's epoch and a
// sequence number, which every instance understands.
//
// It implements server.EventLog; cmd/hubd picks it. It knows nothing of
// HTTP, storage or tokens.
//
// # The stream
//
// One stream per hub, named by Config.Stream (default PARLEY_HUB), on the
// subject "<stream in lower case>.events", file storage, Config.Replicas
// copies, keeping the last Config.MaxEvents events for at most
// Config.MaxAge (older ones are dropped: a cursor that old is reset).
// Each message is one event as JSON. The stream's metadata holds its
// epoch ("parley-epoch": 16 random bytes, hex), chosen by whichever
// instance creates the stream: a stream deleted and made anew starts its
// sequence again under another epoch, so old cursors are refused rather
// than misread. Publishes carry a random Nats-Msg-Id, so a retried
// publish is stored once.
//
// It owns publishing and following the stream and the cursors' epoch; it
// must not know of HTTP, storage or tokens.
package natslog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parley-im/parley/hub/server"
)

// Config says where the log lives.
type Config struct {
	// URL is the NATS server, or several comma-separated (a cluster).
	URL string
	// Stream names the JetStream stream (default "PARLEY_HUB"); hubs
	// sharing one NATS cluster need one each.
	Stream string
	// Replicas is how many NATS servers keep the stream (default 1; 3 in
	// a 3-node cluster).
	Replicas int
	// MaxEvents and MaxAge bound the stream (default 100,000 and 24 h).
	MaxEvents int64
	MaxAge    time.Duration
	// Name names this instance's connection (in NATS monitoring).
	Name string
}

// Log is a connection to the stream. Safe for concurrent use.
type Log struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	subject string
	epoch   string
}

var _ server.EventLog = (*Log)(nil)

const epochKey = "parley-epoch"

// Open connects and finds the stream, creating it if it does not exist.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.Stream == "" {
		cfg.Stream = "PARLEY_HUB"
	}
	if strings.ContainsAny(cfg.Stream, ". *>\t") {
		return nil, fmt.Errorf("nats: stream name %q may not contain '.', '*', '>' or spaces", cfg.Stream)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.MaxEvents == 0 {
		cfg.MaxEvents = 100_000
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 24 * time.Hour
	}
	nc, err := nats.Connect(cfg.URL, nats.Name(cfg.Name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond), nats.RetryOnFailedConnect(false))
	if err != nil {
		return nil, fmt.Errorf("nats: connect %s: %w", cfg.URL, err)
	}
	l := &Log{nc: nc, subject: strings.ToLower(cfg.Stream) + ".events"}
	if l.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: %w", err)
	}
	e := make([]byte, 16)
	rand.Read(e)
	sc := jetstream.StreamConfig{
		Name:      cfg.Stream,
		Subjects:  []string{l.subject},
		Storage:   jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy,
		Discard:   jetstream.DiscardOld,
		MaxMsgs:   cfg.MaxEvents,
		MaxAge:    cfg.MaxAge,
		Replicas:  cfg.Replicas,
		Metadata:  map[string]string{epochKey: hex.EncodeToString(e)},
	}
	l.stream, err = l.js.CreateStream(ctx, sc)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		l.stream, err = l.js.Stream(ctx, cfg.Stream)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: stream %s: %w", cfg.Stream, err)
	}
	info := l.stream.CachedInfo()
	if l.epoch = info.Config.Metadata[epochKey]; l.epoch == "" {
		nc.Close()
		return nil, fmt.Errorf("nats: stream %s exists but was not made by hubd (no %s in its metadata): give --nats-stream another name", cfg.Stream, epochKey)
	}
	return l, nil
}

// Close closes the connection.
func (l *Log) Close() { l.nc.Close() }

// Epoch implements server.EventLog.
func (l *Log) Epoch() string { return l.epoch }

// Publish implements server.EventLog: it returns once the stream holds
// ev, retrying (with one message id, so the stream keeps one copy) until
// ctx ends.
func (l *Log) Publish(ctx context.Context, ev server.LogEvent) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	id := make([]byte, 12)
	rand.Read(id)
	for {
		_, err = l.js.Publish(ctx, l.subject, b, jetstream.WithMsgID(hex.EncodeToString(id)))
		if err == nil || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("nats: publish: %w", err)
	}
	return nil
}

// Last implements server.EventLog.
func (l *Log) Last(ctx context.Context) (uint64, error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("nats: stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

// Follow implements server.EventLog.
func (l *Log) Follow(ctx context.Context, backlog int, fn func(server.LogEvent)) error {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("nats: stream info: %w", err)
	}
	start := info.State.LastSeq + 1
	if n := uint64(max(backlog, 0)); start > n {
		start -= n
	} else {
		start = 1
	}
	start = max(start, info.State.FirstSeq)
	cons, err := l.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
	})
	if err != nil {
		return fmt.Errorf("nats: follow: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		meta, err := m.Metadata()
		if err != nil {
			return
		}
		var ev server.LogEvent
		if json.Unmarshal(m.Data(), &ev) != nil {
			return // not an event of ours: skip it, keep the order
		}
		ev.Seq = meta.Sequence.Stream
		fn(ev)
	})
	if err != nil {
		return fmt.Errorf("nats: follow: %w", err)
	}
	go func() {
		<-ctx.Done()
		cc.Stop()
	}()
	return nil
}
