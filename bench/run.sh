#!/usr/bin/env bash
# langsmith-proxy against nginx, HAProxy and no proxy, side by side in one run (issue 9).
#
#   bench/run.sh
#
# Knobs (environment): DURATION=5s per measurement, WORKERS="1 2", CONNS="50 500",
# ROUNDS=1 (best round kept per point), WRK_THREADS=2 load-generator threads,
# KEEP=1 keeps the scratch directory (logs, raw outputs).
# Installs nginx, haproxy, wrk and h2load with apt-get when missing, builds the release binary,
# and prints a markdown summary (also written to $RUN/summary.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${DURATION:-5s}
WORKERS=${WORKERS:-1 2}
CONNS=${CONNS:-50 500}
WRK_THREADS=${WRK_THREADS:-2}
ROUNDS=${ROUNDS:-1}
BIN=$ROOT/target/release/langsmith-proxy
# The floor: a bare forwarder on the same stack (examples/bare_forwarder.rs).
FLOOR_BIN=$ROOT/target/release/examples/bare_forwarder
# Shaped like LangSmith's GET /info answer.
RESPONSE_JSON='{"version":"0.10.0","license_expiration_time":null,"batch_ingest_config":{"size_limit_bytes":20971520}}'
KEY=lsv2_pt_$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
MAX_WORKERS=$(tr ' ' '\n' <<<"$WORKERS" | sort -n | tail -1)

source "$ROOT/bench/lib/targets.sh"
source "$ROOT/bench/lib/measure.sh"
source "$ROOT/bench/lib/summary.sh"

log() { printf '== %s\n' "$*" >&2; }

install_missing() {
  local missing=() tool package
  for tool in nginx:nginx haproxy:haproxy wrk:wrk h2load:nghttp2-client curl:curl openssl:openssl python3:python3; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
  done
  ((${#missing[@]} == 0)) && return
  log "installing ${missing[*]}"
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

declare -A TPID
PIDS=()
track() { PIDS+=("$1"); }
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ ${KEEP:-} == 1 ]] && log "scratch directory kept: $RUN" || rm -rf "$RUN"
}

NEXT_PORT=${BENCH_PORT_BASE:-18100}
# Sets each named variable to a port nobody listens on.
free_ports() {
  local name
  for name in "$@"; do
    while [[ -n $(ss -Hltn "sport = :$NEXT_PORT") ]]; do NEXT_PORT=$((NEXT_PORT + 1)); done
    printf -v "$name" '%s' "$NEXT_PORT"
    NEXT_PORT=$((NEXT_PORT + 1))
  done
}

# Waits up to 10 s for PORT to accept a connection.
wait_port() {
  local deadline=$((${EPOCHREALTIME%.*} + 10))
  until { : <>/dev/tcp/127.0.0.1/"$1"; } 2>/dev/null; do
    if ((${EPOCHREALTIME%.*} > deadline)); then
      log "port $1 did not open; logs in $RUN"
      KEEP=1
      exit 1
    fi
  done
}

TARGETS=(langsmith-proxy langsmith-proxy-nolog hyper-floor nginx haproxy)

# Starts target NAME with W workers (each target has its own ports, so all can run at once);
# sets TARGET_PID, TARGET_PORT (HTTP/1.1) and H2C_PORT.
start_target() {
  local name=$1 workers=$2
  case $name in
    langsmith-proxy)
      start_langsmith_proxy "$workers" "$LSP" "$LSP_ADMIN" "http://127.0.0.1:$UP" info
      TARGET_PORT=$LSP H2C_PORT=$LSP ;;
    langsmith-proxy-nolog)
      start_langsmith_proxy "$workers" "$LSP_NOLOG" "$LSP_NOLOG_ADMIN" "http://127.0.0.1:$UP" warn
      TARGET_PORT=$LSP_NOLOG H2C_PORT=$LSP_NOLOG ;;
    hyper-floor)
      start_hyper_floor "$workers" "$FLOOR"
      TARGET_PORT=$FLOOR H2C_PORT=$FLOOR ;;
    nginx)
      start_nginx "$workers" "$NGX" "$NGX_H2C" "$NGX_TLS"
      TARGET_PORT=$NGX H2C_PORT=$NGX_H2C ;;
    haproxy)
      start_haproxy "$workers" "$HAP" "$HAP_TLS"
      TARGET_PORT=$HAP H2C_PORT=$HAP ;;
    # No proxy: the CPU charged is the upstream's own.
    direct) TARGET_PID=$UPSTREAM_PID TARGET_PORT=$UP H2C_PORT=$UP_H2C ;;
  esac
}

# Every target runs at once at W workers, and each workload visits them back to back, so load
# from elsewhere on the machine falls on all of them alike. ROUNDS repeats the whole set; the
# summary keeps each point's best round.
throughput() {
  local workers name round conns pids
  local -A port h2c
  for workers in $WORKERS; do
    log "throughput: ${TARGETS[*]} and no proxy, $workers worker(s)"
    pids=()
    for name in direct "${TARGETS[@]}"; do
      start_target "$name" "$workers"
      [[ $name != direct ]] && pids+=("$TARGET_PID")
      TPID[$name]=$TARGET_PID
      port[$name]=$TARGET_PORT h2c[$name]=$H2C_PORT
      wait_port "$TARGET_PORT"
      wrk -t 1 -c 10 -d 1s "http://127.0.0.1:$TARGET_PORT/info" >/dev/null 2>&1 || true # warm-up
    done
    for round in $(seq "$ROUNDS"); do
      for conns in $CONNS; do
        for name in direct "${TARGETS[@]}"; do
          wrk_run "$name" "$workers" get "$conns" "http://127.0.0.1:${port[$name]}/info"
        done
        for name in direct "${TARGETS[@]}"; do
          wrk_run "$name" "$workers" post64k "$conns" "http://127.0.0.1:${port[$name]}/runs/multipart" -s "$RUN/post.lua"
        done
      done
      for name in direct "${TARGETS[@]}"; do
        h2load_run "$name" "$workers" h2c-get 50 "http://127.0.0.1:${h2c[$name]}/info"
      done
    done
    # The most memory each target held under any of these workloads (500 connections sending
    # 64 KiB bodies weigh most).
    for name in "${TARGETS[@]}"; do
      printf '%s\t%s\t%s\n' "$name" "$workers" "$(tree_kib "${TPID[$name]}" VmHWM)" >>"$RUN/load_rss.tsv"
    done
    for name in "${pids[@]}"; do stop_target "$name"; done
  done
}

