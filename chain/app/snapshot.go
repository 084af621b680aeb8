package app

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cosmos/iavl"

	"github.com/parley-im/parley/chain/bns"
)

// State sync snapshots (docs/protocol.md, "State sync snapshots").
//
// A node with Config.SnapshotInterval set exports the state every that
// many heights, after the commit, in the background: IAVL's Exporter walks
// the saved version's nodes (keys, values, versions and heights, whatever
// the key layout), the stream is compressed and cut into chunks, each
// named by its SHA-256 in the snapshot's metadata; the snapshot's hash
// covers the height and the metadata. A joining node checks every chunk
// against the metadata as it arrives and, once the last is in, imports the
// nodes with IAVL's Importer and checks the root against the app hash that
// CometBFT's light client verified for that height.
const (
	// SnapshotFormat is the format of the snapshots this app makes and
	// restores.
	SnapshotFormat = 1
	// DefaultSnapshotChunkBytes is the size of a snapshot chunk (the last
	// is shorter).
	DefaultSnapshotChunkBytes = 4 << 20
	// DefaultSnapshotKeep is how many snapshots a node keeps.
	DefaultSnapshotKeep = 2
	// snapshotMagic opens the uncompressed stream.
	snapshotMagic = "parley/bns/snapshot/v1\n"
	// snapshotHashDomain starts the bytes hashed into a snapshot's hash.
	snapshotHashDomain = "parley/bns/snapshot/v1"
	// Bounds on what a restore reads from peers.
	maxSnapshotChunks     = 100_000
	maxSnapshotChunkBytes = 16 << 20 // CometBFT's largest chunk message
	maxSnapshotKey        = 64 << 10
	maxSnapshotValue      = 4 << 20
	// endOfNodes marks the end of the node records (a node's height is at
	// most 127).
	endOfNodes = 0xff
)

// errSnapshot marks a snapshot stream that cannot be imported.
var errSnapshot = errors.New("app: bad snapshot")

// snapshotHash is the hash that names a snapshot: SHA-256 of the domain,
// the height (8 bytes, big-endian) and the metadata (the chunks' hashes).
func snapshotHash(height uint64, metadata []byte) []byte {
	h := sha256.New()
	h.Write([]byte(snapshotHashDomain))
	h.Write(binary.BigEndian.AppendUint64(nil, height))
	h.Write(metadata)
	return h.Sum(nil)
}

// snapshots is what the app knows of its snapshot directory.
type snapshots struct {
	list    []*abci.Snapshot // complete snapshots, oldest first
	pinned  map[int64]bool   // versions being exported: not pruned
	running bool             // an export is under way
}

// snapshotDir is where snapshot h's files are.
func (a *App) snapshotDir(h uint64) string {
	return filepath.Join(a.cfg.SnapshotDir, strconv.FormatUint(h, 10))
}

// loadSnapshots reads the snapshot directory: complete snapshots are
// listed, the leftovers of an export or restore that did not finish are
// removed.
func (a *App) loadSnapshots() error {
	if a.cfg.SnapshotDir == "" {
		return nil
	}
	if err := os.MkdirAll(a.cfg.SnapshotDir, 0o700); err != nil {
		return fmt.Errorf("app: snapshots: %w", err)
	}
	entries, err := os.ReadDir(a.cfg.SnapshotDir)
	if err != nil {
		return fmt.Errorf("app: snapshots: %w", err)
	}
	for _, e := range entries {
		h, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.IsDir() {
			os.RemoveAll(filepath.Join(a.cfg.SnapshotDir, e.Name()))
			continue
		}
		meta, err := os.ReadFile(filepath.Join(a.snapshotDir(h), "metadata"))
		if err != nil || len(meta) == 0 || len(meta)%sha256.Size != 0 {
			os.RemoveAll(a.snapshotDir(h))
			continue
		}
		a.snaps.list = append(a.snaps.list, &abci.Snapshot{Height: h, Format: SnapshotFormat,
			Chunks: uint32(len(meta) / sha256.Size), Hash: snapshotHash(h, meta), Metadata: meta})
	}
	slices.SortFunc(a.snaps.list, func(x, y *abci.Snapshot) int { return int(int64(x.Height) - int64(y.Height)) })
	return nil
}

// oldestSnapshot is the height of the oldest snapshot kept (0 if none):
// CometBFT keeps the blocks from there on, which a node restoring it needs.
func (a *App) oldestSnapshot() int64 {
	a.snapMu.Lock()
	defer a.snapMu.Unlock()
	if len(a.snaps.list) == 0 {
		return 0
	}
	return int64(a.snaps.list[0].Height)
}

