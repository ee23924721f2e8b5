// Package swar holds what the word-at-a-time (SIMD within a register)
// byte scanners of httplex and logs share: the byte-wise constants and
// the loads of eight or four bytes of a string into one word.
package swar

// LSB has 0x01 in each byte, MSB 0x80.
const (
	LSB = 0x0101010101010101
	MSB = 0x8080808080808080
)

// Load64 is the little-endian uint64 of s[0:8] (one load).
func Load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// Load32 is the little-endian uint32 of s[0:4], in a uint64.
func Load32(s string) uint64 {
	_ = s[3]
	return uint64(uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24)
}
