package hub

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// InboxStampDomain separates inbox stamps from every other hash.
const InboxStampDomain = "parley/hub/inbox/v1"

func stampPrefix(challenge, address string, body []byte) []byte {
	sum := sha256.Sum256(body)
	b := binary.BigEndian.AppendUint16([]byte(InboxStampDomain), uint16(len(challenge)))
	b = append(b, challenge...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(address)))
	b = append(b, address...)
	return append(b, sum[:]...)
}

func zeroBits(h [32]byte) int {
	n := 0
	for _, c := range h {
		if c != 0 {
			return n + bits.LeadingZeros8(c)
		}
		n += 8
	}
	return n
}

// CheckInboxStamp reports whether nonce is a valid proof-of-work stamp for
// posting body to address's inbox on the hub with this challenge text:
// SHA-256(domain ‖ u16 len ‖ challenge ‖ u16 len ‖ address ‖ SHA-256(body)
// ‖ u64 nonce) has at least difficulty leading zero bits.
func CheckInboxStamp(challenge, address string, body []byte, nonce uint64, difficulty int) bool {
	return zeroBits(sha256.Sum256(binary.BigEndian.AppendUint64(stampPrefix(challenge, address, body), nonce))) >= difficulty
}

// SolveInboxStamp finds a stamp (about 2^difficulty hashes).
func SolveInboxStamp(ctx context.Context, challenge, address string, body []byte, difficulty int) (uint64, error) {
	prefix := stampPrefix(challenge, address, body)
	buf := make([]byte, len(prefix)+8)
	copy(buf, prefix)
	for n := uint64(0); ; n++ {
		if n&0xffff == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		binary.BigEndian.PutUint64(buf[len(prefix):], n)
		if zeroBits(sha256.Sum256(buf)) >= difficulty {
			return n, nil
		}
	}
}
