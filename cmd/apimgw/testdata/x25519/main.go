// Command x25519 prints, for each X25519 private key read from standard
// input (hex, one per line), the public key crypto/ecdh makes for it
// (NewPrivateKey) and the shared secret with the base point 9 (ECDH,
// always Go's Montgomery ladder): "PUBLIC LADDER", hex. TestX25519BaseMult
// (cmd/apimgw) builds it with scripts/build, whose crypto/ecdh computes
// public keys from edwards25519's tables, and with APIMGW_X25519=go.
package main

import (
	"bufio"
	"crypto/ecdh"
	"encoding/hex"
	"fmt"
	"os"
)

func main() {
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
