#!/usr/bin/env bash
# Benchmark apimgw against nginx (upstream keep-alive on, and off: nginx's
# default) and HAProxy, in front of the same connection-counting backend,
# alternating proxies in one run (in reverse order every second round).
# Prints, per proxy and round: requests/s,
# p50 and p99 latency, backend connections opened, TIME_WAIT sockets.
#
# Usage: bench/run.sh [-d 10s] [-c 64] [-r ROUNDS] [-p "apimgw nginx-ka nginx haproxy"] [-R RATE] [-B go|nginx] [-A] [-P FILE]
# Proxies: apimgw (./cmd/apimgw with bench/apimgw.yaml), miniproxy (the bare
# outbound manager behind a minimal net/http reverse proxy, bench/miniproxy),
# miniproxy-std (the same proxy over a tuned net/http Transport),
# floor (bench/floor: the leanest Go proxy of this shape, a backend
# connection per client connection and nothing parsed but the heads: what
# Go's runtime and the system calls alone cost; floor-allocs: the same with
# 40 small allocations per request; floor-reuse: the same 40 objects made
# once per connection and cleared per request; floor-spin: 20 µs of CPU per
# request and no allocation; floor-tls: the same terminating TLS with
# crypto/tls's defaults, measured like apimgw-tls: what Go's TLS alone
# costs),
# nginx-ka (one worker, upstream keepalive 128), nginx (one worker, nginx's
# default: a new upstream connection per request), nginx-log (nginx-ka
# writing a JSON request log line as apimgw does, buffered, to /dev/null
# as bench/apimgw.yaml's log; nginx-ka's access log is off), haproxy (one
# thread).
# apimgw-base is another apimgw binary (APIMGW_BASE_BIN=path), for A/B runs;
# apimgw-base-tls the same binary terminating TLS, apimgw-base-pol the same
# binary with apimgw-pol's policies.
# apimgw-tls and nginx-tls terminate TLS (an ECDSA P-256 certificate made
# for the run; nginx-tls is nginx-ka with ssl, session tickets on, TLS 1.2
# and 1.3): wrk measures their keep-alive req/s over TLS, then
# bench/tlsconns their new TLS connections per second, one request each,
# with session resumption (its resumed share and the protocol negotiated
# are printed), as NAME-new with TLS 1.3 and as NAME-new12 with TLS 1.2 at
# most; the summary gives each as a ratio to nginx-tls's of the same kind.
# "direct" runs wrk against the backend itself, for the latency a proxy adds.
# -R RATE replaces wrk by bench/loadgen at a fixed RATE of requests/s (open
# loop, over -c connections): the latency a proxy adds at a load it carries,
# rather than the queueing at saturation that wrk measures. Its summary
# compares each proxy's mean p50/p99 with direct's.
# -B nginx replaces the Go backend (bench/backend) by an nginx worker
# answering the same 64-byte body (connections counted by its stub_status):
# a backend that takes less of the shared CPU, so that what is measured is
# more the proxy and less the competition for two cores.
# apimgw-pol is apimgw with the policies a typical API runs on every request
# (bench/apimgw-policies.yaml and .xml: subscription key, validate-jwt with a
# fixed HS256 key, rate-limit-by-key with a limit never reached, set-header
# with an expression); wrk sends it the key and a valid token. Not with -R.
# CPU/req is the CPU time (user + system, /proc/PID/stat) the proxy's
# process and its children used during the run, over the requests wrk
# completed (10 ms ticks: over a 5 s run, well under 1 %), and user(µs)
# the user part of it: the system part is the kernel's work for the same
# system calls, alike for the proxies here, so the summary's per-round
# user ratio of apimgw to floor is the gateway's own work against the
# leanest Go proxy's. nginx-ka, nginx, nginx-tls and nginx-log share one
# worker, measured during each one's own run. The summary gives each
# proxy's mean req/s, p99 and CPU/req, and their ratios to nginx-ka (to
# nginx-tls for the TLS proxies), and apimgw-pol's CPU/req over apimgw's;
# then, with two rounds or more, the median and range of the same ratios
# taken round by round (the steadier figure on a shared machine, whose
# speed changes over seconds), and of apimgw's to nginx-log's.
# apimgw-nolog is apimgw with its request log sampled out (logs.sampling
# 0: no line for a successful request), as nginx-ka has its access log
# off; apimgw and nginx-log both write a line for every request.
# apimgw and the Go proxies under bench/ are built with scripts/build, as
# apimgw ships: Go's poller serving the goroutines one epoll_wait wakes in
# the order epoll returns them, and X25519 public keys from precomputed
# tables (bench/tlsconns is built with it too). apimgw-gopoll and
# floor-gopoll are apimgw and floor built with Go's own order
# (APIMGW_POLL_ORDER=go: the reverse; their X25519 keys as apimgw's), and
# the per-round ratios compare apimgw and floor with them.
# apimgw-1p is apimgw with GOMAXPROCS=1 (one thread running Go code at a
# time, as nginx and HAProxy run one worker or thread here; the others get
# APIMGW_GOMAXPROCS, 2 by default).
# apimgw-1k is apimgw with 1,000 APIs of 10 operations each (generated for
# the run: APIs svc-0000 to svc-0999, operations with literal and templated
# segments), and apimgw-1api the same gateway with only one of them
# (svc-0500); both get the same request, GET /svc-0500/items/42/parts/7,
# which matches a templated operation. The summary gives apimgw-1k's req/s
# and CPU/req as a ratio to apimgw-1api's, and each process's resident
# memory after its last run (VmRSS).
# -A pins the proxy under test to CPU 0 and the backend, wrk, tlsconns and
# loadgen to CPU 1 (taskset): one core for the proxy, as nginx and HAProxy
# get one worker or thread here, and apimgw then runs GOMAXPROCS=1 unless
# APIMGW_GOMAXPROCS says otherwise. Unpinned, where the kernel puts three
# busy processes on two cores changes between runs, and with it the CPU per
# request of the same proxy by up to half.
# -P FILE profiles the apimgw proxies of the current build (apimgw,
# apimgw-pol, apimgw-tls, apimgw-1p, apimgw-nolog, apimgw-1api,
# apimgw-1k): during each of their runs (and apimgw-tls's new connections)
# a CPU profile of the process is taken from its admin port (admin.pprof
# on), and at the end all are merged into FILE (pprof's format: go tool
# pprof FILE, or go build -pgo=FILE), and each run's own is kept beside
# it (FILE without .pprof, then .NAME.KIND.ROUND.pprof; KIND is keepalive,
# new or new12), e.g.
#   bench/run.sh -A -B nginx -d 15s -r 1 -p "apimgw apimgw-pol apimgw-tls" -P /tmp/apimgw.pprof
# The issue-21 comparison, with a backend that costs almost
# nothing:
#   bench/run.sh -A -B nginx -d 3s -r 8 -p "apimgw apimgw-gopoll apimgw-nolog apimgw-pol nginx-ka nginx-log haproxy floor apimgw-tls floor-tls nginx-tls apimgw-1api apimgw-1k"
# Loopback only. Installs wrk, nginx and haproxy with apt-get when missing.
set -euo pipefail

