package bns

import "encoding/binary"

// State keys. The whole state is one IAVL tree; each kind of entry has a
// one-letter prefix. Names never contain '/', so no two prefixes overlap.
var (
	// ParamsKey holds the genesis parameters. It is written at InitChain, so
	// the tree is never empty and absence proofs always work.
	ParamsKey = []byte("g")
)

// RecordKey is where a name's Record lives.
func RecordKey(name string) []byte { return append([]byte("r/"), name...) }

// HistoryPrefix is the prefix of every history entry of a name.
func HistoryPrefix(name string) []byte { return append([]byte("h/"+name), '/') }

// HistoryKey is where entry seq of a name's history lives.
func HistoryKey(name string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(HistoryPrefix(name), seq)
}

// NonceKey is where an account's [Account] entry (its next nonce) lives.
func NonceKey(account PublicKey) []byte { return append([]byte("n/"), account[:]...) }

// PruneValue is the value of every PruneKey: one byte, as ICS23 proofs of
// neighbouring keys need non-empty values.
var PruneValue = []byte{1}

// PrunePrefix is the prefix of the account pruning schedule.
var PrunePrefix = []byte("x/")

// PruneKey schedules the check, at height, of whether account's entry may
// be pruned (see [Account]). By height first, so the due checks are a
// contiguous range. Its value is [PruneValue].
func PruneKey(height int64, account PublicKey) []byte {
	k := binary.BigEndian.AppendUint64(append([]byte(nil), PrunePrefix...), uint64(height))
	return append(k, account[:]...)
}

// OwnerKey is where an owner's sorted list of names lives.
func OwnerKey(owner PublicKey) []byte { return append([]byte("o/"), owner[:]...) }

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
	// QueryHistory: data = name; value = MarshalHistory of every entry.
	// It is verified through the record's HistoryHash (see VerifyHistory),
	// not a proof of its own.
	QueryHistory = "/history"
	// QueryOwner: data = 32-byte owner key; value = MarshalNames; key = OwnerKey.
	QueryOwner = "/owner"
	// QueryNonce: data = 32-byte account key; value = Account.Marshal;
	// key = NonceKey. An account never seen, or pruned, is proved absent:
	// its next nonce is 0.
	QueryNonce = "/nonce"
	// QueryParams: no data; value = Params.Marshal; key = ParamsKey.
	QueryParams = "/params"
)
