package store

import (
	"crypto/rand"
	"time"
)

// crockford is Crockford's base32 alphabet: IDs sort as text in the order they were made
// (to the millisecond) and never hold look-alike letters.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewID returns a new unique ID: prefix, "_", 10 characters of the current Unix
// milliseconds and 16 random characters (80 bits from crypto/rand), ULID style. IDs made in
// later milliseconds sort after earlier ones.
func NewID(prefix string) string {
	var b [27]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 9; i >= 0; i-- {
		b[i] = crockford[ms&31]
		ms >>= 5
	}
	var r [10]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (Go 1.24+)
	// 80 random bits as 16 base32 digits.
	var acc uint64
	bits := 0
	j := 10
	for _, x := range r {
		acc = acc<<8 | uint64(x)
		bits += 8
		for bits >= 5 {
			bits -= 5
			b[j] = crockford[(acc>>uint(bits))&31]
			j++
		}
	}
	return prefix + "_" + string(b[:j])
}