DURATION=10s
CONNS=64
ROUNDS=2
PROXIES="apimgw nginx-ka nginx haproxy"
RATE=
BACKEND=go
PIN=0
PROFILE=
while getopts "d:c:r:p:R:B:AP:" opt; do
	case $opt in
	d) DURATION=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	p) PROXIES=$OPTARG ;;
	R) RATE=$OPTARG ;;
	B) BACKEND=$OPTARG ;;
	A) PIN=1 ;;
	P) PROFILE=$(realpath -m "$OPTARG") ;;
	*) echo "usage: $0 [-d duration] [-c connections] [-r rounds] [-p proxies] [-R rate] [-B go|nginx] [-A] [-P profile]" >&2; exit 2 ;;
	esac
done
if [[ -n $PROFILE && ! ${DURATION%s} =~ ^[0-9]+$ ]]; then
	echo "-P needs -d in whole seconds (15s, say)" >&2
	exit 2
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/apimgw-bench.XXXXXX)
BACKEND_PORT=9001
BACKEND_STATS_PORT=9003 # the nginx backend's stub_status
declare -A PORT=([apimgw-base]=8091 [apimgw]=8081 [nginx-ka]=8082 [nginx]=8083 [haproxy]=8084 [miniproxy]=8085 [miniproxy-std]=8086 [floor]=8087 [floor-allocs]=8088 [floor-reuse]=8089 [floor-spin]=8090 [apimgw-tls]=8092 [nginx-tls]=8093 [apimgw-base-tls]=8094 [apimgw-pol]=8095 [apimgw-base-pol]=8096 [apimgw-1api]=8097 [apimgw-1k]=8098 [apimgw-1p]=8099 [floor-tls]=8100 [nginx-log]=8101 [apimgw-nolog]=8102 [apimgw-gopoll]=8103 [floor-gopoll]=8104)
# BENCH_PORT_OFFSET moves every port (proxies, their admin listeners, the
# backend) up by that much: a run beside processes holding the usual ones.
PORT_OFFSET=${BENCH_PORT_OFFSET:-0}
BACKEND_PORT=$((BACKEND_PORT + PORT_OFFSET))
BACKEND_STATS_PORT=$((BACKEND_STATS_PORT + PORT_OFFSET))
for k in "${!PORT[@]}"; do PORT[$k]=$((PORT[$k] + PORT_OFFSET)); done
# -A (see the top): the commands that start proxies, and those that start
# the backend and the load generators.
ON_PROXY_CPU=() ON_LOAD_CPU=()
if ((PIN)); then
	command -v taskset >/dev/null || { echo "-A needs taskset (util-linux)" >&2; exit 2; }
	ON_PROXY_CPU=(taskset -c 0) ON_LOAD_CPU=(taskset -c 1)
fi
declare -A PID_OF=() # proxy NAME -> the PID whose CPU time (with its children's) is NAME's
declare -A PROFILED=() # proxy NAME -> its admin port, for the apimgw proxies -P profiles
PIDS=()

cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

