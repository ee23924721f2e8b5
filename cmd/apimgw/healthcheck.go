package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// healthcheck GETs the admin /healthz and exits 0 on 200, 1 otherwise. It is
// the container image's HEALTHCHECK: the image has no shell or curl.
//
// The admin address comes from -admin, else $APIMGW_ADMIN, else
// 127.0.0.1:9090 (the default admin listener). A wildcard host
// (":9090", "0.0.0.0:9090", "[::]:9090") is dialled on loopback.
func healthcheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("APIMGW_ADMIN")
	if def == "" {
		def = "127.0.0.1:9090"
	}
	admin := fs.String("admin", def, "admin listener address (host:port), as in the configuration's admin:")
	path := fs.String("path", "/healthz", "path to GET: /healthz (alive) or /readyz (ready for traffic)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	quiet := fs.Bool("q", false, "print nothing on success")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "apimgw healthcheck: unexpected arguments %v\n", fs.Args())
		return 2
	}
	if !strings.HasPrefix(*path, "/") {
		fmt.Fprintf(stderr, "apimgw healthcheck: -path must start with /: %q\n", *path)
		return 2
	}
	u, err := healthURL(*admin, *path)
	if err != nil {
		fmt.Fprintf(stderr, "apimgw healthcheck: -admin %q: %v\n", *admin, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		fmt.Fprintf(stderr, "apimgw healthcheck: %v\n", err)
		return 2
	}
	// No proxy from the environment: this is a loopback check.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "apimgw healthcheck: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "apimgw healthcheck: GET %s: %s\n", u, resp.Status)
		return 1
	}
	if !*quiet {
		fmt.Fprintf(stdout, "GET %s: %s\n", u, resp.Status)
	}
	return 0
}

// healthURL turns an admin listen address into the URL to check.
func healthURL(admin, path string) (string, error) {
	host, port, err := net.SplitHostPort(admin)
	if err != nil {
		return "", err
	}
	if port == "" {
		return "", fmt.Errorf("no port")
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + path, nil
}
