package bns

import "encoding/binary"

// State keys. The whole state is one IAVL tree; each kind of entry has a
// one-letter prefix. Names never contain '/' or a zero byte, so no two
// kinds of key overlap.
//
// The layout keeps what one transaction writes close together in the
// tree, because a write rewrites the path from the root to its leaf, and
// writes to neighbouring keys share most of it: a name's record and its
// history are adjacent ([RecordKey], [HistoryKey]), and an account's
// nonce, preorder count and names are one entry ([AccountKey]). A
// registration so writes two leaves at unrelated places (the record and
// the account) instead of four; the preorder it spends and the account's
// pruning check are keyed by height, next to those of the other
// transactions of the same blocks.
var (
	// ParamsKey holds the genesis parameters. It is written at InitChain, so
	// the tree is never empty and absence proofs always work.
	ParamsKey = []byte("g")
)

// RecordKey is where a name's Record lives.
func RecordKey(name string) []byte { return append([]byte("r/"), name...) }

// HistoryPrefix is the prefix of every stored history entry of a name: its
// record key and a zero byte, which sorts below every name character, so
// a name's record and its history are adjacent.
func HistoryPrefix(name string) []byte { return append(RecordKey(name), 0) }

// HistoryKey is where entry seq of a name's history lives. The newest
// entry is not stored: the record holds it (see [Record.Latest]).
func HistoryKey(name string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(HistoryPrefix(name), seq)
}

// AccountKey is where an account's [Account] entry lives: its next nonce,
// its live preorders, its pruning check and the names it owns.
func AccountKey(account PublicKey) []byte { return append([]byte("a/"), account[:]...) }

// PruneValue is the value of every PruneKey: one byte, as ICS23 proofs of
// neighbouring keys need non-empty values.
var PruneValue = []byte{1}

// PrunePrefix is the prefix of the account pruning schedule.
var PrunePrefix = []byte("x/")

// PruneInterval spaces the pruning checks: from the devices height on
// (application protocol 3), a check falls on a height that is a multiple
// of PruneInterval, the first at or after the height it is due. An
// account's check so moves only when its transactions' expiries cross such
// a height, not with each transaction, sparing most transactions a delete
// and a write in the tree; an account is pruned at most PruneInterval - 1
// blocks later than it could be.
const PruneInterval = 256

// PruneKey schedules the check, at height, of whether account's entry may
// be pruned (see [Account]). By height first, so the due checks are a
// contiguous range. Its value is [PruneValue].
func PruneKey(height int64, account PublicKey) []byte {
	k := binary.BigEndian.AppendUint64(append([]byte(nil), PrunePrefix...), uint64(height))
	return append(k, account[:]...)
}

// PreorderPrefix is the prefix of every pending preorder.
var PreorderPrefix = []byte("p/")

// PreorderKey is where a pending preorder lives: by height first, so the
// expired ones are a contiguous range that is dropped in order.
func PreorderKey(height int64, commitment [32]byte) []byte {
	k := binary.BigEndian.AppendUint64(append([]byte(nil), PreorderPrefix...), uint64(height))
	return append(k, commitment[:]...)
}

// Query paths served by the application (ABCI Query). Data is the query
// argument; with prove=true the answer carries an ICS23 proof of the state
// key named below, against the app hash in the header of the next block.
const (
	// QueryName: data = name; value = Record; key = RecordKey(name).
	// A free name gets an empty value and an absence proof.
	QueryName = "/name"
	// QueryHistory: data = name; value = MarshalHistory of every entry
	// (the stored ones, then the record's own, Record.Latest). It is
	// verified through the record's HistoryHash (see VerifyHistory), not a
	// proof of its own.
	QueryHistory = "/history"
	// QueryOwner: data = 32-byte owner key; value = Account.Marshal (whose
	// Names are the names it owns); key = AccountKey. The same answer as
	// QueryNonce.
	QueryOwner = "/owner"
	// QueryNonce: data = 32-byte account key; value = Account.Marshal;
	// key = AccountKey. An account never seen, or pruned, is proved absent:
	// its next nonce is 0 and it owns no name.
	QueryNonce = "/nonce"
	// QueryParams: no data; value = Params.Marshal; key = ParamsKey.
	QueryParams = "/params"
	// QueryLink: data = a LinkCode's 10 bytes; value = PendingOffer.Marshal;
	// key = OfferKey(code). An unknown or expired code is proved absent.
	QueryLink = "/link"
)
