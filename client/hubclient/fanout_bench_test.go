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

	"github.com/parley-im/parley/client/hubclient"
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

// BenchmarkDeviceFanoutSealed is the per-device design with its real
// cost on the sender's side: for each of the recipient's devices, one
// session of its own (a Double Ratchet sending on one chain, as a sender
// that writes on does), a short text sealed in it (wire.SealMessage:
// ratchet step, header, padding to its 1 KiB bucket) and written to the
// real hub, then each session's 57-byte index, one device after another.
// Reported: the hub bytes and writes of one send, besides ns/op.
func BenchmarkDeviceFanoutSealed(b *testing.B) {
	url := hubtest.Start(b, nil).URL
	c, err := hubclient.Dial(context.Background(), url, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)), nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, devices := range []int{1, 3} {
		b.Run(fmt.Sprintf("devices-%d", devices), func(b *testing.B) {
			ctx := context.Background()
			type session struct {
				r    *ratchet.State
				keys wire.Keys
				sent uint64
			}
			var ss []*session
			for d := 0; d < devices; d++ {
				var k [32]byte // each run of the sub-benchmark writes new paths
				rand.Read(k[:])
				bobKey, _ := ecdh.X25519().GenerateKey(rand.Reader)
				ss = append(ss, &session{r: ratchet.InitAlice(k, bobKey.PublicKey(), nil), keys: wire.ConversationKeys(k, "alice", fmt.Sprintf("bob-%d-%d", devices, d))})
			}
			text := make([]byte, 60)
			send := func() (hubBytes int) {
				for _, s := range ss {
					path := wire.MessagePath(s.keys.SendKey, s.sent)
					s.sent++
					blob, err := wire.SealMessage(s.r, s.keys.Header, text, []byte(path), nil)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := c.Put(ctx, path, blob, "", hubclient.Cond{IfNoneMatch: true}); err != nil {
						b.Fatal(err)
					}
					hubBytes += len(blob)
				}
				for i, s := range ss {
					idx := make([]byte, 57)
					if _, err := c.Put(ctx, fmt.Sprintf("i/%d-%d-%x", devices, i, s.keys.SendKey[:4]), idx, "", hubclient.Cond{}); err != nil {
						b.Fatal(err)
					}
					hubBytes += len(idx)
				}
				return hubBytes
			}
			send() // the first message of each session begins its chain
			b.ResetTimer()
			var hubBytes int
			for i := 0; i < b.N; i++ {
				hubBytes = send()
			}
			b.ReportMetric(float64(hubBytes), "hub-bytes/op")
			b.ReportMetric(float64(2*devices), "puts/op")
		})
	}
}
