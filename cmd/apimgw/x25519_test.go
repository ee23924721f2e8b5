package main

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestX25519BaseMult checks scripts/build's change to crypto/ecdh: X25519
// public keys computed from edwards25519's fixed-base tables rather than
// by the Montgomery ladder. For edge-case, RFC 7748 and pseudo-random
// private keys, testdata/x25519 built with scripts/build must give the
// public key the ladder gives (the same binary's ECDH with the base point),
// RFC 7748's for its keys, and OpenSSL's (openssl pkey -pubout) for a
// sample; the symbol of the change must be in that binary and not in the
// one built with APIMGW_X25519=go.
func TestX25519BaseMult(t *testing.T) {
	dir := t.TempDir()
	bins := map[string]string{}
	for _, c := range []struct{ name, env string }{{"tables", ""}, {"go", "APIMGW_X25519=go"}} {
		bin := filepath.Join(dir, c.name)
		build := exec.Command("../../scripts/build", "-o", bin, "./testdata/x25519")
		build.Env = append(os.Environ(), c.env)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, out)
		}
		bins[c.name] = bin
		syms, err := exec.Command("go", "tool", "nm", bin).Output()
		if err != nil {
			t.Fatalf("go tool nm %s: %v", c.name, err)
		}
		has := bytes.Contains(syms, []byte(" crypto/ecdh.x25519ScalarBaseMult\n"))
		if has != (c.name == "tables") {
			t.Errorf("%s: crypto/ecdh.x25519ScalarBaseMult in the binary: %v", c.name, has)
		}
	}

	// RFC 7748, section 6.1: Alice's and Bob's keys.
	rfc := map[string]string{
		"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a": "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
		"5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb": "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
	}
	keys := []string{
		strings.Repeat("00", 32),
		strings.Repeat("ff", 32),
		"01" + strings.Repeat("00", 31),
		strings.Repeat("00", 31) + "40",
		// l, the order of the base point, and l - 1, little-endian.
		"edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010",
		"ecd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010",
		// p = 2^255 - 19 and p + 1 (bit 255 set: cleared by clamping).
		"ed" + strings.Repeat("ff", 30) + "7f",
		"ee" + strings.Repeat("ff", 30) + "7f",
	}
	for k := range rfc {
		keys = append(keys, k)
	}
	rng := rand.New(rand.NewPCG(7748, 25519))
	for range 2000 {
		var k [32]byte
		for i := range k {
			k[i] = byte(rng.Uint32())
		}
		keys = append(keys, hex.EncodeToString(k[:]))
	}

	run := func(name string) []string {
		cmd := exec.Command(bins[name])
		cmd.Stdin = strings.NewReader(strings.Join(keys, "\n") + "\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
		if len(lines) != len(keys) {
			t.Fatalf("%s: %d lines for %d keys", name, len(lines), len(keys))
		}
		return lines
	}
	tables, stock := run("tables"), run("go")
	for i, k := range keys {
		pub, ladder, _ := strings.Cut(tables[i], " ")
		if pub != ladder {
			t.Errorf("key %s: public key %s, the ladder's %s", k, pub, ladder)
		}
		if stockPub, _, _ := strings.Cut(stock[i], " "); pub != stockPub {
			t.Errorf("key %s: public key %s, crypto/ecdh's own %s", k, pub, stockPub)
		}
		if want, ok := rfc[k]; ok && pub != want {
			t.Errorf("key %s: public key %s, RFC 7748's %s", k, pub, want)
		}
	}

	// OpenSSL: the public key of a PKCS #8 X25519 key holding the same
	// private key, for the edge cases, RFC 7748's keys and 16 others.
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl, the oracle of this test, is not installed (scripts/test installs it)")
	}
	pkcs8 := "302e020100300506032b656e04220420"
	spki := "302a300506032b656e032100"
	for i, k := range keys[:len(keys)-2000+16] {
		der, _ := hex.DecodeString(pkcs8 + k)
		file := filepath.Join(dir, "key.der")
		if err := os.WriteFile(file, der, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("openssl", "pkey", "-inform", "DER", "-in", file, "-pubout", "-outform", "DER").Output()
		if err != nil {
			t.Fatalf("openssl pkey, key %s: %v", k, err)
		}
		got := hex.EncodeToString(out)
		want, _, _ := strings.Cut(tables[i], " ")
		if got != spki+want {
			t.Errorf("key %s: public key %s, OpenSSL's %s", k, want, strings.TrimPrefix(got, spki))
		}
	}
}
