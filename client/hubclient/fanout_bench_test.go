package hubclient_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/chain/bns"
	"github.com/parley-im/parley/client/hubclient"
	"github.com/parley-im/parley/client/outbox"
	"github.com/parley-im/parley/client/ratchet"
	"github.com/parley-im/parley/client/wire"
	"github.com/parley-im/parley/hub/server/hubtest"
)

// BenchmarkDeviceFanout measures what one message costs the sender's hub
// under the two designs of multi-device sending weighed in docs/devices.md,
// for a recipient with one device and with three: the writes of one send
// (the message blobs and the index each stream rewrites after a batch) to
// the real hub (memory driver) through the real client, on loopback.
//
//   - per-device: one stream per recipient device, so n blobs and n
//     indexes, written at once (as the client writes its streams);
//   - wraps: one blob holding a body and one wrapped key per device, so
//     one blob (whose bucket grows with n) and one index.
//
// Sizes are the protocol's buckets (docs/protocol.md, Message blob) for
// a short text: 1 KiB when no stream begins a ratchet chain; "chain" is
// the case where every stream's message begins one (it carries an
// encapsulation key and a ciphertext: 4 KiB per-device, and for wraps
// the bucket that holds n wraps of 2443 bytes). The index of a stream is
// 57 bytes. Reported: hub-bytes/op and puts/op besides ns/op.
func BenchmarkDeviceFanout(b *testing.B) {
	url := hubtest.Start(b, nil).URL
	c, err := hubclient.Dial(context.Background(), url, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)), nil)
	if err != nil {
		b.Fatal(err)
	}
	const index = 57
	run := 0 // each run of a sub-benchmark writes new paths
	for _, bc := range []struct {
		name  string
		blobs []int // the blob sizes of one send
		idx   int   // indexes written
	}{
		{"one-device", []int{1024}, 1},
		{"per-device-3", []int{1024, 1024, 1024}, 3},
		{"wraps-3", []int{1024}, 1},
		{"one-device-chain", []int{4096}, 1},
		{"per-device-3-chain", []int{4096, 4096, 4096}, 3},
		{"wraps-3-chain", []int{16384}, 1},
	} {
		for _, parallel := range []bool{false, true} {
			mode := "sequential"
			if parallel {
				mode = "parallel"
			}
			b.Run(bc.name+"/"+mode, func(b *testing.B) {
				ctx := context.Background()
				run++
				var bytesPerOp int
				for _, s := range bc.blobs {
					bytesPerOp += s
				}
				bytesPerOp += bc.idx * index
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var wg sync.WaitGroup
					errs := make(chan error, len(bc.blobs)+bc.idx)
					do := func(f func()) {
						if !parallel {
							f()
							return
						}
						wg.Add(1)
						go func() { defer wg.Done(); f() }()
					}
					for j, s := range bc.blobs {
						do(func() {
							_, err := c.Put(ctx, fmt.Sprintf("m/%s-%s-%d-%d-%d", bc.name, mode, run, i, j), make([]byte, s), "", hubclient.Cond{IfNoneMatch: true})
							errs <- err
						})
					}
					wg.Wait()
					for j := 0; j < bc.idx; j++ {
						do(func() {
							_, err := c.Put(ctx, fmt.Sprintf("i/%s-%d", bc.name, j), make([]byte, index), "", hubclient.Cond{})
							errs <- err
						})
					}
					wg.Wait()
					close(errs)
					for err := range errs {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(bytesPerOp), "hub-bytes/op")
				b.ReportMetric(float64(len(bc.blobs)+bc.idx), "puts/op")
			})
		}
	}
}

