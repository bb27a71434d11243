package sandbox

import (
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"

	"github.com/brianvoe/gofakeit/v7"
)

// Every generated value comes from a random source seeded by a hash of
// (seed, where it is): the operation, the parent scope, the record index
// and the field name. Values therefore do not depend on the order in which
// requests arrive, the same field of the same record reads the same in a
// list and in its item endpoint, and dropping one field (drift) leaves all
// the others as they were.

// hashOf mixes seed and parts into a 64-bit value (FNV-1a, then the
// splitmix64 finaliser so near-identical inputs spread).
func hashOf(seed uint64, parts ...string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	_, _ = h.Write(b[:])
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
		_, _ = h.Write([]byte{0})
	}
	return mix(h.Sum64())
}

func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// faker returns a gofakeit source seeded by h alone. gofakeit.New(0) would
// seed from crypto/rand, so the PCG is built here for every seed, 0 too.
func faker(h uint64) *gofakeit.Faker {
	return gofakeit.NewFaker(rand.NewPCG(h, mix(h^0x9e3779b97f4a7c15)), false)
}