# Peak RSS of target NAME with 1,000 idle keep-alive connections (0 when they could not be held).
held_connections_kib() {
  local pid=$1 port=$2 line
  reset_peak "$pid"
  coproc HOLD { python3 "$ROOT/bench/hold_connections.py" "$port" 1000; }
  local hold_out=${HOLD[0]} hold_in=${HOLD[1]} hold_pid=$HOLD_PID
  read -r -t 120 line <&"$hold_out" || line="failed"
  local peak
  peak=$(tree_kib "$pid" VmHWM)
  exec {hold_in}>&-
  wait "$hold_pid" 2>/dev/null || true
  [[ $line == "held 1000" ]] && echo "$peak" || echo 0
}

# Ready time (median of 5 starts); then, on a fresh instance, idle RSS and RSS with 1,000
# keep-alive connections; then, on another fresh instance, peak RSS during a 1 GiB streamed
# upload. All at the largest worker count.
memory() {
  local name times ready accept i idle held upload_peak upload
  for name in langsmith-proxy nginx haproxy; do
    log "memory and start: $name, $MAX_WORKERS worker(s)"
    times=()
    for i in 1 2 3 4 5; do
      time_to_ready "$name" "$MAX_WORKERS"
      times+=("$READY")
      stop_target "$TARGET_PID"
    done
    accept=$(printf '%s\n' "${times[@]}" | awk '{ print $1 }' | sort -n | sed -n 3p)
    ready=$(printf '%s\n' "${times[@]}" | awk '{ print $2 }' | sort -n | sed -n 3p)

    start_target "$name" "$MAX_WORKERS"
    wait_port "$TARGET_PORT"
    curl -sS -o /dev/null "http://127.0.0.1:$TARGET_PORT/info"
    idle=$(tree_kib "$TARGET_PID" VmHWM)
    held=$(held_connections_kib "$TARGET_PID" "$TARGET_PORT")
    stop_target "$TARGET_PID"

    start_target "$name" "$MAX_WORKERS"
    wait_port "$TARGET_PORT"
    curl -sS -o /dev/null "http://127.0.0.1:$TARGET_PORT/info"
    reset_peak "$TARGET_PID"
    upload=$(upload_gib "$TARGET_PORT")
    upload_peak=$(tree_kib "$TARGET_PID" VmHWM)
    stop_target "$TARGET_PID"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$accept" "$ready" "$idle" "$held" \
      "$upload_peak" "$upload" >>"$RUN/memory.tsv"
  done
  log "upload: no proxy"
  printf 'direct\t-\t-\t-\t-\t-\t%s\n' "$(upload_gib "$UP")" >>"$RUN/memory.tsv"
}

# New upstream connections per 10,000 requests to a TLS upstream (h2 by ALPN where the proxy
# speaks it), at the largest worker count.
tls_upstream() {
  local name result
  for name in langsmith-proxy nginx haproxy; do
    log "TLS upstream reuse: $name"
    case $name in
      langsmith-proxy)
        start_langsmith_proxy "$MAX_WORKERS" "$LSP" "$LSP_ADMIN" "https://localhost:$UP_TLS" info \
          --upstream-ca-file "$RUN/tls/ca.pem"
        TARGET_PORT=$LSP ;;
      nginx) start_nginx "$MAX_WORKERS" "$NGX" "$NGX_H2C" "$NGX_TLS"; TARGET_PORT=$NGX_TLS ;;
      haproxy) start_haproxy "$MAX_WORKERS" "$HAP" "$HAP_TLS"; TARGET_PORT=$HAP_TLS ;;
    esac
    wait_port "$TARGET_PORT"
    result=$(tls_reuse "$TARGET_PORT")
    printf '%s\t%s\n' "$name" "${result// /$'\t'}" >>"$RUN/tls.tsv"
    stop_target "$TARGET_PID"
  done
}

main() {
  install_missing
  log "cargo build --release --locked"
  cargo build --release --locked
  cargo build --release --locked --example bare_forwarder
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

  RUN=$(mktemp -d /tmp/langsmith-proxy-bench.XXXXXX)
  trap cleanup EXIT
  free_ports UP UP_H2C UP_TLS SINK LSP LSP_ADMIN LSP_NOLOG LSP_NOLOG_ADMIN FLOOR NGX NGX_H2C NGX_TLS HAP HAP_TLS
  printf 'wrk.method = "POST"\nwrk.body = string.rep("x", 65536)\nwrk.headers["Content-Type"] = "multipart/form-data; boundary=x"\n' >"$RUN/post.lua"
  : >"$RUN/results.tsv"
  : >"$RUN/memory.tsv"
  : >"$RUN/load_rss.tsv"
  : >"$RUN/tls.tsv"

  make_tls
  start_upstream
  throughput
  memory
  tls_upstream
  summary | tee "$RUN/summary.md"
}

main "$@"