need() {
	local missing=()
	command -v wrk >/dev/null || missing+=(wrk)
	command -v nginx >/dev/null || missing+=(nginx-light)
	command -v haproxy >/dev/null || missing+=(haproxy)
	command -v ss >/dev/null || missing+=(iproute2)
	command -v curl >/dev/null || missing+=(curl)
	if ((${#missing[@]})); then
		echo "installing ${missing[*]}" >&2
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
}

# scheme NAME: https for the TLS proxies, http otherwise.
scheme() { if [[ $1 == *-tls ]]; then echo https; else echo http; fi; }

# free PORT exits when something already listens on 127.0.0.1:PORT: the
# run would measure that instead (BENCH_PORT_OFFSET moves the ports).
free() {
	if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
		echo "port $1 is taken by another process; set BENCH_PORT_OFFSET" >&2
		exit 2
	fi
}

wait_port() {
	for _ in $(seq 1 100); do
		if curl -sk -o /dev/null "${2:-http}://127.0.0.1:$1/"; then return 0; fi
		sleep 0.1
	done
	echo "nothing answers on port $1" >&2
	return 1
}

start_backend() {
	free $BACKEND_PORT
	free $BACKEND_STATS_PORT
	if [[ $BACKEND == nginx ]]; then
		start_nginx_backend
		return
	fi
	go build -o "$WORK/backend" "$ROOT/bench/backend"
	"${ON_LOAD_CPU[@]}" "$WORK/backend" -listen 127.0.0.1:$BACKEND_PORT >"$WORK/backend.log" 2>&1 &
	PIDS+=($!)
	PID_OF[direct]=$!
	wait_port $BACKEND_PORT
}

# launch_apimgw NAME BINARY ADMIN_PORT: run an apimgw binary as proxy NAME
# with bench/apimgw.yaml, on PORT[NAME] (with the run's certificate for
# the TLS proxies).
launch_apimgw() {
	local name=$1 bin=$2 admin=$(($3 + PORT_OFFSET)) conf=${4:-$ROOT/bench/apimgw.yaml}
	free "$admin"
	sed -e "s/127.0.0.1:8081/127.0.0.1:${PORT[$name]}/" -e "s/127.0.0.1:9091/127.0.0.1:$admin/" -e "s/127.0.0.1:9001/127.0.0.1:$BACKEND_PORT/" \
		"$conf" >"$WORK/$name.yaml"
	if [[ -n $PROFILE && $bin == "$WORK/apimgw" ]]; then
		sed -i "s/^admin: 127.0.0.1:$admin\$/admin: {listen: 127.0.0.1:$admin, pprof: true}/" "$WORK/$name.yaml"
		PROFILED[$name]=$admin
	fi
	cp "$ROOT"/bench/*.xml "$WORK/" # policy files named by the configurations
	[[ $(scheme "$name") == http ]] || echo "tls: {cert: $WORK/cert.pem, key: $WORK/key.pem}" >>"$WORK/$name.yaml"
	local procs=${APIMGW_GOMAXPROCS:-$((PIN ? 1 : 2))}
	[[ $name != *-1p ]] || procs=1 # one OS thread running Go code, as nginx's one worker
	GOMAXPROCS=$procs "${ON_PROXY_CPU[@]}" "$bin" serve -c "$WORK/$name.yaml" >"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
	PID_OF[$name]=$!
	wait_port "${PORT[$name]}" "$(scheme "$name")"
}

# make_cert: the TLS proxies' certificate (ECDSA P-256, localhost), once.
make_cert() {
	[[ -f $WORK/cert.pem ]] && return
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
		-keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
	# With scripts/build, as the servers: its X25519 keys cost the client
	# half as much. In the TLS 1.2 new-connection runs the client's core is
	# the busier one (nginx-tls's rate is bounded by it); a cheaper client
	# leaves more of the measure to the server.
	"$ROOT/scripts/build" -o "$WORK/tlsconns" "$ROOT/bench/tlsconns"
}

# drop_proxy NAME removes NAME (the whole word) from PROXIES.
drop_proxy() {
	local kept=() p
	for p in $PROXIES; do [[ $p == "$1" ]] || kept+=("$p"); done
	PROXIES="${kept[*]}"
}

start_apimgw() {
	local name=${1:-apimgw} admin=${2:-9091} conf=${3:-} bin order
	read -r bin order <<<"$(go_binary apimgw "$name")"
	if [[ -x $bin ]] || APIMGW_POLL_ORDER=$order "$ROOT/scripts/build" -o "$bin" "$ROOT/cmd/apimgw" 2>"$WORK/apimgw-build.log"; then
		launch_apimgw "$name" "$bin" "$admin" $conf
	else
		echo "cmd/apimgw does not build (see $WORK/apimgw-build.log): skipping $name" >&2
		drop_proxy "$name"
	fi
}

# start_apimgw_base: "apimgw-base", another apimgw binary given as
# APIMGW_BASE_BIN (say, an earlier commit's build), for an A/B comparison in
# the same run.
start_apimgw_base() {
	local name=${1:-apimgw-base} admin=${2:-9191} conf=${3:-$ROOT/bench/apimgw.yaml}
	if [[ -z ${APIMGW_BASE_BIN:-} ]]; then
		echo "$name needs APIMGW_BASE_BIN (an apimgw binary)" >&2
		exit 2
	fi
	launch_apimgw "$name" "$APIMGW_BASE_BIN" "$admin" "$conf"
}

# go_binary PROGRAM NAME prints the binary that runs proxy NAME and the
# poller order it is built with (scripts/build's APIMGW_POLL_ORDER): Go's
# own for a NAME ending in -gopoll, epoll's (as apimgw ships) otherwise.
go_binary() {
	if [[ $2 == *-gopoll ]]; then echo "$WORK/$1-gopoll go"; else echo "$WORK/$1 epoll"; fi
}

# start_go_proxy NAME PROGRAM [FLAGS]: one of the Go proxies under bench/
# (miniproxy: the bare outbound manager, or with -stdlib a tuned net/http
# Transport, behind a minimal reverse proxy; floor: the leanest Go proxy),
# built as apimgw is (scripts/build).
start_go_proxy() {
	local name=$1 prog=$2 bin order
	shift 2
	read -r bin order <<<"$(go_binary "$prog" "$name")"
	[[ -x $bin ]] || APIMGW_POLL_ORDER=$order "$ROOT/scripts/build" -o "$bin" "$ROOT/bench/$prog"
	"${ON_PROXY_CPU[@]}" "$bin" -listen "127.0.0.1:${PORT[$name]}" -backend "http://127.0.0.1:$BACKEND_PORT" "$@" >"$WORK/$name.log" 2>&1 &
	PIDS+=($!)
	PID_OF[$name]=$!
	wait_port "${PORT[$name]}" "$(scheme "$name")"
}

# start_nginx_backend: the -B nginx backend, one worker, the Go backend's
# answer (64 bytes of "x", text/plain), connections never closed by it.
start_nginx_backend() {
	mkdir -p "$WORK/nginx-backend/logs"
	cat >"$WORK/nginx-backend/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx-backend/nginx.pid;
error_log $WORK/nginx-backend/logs/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $WORK/nginx-backend/body;
	proxy_temp_path $WORK/nginx-backend/proxy;
	fastcgi_temp_path $WORK/nginx-backend/fastcgi;
	uwsgi_temp_path $WORK/nginx-backend/uwsgi;
	scgi_temp_path $WORK/nginx-backend/scgi;
	keepalive_requests 100000000;
	keepalive_timeout 75s;
	server {
		listen 127.0.0.1:$BACKEND_PORT;
		location / { default_type text/plain; return 200 "$(printf 'x%.0s' $(seq 1 64))"; }
	}
	server {
		listen 127.0.0.1:$BACKEND_STATS_PORT;
		location / { stub_status; }
	}
}
CONF
	"${ON_LOAD_CPU[@]}" nginx -p "$WORK/nginx-backend" -c "$WORK/nginx-backend/nginx.conf" &
	PIDS+=($!)
	PID_OF[direct]=$!
	wait_port $BACKEND_PORT
}

start_nginx() {
	mkdir -p "$WORK/nginx/logs"
	cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $WORK/nginx/body;
	proxy_temp_path $WORK/nginx/proxy;
	fastcgi_temp_path $WORK/nginx/fastcgi;
	uwsgi_temp_path $WORK/nginx/uwsgi;
	scgi_temp_path $WORK/nginx/scgi;
	upstream backend_ka { server 127.0.0.1:$BACKEND_PORT; keepalive 128; }
	server {
		listen 127.0.0.1:${PORT[nginx-ka]};
		location / { proxy_pass http://backend_ka; proxy_http_version 1.1; proxy_set_header Connection ""; }
	}
	server {
		listen 127.0.0.1:${PORT[nginx]};
		location / { proxy_pass http://127.0.0.1:$BACKEND_PORT; }
	}
	# nginx-log: nginx-ka writing a request log line as apimgw does (the
	# same JSON members where nginx has the value, a request ID of its
	# own, buffered, to /dev/null as bench/apimgw.yaml's log).
	log_format apimgw escape=json '{"TimeGenerated":"\$time_iso8601","CorrelationId":"\$request_id",'
		'"Method":"\$request_method","Url":"\$scheme://\$host\$request_uri","ResponseCode":\$status,'
		'"ResponseSize":\$bytes_sent,"BackendMethod":"\$request_method","BackendUrl":"http://\$upstream_addr\$request_uri",'
		'"BackendResponseCode":"\$upstream_status","BackendTime":"\$upstream_response_time","TotalTime":\$request_time,'
		'"Cache":"none","CallerIpAddress":"\$remote_addr","ApiId":"bench","OperationId":"all","IsRequestSuccess":true}';
	server {
		listen 127.0.0.1:${PORT[nginx-log]};
		access_log /dev/null apimgw buffer=64k flush=1s;
		location / { proxy_pass http://backend_ka; proxy_http_version 1.1; proxy_set_header Connection ""; }
	}
	server {
		listen 127.0.0.1:${PORT[nginx-tls]} ssl;
		ssl_certificate $WORK/cert.pem;
		ssl_certificate_key $WORK/key.pem;
		ssl_session_tickets on;
		ssl_session_cache shared:SSL:10m;
		# TLS 1.3 as apimgw and floor-tls offer it: nginx's default before
		# 1.23.4 (Debian 12's is 1.22) stops at TLS 1.2, where a resumed
		# session makes no key exchange at all (docs/benchmarks.md).
		ssl_protocols TLSv1.2 TLSv1.3;
		# And AES-128-GCM first, as crypto/tls chooses it (OpenSSL takes the
		# client's first, which is AES-256 for wrk; with TLS 1.2, its own
		# first, AES-256 too): the same suites as apimgw's (Mozilla's
		# "intermediate" order).
		ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;
		ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305;
		ssl_prefer_server_ciphers on;
		keepalive_requests 100000000;
		location / { proxy_pass http://backend_ka; proxy_http_version 1.1; proxy_set_header Connection ""; }
	}
}
CONF
	"${ON_PROXY_CPU[@]}" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
	PIDS+=($!)
	# One master and one worker serve nginx-ka, nginx, nginx-tls and
	# nginx-log; runs alternate, so the tree's CPU time during a run is
	# that run's.
	PID_OF[nginx-ka]=$! PID_OF[nginx]=$! PID_OF[nginx-tls]=$! PID_OF[nginx-log]=$!
	wait_port "${PORT[nginx-ka]}"
}

start_haproxy() {
	cat >"$WORK/haproxy.cfg" <<CONF
global
	nbthread 1
	maxconn 4096
defaults
	mode http
	timeout connect 5s
	timeout client 30s
	timeout server 30s
	http-reuse always
frontend fe
	bind 127.0.0.1:${PORT[haproxy]}
	default_backend be
backend be
	server b1 127.0.0.1:$BACKEND_PORT
CONF
	"${ON_PROXY_CPU[@]}" haproxy -f "$WORK/haproxy.cfg" -db >"$WORK/haproxy.log" 2>&1 &
	PIDS+=($!)
	PID_OF[haproxy]=$!
	wait_port "${PORT[haproxy]}"
}

# backend_accepted prints the connections the backend has accepted. The
# nginx backend counts the stub_status query's own connection too: between
# two readings, one more (STATS_CONNS).
STATS_CONNS=0
[[ $BACKEND != nginx ]] || STATS_CONNS=1
backend_accepted() {
	if [[ $BACKEND == nginx ]]; then
		curl -s "http://127.0.0.1:$BACKEND_STATS_PORT/" | awk 'NR == 3 {print $1}'
		return
	fi
	curl -s "http://127.0.0.1:$BACKEND_PORT/stats" | sed -E 's/.*"accepted":([0-9]+).*/\1/'
}

# cpu_ticks NAME prints the CPU time (user + system, in clock ticks) that
# NAME's process and its children (nginx's worker) have used so far, from
# /proc/PID/stat, then a space and the user time alone; nothing when NAME
# has no process of its own.
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {
	local pid=${PID_OF[$1]:-}
	[[ -n $pid && -r /proc/$pid/stat ]] || return 0
	# After the command (which may hold spaces and parentheses), the
	# fields are state, ppid, ... utime (12th), stime (13th). A process
	# that ends during the read makes cat fail: not an error here.
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$pid" '{
		line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
		if ($1 == root || f[2] == root) { t += f[12] + f[13]; u += f[12] }
	} END { print t + 0, u + 0 }'
}

# cpu_used BEFORE AFTER (cpu_ticks outputs) prints the total and the user
# ticks used between them, or "- -" when there are none.
cpu_used() {
	if [[ -z $1 || -z $2 ]]; then echo "- -"; return; fi
	awk -v b="$1" -v a="$2" 'BEGIN { split(b, x, " "); split(a, y, " "); print y[1] - x[1], y[2] - x[2] }'
}

# cpu_us_per TICKS COUNT prints TICKS of CPU time per item, in µs.
cpu_us_per() {
	awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { if (t == "" || t == "-" || n <= 0) print "-"; else printf "%.1f", t * 1e6 / hz / n }'
}

# The apimgw-pol proxy's credentials: its subscription key, and a JWT
# signed with the HS256 secret whose base64 form is in
# bench/apimgw-policies.xml (issuer and audience apimgw-bench, expiring in
# 2100).
JWT_SECRET_HEX=e129c6a534a0396d9ba2ed8860d05928cbe141ba0e04ec3812bde759dfda2e03
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
make_jwt() {
	local h p
	h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
	p=$(printf '{"iss":"apimgw-bench","aud":"apimgw-bench","sub":"bench-client","exp":4102444800}' | b64url)
	printf '%s.%s.%s' "$h" "$p" "$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -mac HMAC -macopt hexkey:$JWT_SECRET_HEX -binary | b64url)"
}

# gen_apis N FIRST FILE writes an apimgw configuration with N APIs, from
# svc-FIRST on, each with the same 10 operations (bench/apimgw.yaml's
# listener, admin and outbound settings; run.sh substitutes the ports).
gen_apis() {
	local n=$1 first=$2 file=$3 i id
	{
		sed -n '/^listen:/,/^apis:/p' "$ROOT/bench/apimgw.yaml"
		for ((i = first; i < first + n; i++)); do
			printf -v id 'svc-%04d' "$i"
			cat <<API
  - id: $id
    path: $id
    serviceUrl: http://127.0.0.1:9001
    subscriptionRequired: false
    operations:
      - {id: list, method: GET, urlTemplate: /items}
      - {id: get, method: GET, urlTemplate: "/items/{id}"}
      - {id: create, method: POST, urlTemplate: /items}
      - {id: replace, method: PUT, urlTemplate: "/items/{id}"}
      - {id: update, method: PATCH, urlTemplate: "/items/{id}"}
      - {id: delete, method: DELETE, urlTemplate: "/items/{id}"}
      - {id: parts, method: GET, urlTemplate: "/items/{id}/parts"}
      - {id: part, method: GET, urlTemplate: "/items/{id}/parts/{part}"}
      - {id: search, method: GET, urlTemplate: "/search?q={q}"}
      - {id: health, method: GET, urlTemplate: /health}
API
		done
	} >"$file"
}

# target NAME prints the path NAME's requests ask for.
target() {
	case $1 in
	apimgw-1api | apimgw-1k) echo /svc-0500/items/42/parts/7 ;;
	*) echo /bench ;;
	esac
}

