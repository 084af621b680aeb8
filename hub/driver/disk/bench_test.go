package disk

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/hub"
)

// BenchmarkGrowth stores 100,000 message-sized blobs (1 KiB, as the
// smallest message bucket) in one bucket with 8 writers and reports the
// bytes a message takes on disk, as file sizes and as blocks allocated, at
// 10k and 100k messages, and the fsynced writes per second. Run with
// -benchtime 1x.
func BenchmarkGrowth(b *testing.B) {
	for range b.N {
		dir := b.TempDir()
		d, err := New(dir)
		if err != nil {
			b.Fatal(err)
		}
		blob := bytes.Repeat([]byte{0xa5}, 1024)
		ctx := context.Background()
		written := 0
		var elapsed time.Duration
		for _, target := range []int{10000, 100000} {
			start := time.Now()
			var wg sync.WaitGroup
			work := make(chan int)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range work {
						if _, err := d.Put(ctx, "1BenchAddress", fmt.Sprintf("m/%032x", i), bytes.NewReader(blob), hub.PutOptions{ContentType: "application/octet-stream"}); err != nil {
							b.Error(err)
						}
					}
				}()
			}
			for ; written < target; written++ {
				work <- written
			}
			close(work)
			wg.Wait()
			elapsed += time.Since(start)
			var size, blocks int64
			filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() {
					size += fi.Size()
					blocks += fi.Sys().(*syscall.Stat_t).Blocks * 512
				}
				return nil
			})
			k := fmt.Sprint(target/1000, "k")
			b.ReportMetric(float64(size)/float64(target), "file-B/msg@"+k)
			b.ReportMetric(float64(blocks)/float64(target), "alloc-B/msg@"+k)
		}
		b.ReportMetric(float64(written)/elapsed.Seconds(), "writes/s")
	}
}