// prunable bounds to what version the state may be pruned: below every
// version being exported.
func (a *App) prunable(to int64) int64 {
	a.snapMu.Lock()
	defer a.snapMu.Unlock()
	for v := range a.snaps.pinned {
		to = min(to, v-1)
	}
	return to
}

// maybeSnapshot starts an export of version if snapshots are due at it
// and none is under way. The caller holds mu (in Commit).
func (a *App) maybeSnapshot(version int64) {
	if a.cfg.SnapshotInterval <= 0 || a.cfg.SnapshotDir == "" || version%a.cfg.SnapshotInterval != 0 {
		return
	}
	a.snapMu.Lock()
	defer a.snapMu.Unlock()
	if a.snaps.running {
		a.log.Warn("snapshot skipped: the previous one is still being made", "height", version)
		return
	}
	a.snaps.running = true
	a.snaps.pinned[version] = true
	a.snapWG.Add(1)
	go func() {
		defer a.snapWG.Done()
		start := time.Now()
		s, size, err := a.makeSnapshot(a.snapCtx, version)
		a.snapMu.Lock()
		defer a.snapMu.Unlock()
		a.snaps.running = false
		delete(a.snaps.pinned, version)
		if err != nil {
			a.log.Error("snapshot failed", "height", version, "err", err)
			return
		}
		a.snaps.list = append(a.snaps.list, s)
		for len(a.snaps.list) > a.cfg.SnapshotKeep {
			os.RemoveAll(a.snapshotDir(a.snaps.list[0].Height))
			a.snaps.list = a.snaps.list[1:]
		}
		a.log.Info("snapshot made", "height", version, "chunks", s.Chunks, "bytes", size, "took", time.Since(start).Round(time.Millisecond))
	}()
}

// makeSnapshot exports version into the snapshot directory and returns it
// with its size in bytes.
func (a *App) makeSnapshot(ctx context.Context, version int64) (*abci.Snapshot, int64, error) {
	h := uint64(version)
	tmp := filepath.Join(a.cfg.SnapshotDir, fmt.Sprintf("tmp-%d", h))
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(tmp)
	imm, err := a.reader.GetImmutable(version)
	if err != nil {
		return nil, 0, fmt.Errorf("open version %d: %w", version, err)
	}
	cw := &chunkWriter{dir: tmp, size: a.cfg.SnapshotChunkBytes}
	zw, _ := zlib.NewWriterLevel(cw, zlib.BestSpeed)
	bw := bufio.NewWriterSize(zw, 64<<10)
	if err := exportNodes(ctx, imm, bw); err != nil {
		return nil, 0, err
	}
	if err := bw.Flush(); err != nil {
		return nil, 0, err
	}
	if err := zw.Close(); err != nil {
		return nil, 0, err
	}
	if err := cw.Close(); err != nil {
		return nil, 0, err
	}
	meta := bytes.Join(cw.hashes, nil)
	if err := os.WriteFile(filepath.Join(tmp, "metadata"), meta, 0o600); err != nil {
		return nil, 0, err
	}
	if err := os.Rename(tmp, a.snapshotDir(h)); err != nil {
		return nil, 0, err
	}
	return &abci.Snapshot{Height: h, Format: SnapshotFormat, Chunks: uint32(len(cw.hashes)),
		Hash: snapshotHash(h, meta), Metadata: meta}, cw.total, nil
}