# rss_kb NAME prints NAME's process's resident memory in KiB (VmRSS).
rss_kb() {
	local pid=${PID_OF[$1]:-}
	[[ -n $pid && -r /proc/$pid/status ]] || return 0
	awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"
}

# headers NAME prints the wrk -H arguments NAME's requests carry, one a line.
headers() {
	[[ $1 == apimgw-pol || $1 == apimgw-base-pol ]] || return 0
	echo "-H"
	echo "Ocp-Apim-Subscription-Key: bench-subscription-key"
	echo "-H"
	echo "Authorization: Bearer $(make_jwt)"
}

# ms converts wrk's latency ("812.00us", "1.20ms", "2.00s") to milliseconds.
ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0
		if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000
		printf "%.2f", n }'
}

run_one() {
	local name=$1 port=${PORT[$1]}
	[[ $BACKEND == nginx ]] || curl -s -o /dev/null -X POST "http://127.0.0.1:$BACKEND_PORT/stats/reset"
	local before tw out rps p50 p99 after
	before=$(backend_accepted)
	if [[ -n $RATE ]]; then
		run_loadgen "$name" "$port" "$before"
		return
	fi
	local hdrs=() t0 t1 reqs cpu user used
	mapfile -t hdrs < <(headers "$name")
	t0=$(cpu_ticks "$name")
	profile_start "$name" keepalive
	out=$("${ON_LOAD_CPU[@]}" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "${hdrs[@]}" "$(scheme "$name")://127.0.0.1:$port$(target "$name")")
	profile_wait
	t1=$(cpu_ticks "$name")
	after=$(backend_accepted)
	# TIME_WAIT sockets of backend connections (either side), which
	# includes those of runs in the previous minute (TIME_WAIT lasts 60s).
	tw=$(ss -Htan state time-wait "( sport = :$BACKEND_PORT or dport = :$BACKEND_PORT )" | wc -l)
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	p50=$(ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
	p99=$(ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
	local errs
	errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	read -r used user <<<"$(cpu_used "$t0" "$t1")"
	cpu=$(cpu_us_per "$used" "$reqs")
	user=$(cpu_us_per "$user" "$reqs")
	printf "%-13s %6s %12s %9s %9s %12s %10s %10s %9s %s\n" "$name" "$ROUND" "$rps" "$p50" "$p99" "$((after - before - STATS_CONNS))" "$tw" "$cpu" "$user" "$errs"
	echo "$name $rps $p99 $cpu $user" >>"$WORK/rps"
	[[ $(scheme "$name") == http ]] || run_newconns "$name" "$port"
}

# profile_start NAME KIND: with -P, a CPU profile of NAME's process for
# the run about to start (a second shorter than it, so that it ends
# within it), in the background; profile_wait waits for it.
PROFILING=
profile_start() {
	local admin=${PROFILED[$1]:-}
	PROFILING=
	[[ -n $admin ]] || return 0
	curl -sf -o "$WORK/profile.$1.$2.$ROUND.pprof" \
		"http://127.0.0.1:$admin/debug/pprof/profile?seconds=$((${DURATION%s} > 1 ? ${DURATION%s} - 1 : 1))" &
	PROFILING=$!
}
profile_wait() {
	[[ -z $PROFILING ]] || wait "$PROFILING" || echo "no CPU profile from this run" >&2
	PROFILING=
}

# run_newconns NAME PORT: new TLS connections per second, one request each,
# sessions resumed (bench/tlsconns, as many workers as -c, capped at 16),
# twice: NAME-new with TLS 1.3 offered (a new X25519 secret on every
# resumption), NAME-new12 with TLS 1.2 at most (the abbreviated
# handshake, no key exchange).
run_newconns() {
	run_newconns_as "$1" "$2" new
	sleep 1
	run_newconns_as "$1" "$2" new12 -tls12
}

# run_newconns_as NAME PORT KIND [TLSCONNS-FLAG...]: one of them.
run_newconns_as() {
	local name=$1 port=$2 kind=$3 out rate t0 t1 n cpu user used c0 c1 cores="" proto
	shift 3
	t0=$(cpu_ticks "$name")
	c0=$(core_ticks)
	profile_start "$name" "$kind"
	out=$("${ON_LOAD_CPU[@]}" "$WORK/tlsconns" -url "https://127.0.0.1:$port/bench" -c "$((CONNS < 16 ? CONNS : 16))" -d "$DURATION" "$@")
	profile_wait
	c1=$(core_ticks)
	t1=$(cpu_ticks "$name")
	n=$(sed -E 's/.*conns=([0-9]+).*/\1/' <<<"$out")
	proto=$(sed -E 's/.*proto=([^ ]+).*/\1/' <<<"$out")
	read -r used user <<<"$(cpu_used "$t0" "$t1")"
	cpu=$(cpu_us_per "$used" "$n")
	user=$(cpu_us_per "$user" "$n")
	# With -A, how busy each core was: the busier one sets the rate (the
	# proxy's, CPU 0, or the load's, CPU 1: tlsconns and the backend).
	((PIN)) && cores=$(awk -v a="$c0" -v b="$c1" 'BEGIN {
		split(a, x); split(b, y)
		printf " busy=proxy:%d%%,load:%d%%", 100 * (y[1] - x[1]) / (y[2] - x[2]), 100 * (y[3] - x[3]) / (y[4] - x[4])
	}')
	printf "%-13s %6s %s CPU/conn(µs)=%s user=%s%s\n" "$name-$kind" "$ROUND" "$out" "$cpu" "$user" "$cores"
	rate=$(sed -E 's/conns\/s=([0-9.]+).*/\1/' <<<"$out")
	echo "$name-$kind $rate - $cpu $user $proto" >>"$WORK/newconns"
}

# core_ticks prints CPU 0's busy and total ticks, then CPU 1's (/proc/stat:
# user to steal, busy all of it but idle and iowait).
core_ticks() {
	awk '$1 == "cpu0" || $1 == "cpu1" {t = 0; for (i = 2; i <= 9; i++) t += $i; printf "%d %d ", t - $5 - $6, t}' /proc/stat
}

# run_loadgen NAME PORT BEFORE: one fixed-rate run (-R).
run_loadgen() {
	local name=$1 port=$2 before=$3 out after tw
	out=$("${ON_LOAD_CPU[@]}" "$WORK/loadgen" -url "$(scheme "$name")://127.0.0.1:$port/bench" -rate "$RATE" -c "$CONNS" -d "$DURATION")
	after=$(backend_accepted)
	tw=$(ss -Htan state time-wait "( sport = :$BACKEND_PORT or dport = :$BACKEND_PORT )" | wc -l)
	printf "%-13s %6s %s backendConns=%s TIME_WAIT=%s\n" "$name" "$ROUND" "$out" "$((after - before - STATS_CONNS))" "$tw"
	awk -v n="$name" '{for (i = 1; i <= NF; i++) {split($i, kv, "="); v[kv[1]] = kv[2]}; print n, v["p50"], v["p99"]}' <<<"$out" >>"$WORK/lat"
}

need
if [[ -n $RATE && ( " $PROXIES " == *" apimgw-pol "* || " $PROXIES " == *" apimgw-base-pol "* ) ]]; then
	echo "apimgw-pol and apimgw-base-pol need their request headers, which bench/loadgen does not send: run them without -R" >&2
	exit 2
fi
[[ -z $RATE ]] || go build -o "$WORK/loadgen" "$ROOT/bench/loadgen"
start_backend
for p in $PROXIES; do
	[[ -z ${PORT[$p]:-} ]] || [[ $p == nginx* && -f $WORK/nginx/nginx.conf ]] || free "${PORT[$p]}"
	case $p in
	apimgw) start_apimgw ;;
	apimgw-base) start_apimgw_base ;;
	apimgw-base-tls) make_cert && start_apimgw_base apimgw-base-tls 9194 ;;
	apimgw-base-pol) start_apimgw_base apimgw-base-pol 9196 "$ROOT/bench/apimgw-policies.yaml" ;;
	miniproxy) start_go_proxy miniproxy miniproxy ;;
	miniproxy-std) start_go_proxy miniproxy-std miniproxy -stdlib ;;
	floor) start_go_proxy floor floor ;;
	floor-gopoll) start_go_proxy floor-gopoll floor ;;
	floor-allocs) start_go_proxy floor-allocs floor -allocs 40 ;;
	floor-reuse) start_go_proxy floor-reuse floor -allocs 40 -reuse ;;
	floor-spin) start_go_proxy floor-spin floor -spin 20us ;;
	floor-tls) make_cert && start_go_proxy floor-tls floor -cert "$WORK/cert.pem" -key "$WORK/key.pem" ;;
	apimgw-tls) make_cert && start_apimgw apimgw-tls 9092 ;;
	apimgw-pol) start_apimgw apimgw-pol 9095 "$ROOT/bench/apimgw-policies.yaml" ;;
	apimgw-1p) start_apimgw apimgw-1p 9099 ;;
	apimgw-gopoll) start_apimgw apimgw-gopoll 9103 ;;
	apimgw-nolog)
		sed 's|^logs: {path: /dev/null}$|logs: {path: /dev/null, sampling: 0}|' "$ROOT/bench/apimgw.yaml" >"$WORK/apimgw-nolog.src.yaml"
		start_apimgw apimgw-nolog 9102 "$WORK/apimgw-nolog.src.yaml"
		;;
	apimgw-1api) gen_apis 1 500 "$WORK/apis-1.yaml" && start_apimgw apimgw-1api 9096 "$WORK/apis-1.yaml" ;;
	apimgw-1k) gen_apis 1000 0 "$WORK/apis-1000.yaml" && start_apimgw apimgw-1k 9097 "$WORK/apis-1000.yaml" ;;
	nginx-ka | nginx | nginx-tls | nginx-log) make_cert && { [[ -f $WORK/nginx/nginx.conf ]] || start_nginx; } ;;
	haproxy) start_haproxy ;;
	*) echo "unknown proxy $p" >&2; exit 2 ;;
	esac
