// Command x25519 prints, for each X25519 private key read from standard
// input (hex, one per line), the public key crypto/ecdh makes for it
// (NewPrivateKey) and the shared secret with the base point 9 (ECDH,
// always Go's Montgomery ladder): "PUBLIC LADDER", hex. TestX25519BaseMult
// (cmd/apimgw) builds it with scripts/build, whose crypto/ecdh computes
// public keys from edwards25519's tables, and with APIMGW_X25519=go.
//
// With -time N it instead makes N keys (GenerateKey, as crypto/tls does
// for each handshake), then N shared secrets, and prints the mean time of
// each (docs/benchmarks.md):
//
//	scripts/build -o /tmp/x25519 ./cmd/apimgw/testdata/x25519 && /tmp/x25519 -time 20000
package main

import (
	"bufio"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	n := flag.Int("time", 0, "time N key generations and N shared secrets instead")
	flag.Parse()
	if *n > 0 {
		timeKeys(*n)
		return
	}
	basepoint := make([]byte, 32)
	basepoint[0] = 9
	base, err := ecdh.X25519().NewPublicKey(basepoint)
	if err != nil {
		fail(err)
	}
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		key, err := hex.DecodeString(in.Text())
		if err != nil {
			fail(err)
		}
		priv, err := ecdh.X25519().NewPrivateKey(key)
		if err != nil {
			fail(err)
		}
		ladder, err := priv.ECDH(base)
		if err != nil {
			fail(err)
		}
		fmt.Fprintf(out, "%x %x\n", priv.PublicKey().Bytes(), ladder)
	}
	if err := in.Err(); err != nil {
		fail(err)
	}
	if err := out.Flush(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "x25519:", err)
	os.Exit(1)
}

// timeKeys prints the mean time of n X25519 key generations and of n
// shared secrets.
func timeKeys(n int) {
	keys := make([]*ecdh.PrivateKey, n)
	start := time.Now()
	for i := range keys {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			fail(err)
		}
		keys[i] = k
	}
	gen := time.Since(start) / time.Duration(n)
	start = time.Now()
	for i, k := range keys {
		if _, err := k.ECDH(keys[(i+1)%n].PublicKey()); err != nil {
			fail(err)
		}
	}
	fmt.Printf("GenerateKey %v  ECDH %v  (mean of %d)\n", gen, time.Since(start)/time.Duration(n), n)
}