// exportNodes writes the snapshot stream of tree (uncompressed): the magic
// line, the version (uvarint), every node in the Exporter's order, and the
// end marker. A node is its height (one byte), version (uvarint), key
// (uvarint length, bytes) and, for a leaf (height 0), its value (uvarint
// length, bytes).
func exportNodes(ctx context.Context, tree *iavl.ImmutableTree, w io.Writer) error {
	exp, err := tree.Export()
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer exp.Close()
	buf := append([]byte(snapshotMagic), binary.AppendUvarint(nil, uint64(tree.Version()))...)
	for n := 0; ; n++ {
		node, err := exp.Next()
		if errors.Is(err, iavl.ErrorExportDone) {
			break
		}
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		buf = append(buf, byte(node.Height))
		buf = binary.AppendUvarint(buf, uint64(node.Version))
		buf = binary.AppendUvarint(buf, uint64(len(node.Key)))
		buf = append(buf, node.Key...)
		if node.Height == 0 {
			buf = binary.AppendUvarint(buf, uint64(len(node.Value)))
			buf = append(buf, node.Value...)
		}
		if len(buf) >= 32<<10 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	buf = append(buf, endOfNodes)
	_, err = w.Write(buf)
	return err
}

// chunkWriter cuts a stream into files 0, 1, ... of size bytes and keeps
// the SHA-256 of each.
type chunkWriter struct {
	dir    string
	size   int
	cur    []byte
	hashes [][]byte
	total  int64
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), c.size-len(c.cur))
		c.cur = append(c.cur, p[:k]...)
		p = p[k:]
		if len(c.cur) == c.size {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() error {
	sum := sha256.Sum256(c.cur)
	if err := os.WriteFile(filepath.Join(c.dir, strconv.Itoa(len(c.hashes))), c.cur, 0o600); err != nil {
		return err
	}
	c.hashes = append(c.hashes, sum[:])
	c.total += int64(len(c.cur))
	c.cur = c.cur[:0]
	return nil
}

// Close writes the last, partial chunk.
func (c *chunkWriter) Close() error {
	if len(c.cur) > 0 || len(c.hashes) == 0 {
		return c.flush()
	}
	return nil
}

// ListSnapshots lists the snapshots this node serves.
func (a *App) ListSnapshots(context.Context, *abci.RequestListSnapshots) (*abci.ResponseListSnapshots, error) {
	a.snapMu.Lock()
	defer a.snapMu.Unlock()
	return &abci.ResponseListSnapshots{Snapshots: slices.Clone(a.snaps.list)}, nil
}

// LoadSnapshotChunk returns a chunk of a snapshot this node serves, or
// none if it has no such snapshot (any more).
func (a *App) LoadSnapshotChunk(_ context.Context, req *abci.RequestLoadSnapshotChunk) (*abci.ResponseLoadSnapshotChunk, error) {
	a.snapMu.Lock()
	i := slices.IndexFunc(a.snaps.list, func(s *abci.Snapshot) bool { return s.Height == req.Height && s.Format == req.Format })
	ok := i >= 0 && req.Chunk < a.snaps.list[i].Chunks
	a.snapMu.Unlock()
	if !ok {
		return &abci.ResponseLoadSnapshotChunk{}, nil
	}
	b, err := readBounded(filepath.Join(a.snapshotDir(req.Height), strconv.FormatUint(uint64(req.Chunk), 10)), maxSnapshotChunkBytes)
	if err != nil {
		a.log.Warn("snapshot chunk", "height", req.Height, "chunk", req.Chunk, "err", err)
		return &abci.ResponseLoadSnapshotChunk{}, nil
	}
	return &abci.ResponseLoadSnapshotChunk{Chunk: b}, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

// restore is a snapshot being restored.
type restore struct {
	snapshot *abci.Snapshot
	appHash  []byte // verified by CometBFT's light client
	dir      string
	applied  uint32 // chunks 0..applied-1 are in dir
}

// OfferSnapshot accepts a snapshot to restore into an empty state, if its
// format is this app's and its metadata matches its hash.
func (a *App) OfferSnapshot(_ context.Context, req *abci.RequestOfferSnapshot) (*abci.ResponseOfferSnapshot, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := req.Snapshot
	switch {
	case a.tree.Version() != 0:
		a.log.Error("snapshot offered to a node that has state", "version", a.tree.Version())
		return &abci.ResponseOfferSnapshot{Result: abci.ResponseOfferSnapshot_ABORT}, nil
	case s == nil:
		return &abci.ResponseOfferSnapshot{Result: abci.ResponseOfferSnapshot_REJECT}, nil
	case s.Format != SnapshotFormat:
		return &abci.ResponseOfferSnapshot{Result: abci.ResponseOfferSnapshot_REJECT_FORMAT}, nil
	case s.Height == 0 || s.Height > 1<<62 || s.Chunks == 0 || s.Chunks > maxSnapshotChunks ||
		len(s.Metadata) != int(s.Chunks)*sha256.Size || !bytes.Equal(s.Hash, snapshotHash(s.Height, s.Metadata)) ||
		len(req.AppHash) != sha256.Size:
		a.log.Warn("snapshot refused: inconsistent", "height", s.Height, "chunks", s.Chunks)
		return &abci.ResponseOfferSnapshot{Result: abci.ResponseOfferSnapshot_REJECT}, nil
	}
	// Nothing is saved; anything staged (InitChain's params, had it been
	// called) gives way to the snapshot's.
	a.tree.Rollback()
	a.endRestore()
	var dir string
	if a.cfg.SnapshotDir != "" {
		dir = filepath.Join(a.cfg.SnapshotDir, "restore")
		os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("app: restore: %w", err)
		}
	} else {
		var err error
		if dir, err = os.MkdirTemp("", "bns-restore-"); err != nil {
			return nil, fmt.Errorf("app: restore: %w", err)
		}
	}
	a.restoring = &restore{snapshot: s, appHash: bytes.Clone(req.AppHash), dir: dir}
	a.log.Info("restoring snapshot", "height", s.Height, "chunks", s.Chunks)
	return &abci.ResponseOfferSnapshot{Result: abci.ResponseOfferSnapshot_ACCEPT}, nil
}

// endRestore drops a restore's files. The caller holds mu.
func (a *App) endRestore() {
	if a.restoring != nil {
		os.RemoveAll(a.restoring.dir)
		a.restoring = nil
	}
}

// ApplySnapshotChunk takes the chunks of the accepted snapshot in order,
// each checked against its hash in the metadata (a chunk that does not
// match is fetched again, from another peer); with the last, it imports
// the state and checks its root against the verified app hash.
func (a *App) ApplySnapshotChunk(_ context.Context, req *abci.RequestApplySnapshotChunk) (*abci.ResponseApplySnapshotChunk, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.restoring
	if r == nil {
		return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_ABORT}, nil
	}
	if req.Index > r.applied || req.Index >= r.snapshot.Chunks {
		// CometBFT applies chunks in order; anything else is a fault of its.
		return nil, fmt.Errorf("app: snapshot chunk %d applied after %d of %d", req.Index, r.applied, r.snapshot.Chunks)
	}
	sum := sha256.Sum256(req.Chunk)
	if !bytes.Equal(sum[:], r.snapshot.Metadata[req.Index*sha256.Size:(req.Index+1)*sha256.Size]) {
		a.log.Warn("snapshot chunk does not match its hash: fetching it again", "index", req.Index, "sender", req.Sender)
		return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_RETRY,
			RefetchChunks: []uint32{req.Index}, RejectSenders: []string{req.Sender}}, nil
	}
	if err := os.WriteFile(filepath.Join(r.dir, strconv.FormatUint(uint64(req.Index), 10)), req.Chunk, 0o600); err != nil {
		return nil, fmt.Errorf("app: restore: %w", err)
	}
	r.applied = max(r.applied, req.Index+1)
	if r.applied < r.snapshot.Chunks {
		return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_ACCEPT}, nil
	}
	start := time.Now()
	err := a.importSnapshot(r)
	a.endRestore()
	if err != nil {
		a.log.Error("snapshot refused", "height", r.snapshot.Height, "err", err)
		if rerr := a.resetState(); rerr != nil {
			return nil, rerr
		}
		return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_REJECT_SNAPSHOT}, nil
	}
	a.log.Info("snapshot restored", "height", r.snapshot.Height, "took", time.Since(start).Round(time.Millisecond))
	return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_ACCEPT}, nil
}