done
# Direct to the backend, for the latency a proxy adds.
PORT[direct]=$BACKEND_PORT

if [[ -n $RATE ]]; then
	echo "loadgen -rate $RATE -c $CONNS -d $DURATION (latencies in ms), $BACKEND backend 127.0.0.1:$BACKEND_PORT, $(nproc) cores"
else
	echo "wrk -t1 -c$CONNS -d$DURATION --latency, $BACKEND backend 127.0.0.1:$BACKEND_PORT, $(nproc) cores$( ((PIN)) && echo ", proxy on CPU 0, backend and wrk on CPU 1")"
	# What wrk's OpenSSL negotiates with each TLS proxy: the keep-alive
	# runs compare only at the same version.
	for p in $PROXIES; do
		[[ $(scheme "$p") == https ]] || continue
		printf "%s with OpenSSL's client, as wrk: %s\n" "$p" "$(openssl s_client -connect "127.0.0.1:${PORT[$p]}" -brief </dev/null 2>&1 |
			awk -F': ' '/^Protocol version/ {v = $2} /^Ciphersuite/ {c = $2} END {print v "/" c}')"
	done
	printf "%-13s %6s %12s %9s %9s %12s %10s %10s %9s\n" proxy round "req/s" "p50(ms)" "p99(ms)" "backendConns" "TIME_WAIT" "CPU/req(µs)" "user(µs)"