// BenchmarkDeviceFanoutSealed is sending one short text to a contact
// with one device and with three, side by side, on the send path the
// protocol's device-pair sessions take (docs/protocol.md, Device-pair
// sessions): per device of the contact, a session started by a real
// device introduction (sealed, signed and written once, before the timed
// sends), its keys from wire.DeviceSessionKeys; per send, the event
// marshalled with its sequence number (wire.MarshalEvent), sealed in each
// session (wire.SealMessage: ratchet step, header, padding to the 1 KiB
// bucket), queued in the session's outbox.Stream and flushed by
// Stream.Flush, which writes the blob and the session's sealed index to
// the real hub (memory driver, loopback) through the real hub client, as
// the client's Flush does. Reported besides ns/op: the bytes the hub
// stored for one send and the writes.
func BenchmarkDeviceFanoutSealed(b *testing.B) {
	url := hubtest.Start(b, nil).URL
	_, sign, _ := ed25519.GenerateKey(rand.Reader)
	c, err := hubclient.Dial(context.Background(), url, sign, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := &countingHub{c: c}
	me := wire.Participant{Name: "alice", Device: bns.PublicKeyOf(sign)}
	for _, devices := range []int{1, 3} {
		b.Run(fmt.Sprintf("devices-%d", devices), func(b *testing.B) {
			ctx := context.Background()
			ss := startSessions(b, h, sign, me, devices)
			seq := uint64(0)
			send := func() {
				e := &wire.Event{Kind: wire.KindText, Text: "see you at the station at six", Time: 1700000000000 + int64(seq), N: seq + 1, S: seq}
				plain, err := wire.MarshalEvent(e)
				if err != nil {
					b.Fatal(err)
				}
				seq++
				for _, s := range ss {
					i := s.out.Next()
					path := wire.MessagePath(s.keys.SendKey, i)
					blob, err := wire.SealMessage(s.r, s.keys.Header, plain, []byte(path), nil)
					if err != nil {
						b.Fatal(err)
					}
					s.out.Add(i, path, blob, time.Time{})
				}
				for _, s := range ss {
					_, failed, err := s.out.Flush(ctx, outbox.FlushOptions{URLs: []string{url}, Own: []string{url},
						Dial: func(string) (outbox.Hub, error) { return h, nil }, IndexPath: wire.IndexPath(s.keys.SendKey), IndexKey: s.keys.Header, Now: time.Now()})
					if err != nil || len(failed) > 0 {
						b.Fatal(err, failed)
					}
				}
			}
			send() // the first message of each session begins its chain
			h.reset()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				send()
			}
			b.StopTimer()
			b.ReportMetric(float64(h.bytes)/float64(b.N), "hub-bytes/op")
			b.ReportMetric(float64(h.puts)/float64(b.N), "puts/op")
		})
	}
}

// fanoutSession is the sending side of one device-pair session.
type fanoutSession struct {
	r    *ratchet.State
	keys wire.Keys
	out  outbox.Stream
}

// startSessions starts a device-pair session from me with each of n new
// devices of bob: a device introduction sealed to the device, signed by
// me and written to the hub, the ratchet as its Alice.
func startSessions(tb testing.TB, h *countingHub, sign ed25519.PrivateKey, me wire.Participant, n int) []*fanoutSession {
	mine, _ := ecdh.X25519().GenerateKey(rand.Reader)
	var ss []*fanoutSession
	for d := 0; d < n; d++ {
		_, devSign, _ := ed25519.GenerateKey(rand.Reader)
		devX, _ := ecdh.X25519().GenerateKey(rand.Reader)
		them := wire.Participant{Name: "bob", Device: bns.PublicKeyOf(devSign)}
		pair, err := wire.PairSecret(mine, devX.PublicKey().Bytes())
		if err != nil {
			tb.Fatal(err)
		}
		var k [32]byte
		rand.Read(k[:])
		path := wire.DeviceIntroPath(pair, me, them)
		env, err := wire.SealDeviceIntro(sign, &wire.DeviceIntro{From: me, To: them, MutualKey: k, Time: time.Now()},
			bns.EncKey{KEM: bns.KEMX25519, Key: devX.PublicKey().Bytes()}, path)
		if err != nil {
			tb.Fatal(err)
		}
		if err := h.Put(context.Background(), path, env, true, time.Time{}); err != nil {
			tb.Fatal(err)
		}
		ss = append(ss, &fanoutSession{r: ratchet.InitAlice(k, devX.PublicKey(), nil), keys: wire.DeviceSessionKeys(k, me, them)})
	}
	return ss
}

// countingHub is the sender's hub as the outbox writes to it, counting
// the writes and the bytes stored.
type countingHub struct {
	c     *hubclient.Client
	puts  int
	bytes int
}

func (h *countingHub) reset() { h.puts, h.bytes = 0, 0 }

func (h *countingHub) Put(ctx context.Context, path string, blob []byte, ifNoneMatch bool, expires time.Time) error {
	h.puts++
	h.bytes += len(blob)
	_, err := h.c.Put(ctx, path, blob, "application/octet-stream", hubclient.Cond{IfNoneMatch: ifNoneMatch, Expires: expires})
	return err
}

func (h *countingHub) ETag(ctx context.Context, path string) (string, error) {
	_, etag, err := h.c.Get(ctx, h.c.Address(), path)
	return etag, err
}