// importSnapshot reads the restore's chunks as one stream into the empty
// tree, checks the root against the verified app hash, and makes the state
// the one every connection reads. The caller holds mu.
func (a *App) importSnapshot(r *restore) error {
	files := make([]io.Reader, r.snapshot.Chunks)
	for i := range files {
		f, err := os.Open(filepath.Join(r.dir, strconv.Itoa(i)))
		if err != nil {
			return err
		}
		defer f.Close()
		files[i] = f
	}
	zr, err := zlib.NewReader(io.MultiReader(files...))
	if err != nil {
		return fmt.Errorf("%w: %v", errSnapshot, err)
	}
	version := int64(r.snapshot.Height)
	imp, err := a.tree.Import(version)
	if err != nil {
		return fmt.Errorf("app: import: %w", err)
	}
	defer imp.Close()
	if err := importNodes(bufio.NewReaderSize(zr, 64<<10), version, imp); err != nil {
		return err
	}
	if err := imp.Commit(); err != nil {
		return fmt.Errorf("%w: %v", errSnapshot, err)
	}
	if err := a.reindex(); err != nil {
		return err
	}
	if got := a.tree.Hash(); !bytes.Equal(got, r.appHash) {
		return fmt.Errorf("%w: its root is %X, the verified app hash at height %d is %X", errSnapshot, got, version, r.appHash)
	}
	b, err := a.tree.Get(bns.ParamsKey)
	if err != nil || b == nil {
		return fmt.Errorf("%w: no params (%v)", errSnapshot, err)
	}
	p, err := bns.UnmarshalParams(b)
	if err != nil {
		return fmt.Errorf("%w: params: %v", errSnapshot, err)
	}
	a.checkMu.Lock()
	a.params, a.hasGen = p, true
	a.checkMu.Unlock()
	a.views.Lock()
	defer a.views.Unlock()
	if err := a.publish(); err != nil {
		return err
	}
	a.metrics.committed(a.committed.Load(), nil, p.GracePeriod)
	return nil
}