fi
# Even rounds run the proxies in the reverse order, so that whatever a
# run's place in the round is worth (the same two builds, each first in
# every round, gave 0.87 and 1.01; docs/benchmarks.md) falls to each proxy
# alike. direct stays first.
REVERSED=$(printf '%s\n' $PROXIES | tac | xargs)
for ROUND in $(seq 1 "$ROUNDS"); do
	order=$PROXIES
	((ROUND % 2)) || order=$REVERSED
	for p in direct $order; do
		run_one "$p"
		sleep 1
	done
done
echo
if [[ -n $PROFILE ]]; then
	if compgen -G "$WORK/profile.*.pprof" >/dev/null; then
		go tool pprof -proto "$WORK"/profile.*.pprof >"$PROFILE" 2>/dev/null
		echo "CPU profiles merged into $PROFILE: $(cd "$WORK" && echo profile.*.pprof)"
		for f in "$WORK"/profile.*.pprof; do
			f=${f##*/profile.}
			cp "$WORK/profile.$f" "${PROFILE%.pprof}.$f"
		done
		echo "each run's own beside it: ${PROFILE%.pprof}.NAME.KIND.ROUND.pprof"
	else
		echo "-P: no apimgw proxy of this build was profiled" >&2
	fi
fi
if [[ -n $RATE ]]; then
	awk '{p50[$1] += $2; p99[$1] += $3; n[$1]++} END {
		d50 = p50["direct"] / n["direct"]; d99 = p99["direct"] / n["direct"]
		for (p in n) printf "%-13s mean p50 %6.3f ms  p99 %6.3f ms  (p99 %+.3f ms over direct)\n", p, p50[p] / n[p], p99[p] / n[p], p99[p] / n[p] - d99
	}' "$WORK/lat" | sort
	exit 0