// iavlStorageVersionKey is where IAVL (v1.2.4, nodedb.go: metadataKeyFormat
// 'm', storageVersionKey) records that its fast index is built, and for
// which version.
var iavlStorageVersionKey = []byte("mstorage_version")

// reindex builds IAVL's fast index (the key-value index that Get, and so
// execution and CheckTx, read) of an imported state afresh. iavl v1.2.4's
// Importer.Commit builds it before the last of its asynchronous batches of
// nodes is surely written (a state of more than 10,000 nodes), with an
// iterator that stops silently at a node it cannot read: the index could
// be left partial yet marked built, and the node would miss names the
// chain has. Once Commit has returned every node is written: reindex
// drops the mark and opens the tree again, which deletes the index and
// builds it from the whole tree. The caller holds mu.
func (a *App) reindex() error {
	if v, err := a.db.Get(iavlStorageVersionKey); err != nil || v == nil {
		return fmt.Errorf("app: restore: IAVL's storage version is not under %q (%v): has the IAVL version changed?", iavlStorageVersionKey, err)
	}
	batch := a.db.NewBatch()
	defer batch.Close()
	if err := batch.Delete(iavlStorageVersionKey); err != nil {
		return fmt.Errorf("app: restore: %w", err)
	}
	if err := batch.WriteSync(); err != nil {
		return fmt.Errorf("app: restore: %w", err)
	}
	a.tree = iavl.NewMutableTree(a.db, nodeCacheSize, false, iavl.NewNopLogger())
	if _, err := a.tree.Load(); err != nil {
		return fmt.Errorf("app: restore: reopen the state: %w", err)
	}
	return nil
}

// importNodes reads a snapshot stream (see exportNodes) of version into
// imp. It panics on nothing a peer sends: every length is bounded, and a
// node the importer cannot place is an error.
func importNodes(r *bufio.Reader, version int64, imp *iavl.Importer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errSnapshot, p)
		}
	}()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", errSnapshot, fmt.Sprintf(format, args...))
	}
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != snapshotMagic {
		return bad("not a format %d snapshot", SnapshotFormat)
	}
	v, err := binary.ReadUvarint(r)
	if err != nil || int64(v) != version {
		return bad("stream of version %d, snapshot of height %d", v, version)
	}
	readBytes := func(limit uint64, what string) ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, bad("%s length: %v", what, err)
		}
		if n > limit {
			return nil, bad("%s of %d bytes, more than %d", what, n, limit)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, bad("%s: %v", what, err)
		}
		return b, nil
	}
	for {
		height, err := r.ReadByte()
		if err != nil {
			return bad("truncated: %v", err)
		}
		if height == endOfNodes {
			break
		}
		if height > 127 {
			return bad("node height %d", height)
		}
		nv, err := binary.ReadUvarint(r)
		if err != nil || nv < 1 || int64(nv) > version {
			return bad("node version %d (err %v) outside 1..%d", nv, err, version)
		}
		n := &iavl.ExportNode{Height: int8(height), Version: int64(nv)}
		if n.Key, err = readBytes(maxSnapshotKey, "key"); err != nil {
			return err
		}
		if height == 0 {
			if n.Value, err = readBytes(maxSnapshotValue, "value"); err != nil {
				return err
			}
		}
		if err := imp.Add(n); err != nil {
			return bad("%v", err)
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return bad("bytes after the end of the nodes")
	}
	return nil
}

// resetState empties the state database after a restore that failed (the
// importer may have written nodes already) and opens it afresh. The caller
// holds mu.
func (a *App) resetState() error {
	it, err := a.db.Iterator(nil, nil)
	if err != nil {
		return fmt.Errorf("app: reset state: %w", err)
	}
	var keys [][]byte
	for ; it.Valid(); it.Next() {
		keys = append(keys, bytes.Clone(it.Key()))
	}
	it.Close()
	batch := a.db.NewBatch()
	defer batch.Close()
	for _, k := range keys {
		if err := batch.Delete(k); err != nil {
			return fmt.Errorf("app: reset state: %w", err)
		}
	}
	if err := batch.WriteSync(); err != nil {
		return fmt.Errorf("app: reset state: %w", err)
	}
	a.tree = iavl.NewMutableTree(a.db, nodeCacheSize, false, iavl.NewNopLogger())
	a.reader = iavl.NewMutableTree(a.db, nodeCacheSize, true, iavl.NewNopLogger())
	if _, err := a.tree.Load(); err != nil {
		return fmt.Errorf("app: reset state: %w", err)
	}
	return nil
}