fi
# Means per proxy, each as a ratio to nginx-ka (to nginx-tls for the TLS
# proxies): req/s, p99, and the proxy process's CPU time per request.
awk '{sum[$1] += $2; p99[$1] += $3; n[$1]++; if ($4 != "-") {cpu[$1] += $4; usr[$1] += $5; nc[$1]++}} END {
	for (p in sum) {
		ref = (p ~ /-tls$/ ? "nginx-tls" : "nginx-ka")
		rps = sum[p] / n[p]; lat = p99[p] / n[p]; c = (nc[p] ? cpu[p] / nc[p] : 0)
		line = sprintf("%-13s mean %8.0f req/s  p99 %6.2f ms  CPU %6.1f µs/req (user %5.1f)", p, rps, lat, c, (nc[p] ? usr[p] / nc[p] : 0))
		if (n[ref] && p != ref) {
			rc = (nc[ref] ? cpu[ref] / nc[ref] : 0)
			line = line sprintf("  | vs %s: req/s %.2f  p99 %.2f", ref, rps / (sum[ref] / n[ref]), lat / (p99[ref] / n[ref]))
			if (c > 0 && rc > 0) line = line sprintf("  CPU/req %.2f", c / rc)
		}
		print line
	}
	if (n["apimgw-1k"] && n["apimgw-1api"]) {
		printf "apimgw-1k (1,000 APIs x 10 operations) req/s %.2f× apimgw-1api'"'"'s (one API, same request)", (sum["apimgw-1k"] / n["apimgw-1k"]) / (sum["apimgw-1api"] / n["apimgw-1api"])
		if (nc["apimgw-1k"] && nc["apimgw-1api"]) printf ", CPU/req %.2f×", (cpu["apimgw-1k"] / nc["apimgw-1k"]) / (cpu["apimgw-1api"] / nc["apimgw-1api"])
		printf "\n"
	}
	if (nc["apimgw-pol"] && nc["apimgw"]) printf "apimgw-pol CPU per request %.2f× apimgw'"'"'s (typical policies vs the empty pipeline)\n", (cpu["apimgw-pol"] / nc["apimgw-pol"]) / (cpu["apimgw"] / nc["apimgw"])
	if (nc["apimgw-base-pol"] && nc["apimgw-base"]) printf "apimgw-base-pol CPU per request %.2f× apimgw-base'"'"'s\n", (cpu["apimgw-base-pol"] / nc["apimgw-base-pol"]) / (cpu["apimgw-base"] / nc["apimgw-base"])
}' "$WORK/rps" | sort
# TLS: keep-alive req/s and new connections/s as a ratio to nginx-tls.
# NAME-new and NAME-new12 compare with nginx-tls-new and nginx-tls-new12;
# the protocol each negotiated (its last run's) is printed, and a warning
# when the proxies of one kind did not all negotiate the same version and
# cipher suite.
[[ ! -f $WORK/newconns ]] || awk '{sum[$1] += $2; n[$1]++; if ($4 != "-") {cpu[$1] += $4; nc[$1]++}; if (NF >= 6) proto[$1] = $6} END {
	for (p in sum) if (p ~ /-tls(-new(12)?)?$/) {
		ref = p; sub(/^.*-tls/, "nginx-tls", ref)
		isnew = (p ~ /-new(12)?$/)
		avg = sum[p] / n[p]; r = (n[ref] ? sum[ref] / n[ref] : 0)
		unit = (isnew ? "conns/s" : "req/s")
		c = (nc[p] ? cpu[p] / nc[p] : 0); rc = (nc[ref] ? cpu[ref] / nc[ref] : 0)
		cu = (isnew ? "conn" : "req")
		if (r > 0) printf "%-16s mean %10.0f %-7s  %5.1f%% of %s", p, avg, unit, 100 * avg / r, ref
		else printf "%-16s mean %10.0f %s", p, avg, unit
		if (c > 0) printf "  CPU %.1f µs/%s", c, cu
		if (c > 0 && rc > 0 && p != ref) printf " (%.2f× %s)", c / rc, ref
		if (p in proto) printf "  %s", proto[p]
		printf "\n"
		if (p in proto) {
			kind = p; sub(/^.*-tls-/, "", kind)
			if (kind in first && first[kind] != proto[p]) mixed[kind] = 1
			first[kind] = proto[p]
		}
	}
	for (kind in mixed) printf "WARNING: the -%s runs did not all negotiate the same TLS version and cipher suite: their rates compare unlike work\n", kind
}' "$WORK/rps" "$WORK/newconns" | sort
# Per-round ratios, median and range: on a shared machine the CPU a run
# gets changes over seconds, and a ratio of two runs made one after the
# other in the same round is steadier than a ratio of means.
((ROUNDS < 2)) || echo "per-round ratios, median (range):"
((ROUNDS < 2)) || { cat "$WORK/rps" "$WORK/newconns" 2>/dev/null || true; } | awk '
function med(a, k,   i, j, t) { # sorts a[1..k] in place, returns its median
	for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
function show(label, a, k,   m) { m = med(a, k); return sprintf("%s %.2f (%.2f-%.2f)", label, m, a[1], a[k]) }
function pair(p, ref, what,   r, k, x, y, z, u, line) {
	k = 0
	for (r = 1; r <= rounds[p]; r++) if ((p SUBSEP r) in v2 && (ref SUBSEP r) in v2) {
		k++; x[k] = v2[p, r] / v2[ref, r]
		if (v3[p, r] != "-" && v3[ref, r] != "-") y[k] = v3[p, r] / v3[ref, r]
		if (v4[p, r] != "-" && v4[ref, r] != "-") z[k] = v4[p, r] / v4[ref, r]
		if (v5[p, r] != "-" && v5[ref, r] > 0) u[k] = v5[p, r] / v5[ref, r]
	}
	if (k < 2) return
	line = sprintf("%-13s / %-13s %2d rounds: ", p, ref, k) show(what, x, k)
	if (length(y) == k) line = line "  " show("p99", y, k)
	if (length(z) == k) line = line "  " show("CPU/" (what == "conns/s" ? "conn" : "req"), z, k)
	if (length(u) == k) line = line "  " show("user", u, k)
	print line
}
{ r = ++rounds[$1]; v2[$1, r] = $2; v3[$1, r] = $3; v4[$1, r] = $4; v5[$1, r] = ($5 == "" ? "-" : $5) }
END {
	for (p in rounds) {
		if (p == "direct" || p == "nginx-ka" || p == "nginx-tls" || p == "nginx-tls-new") continue
		if (p == "nginx-tls-new12") continue
		if (p ~ /-new(12)?$/) { ref = p; sub(/^.*-tls/, "nginx-tls", ref); pair(p, ref, "conns/s") }
		else if (p ~ /-tls$/) pair(p, "nginx-tls", "req/s")
		else pair(p, "nginx-ka", "req/s")
	}
	pair("apimgw-pol", "apimgw", "req/s")
	pair("apimgw-1k", "apimgw-1api", "req/s")
	pair("apimgw", "apimgw-base", "req/s")
	# The work of the gateway itself: its user time over that of the
	# leanest Go proxy, whose system calls are the same.
	pair("apimgw", "floor", "req/s")
	pair("apimgw", "nginx-log", "req/s")
	# The order in which the poller serves ready connections.
	pair("apimgw", "apimgw-gopoll", "req/s")
	pair("floor", "floor-gopoll", "req/s")
	pair("apimgw-tls", "floor-tls", "req/s")
	pair("apimgw-tls-new", "floor-tls-new", "conns/s")
	pair("apimgw-tls-new12", "floor-tls-new12", "conns/s")
}' | sort
# Resident memory of the large-configuration proxies after their runs.
for p in apimgw-1api apimgw-1k; do
	[[ " $PROXIES " == *" $p "* ]] || continue
	printf "%-13s resident memory %s KiB after the run\n" "$p" "$(rss_kb "$p")"
done
