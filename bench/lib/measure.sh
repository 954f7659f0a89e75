# Load generators and probes. Sourced by bench/run.sh (needs RUN, DURATION, WRK_THREADS, and
# TPID: target name -> pid whose process tree's CPU time is charged to that target).
# Every load function appends one tab-separated line to $RUN/results.tsv:
#   target  workers  workload  connections  req/s  p50_ms  p99_ms  errors  cpu_us_per_request
#   user_us_per_request
# CPU per request is the target's own user+system time over the requests it answered: unlike
# req/s it barely moves when other work shares the machine. Its user-space part is what a proxy
# adds beyond the system calls every proxy makes.

CLK_TCK=$(getconf CLK_TCK)

# "USER SYSTEM" clock ticks of a process tree (fields 14 and 15 of /proc/PID/stat).
cpu_ticks() {
  local p user=0 system=0 u s
  for p in $(process_tree "$1"); do
    read -r u s < <(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null | awk '{ print $12, $13 }')
    user=$((user + ${u:-0}))
    system=$((system + ${s:-0}))
  done
  echo "$user $system"
}

# "TOTAL_US USER_US" of CPU per request, from cpu_ticks before and after and a request count.
cpu_per_request() {
  awk -v before="$1" -v after="$2" -v n="$3" -v hz="$CLK_TCK" 'BEGIN {
    split(before, b, " "); split(after, a, " ")
    user = a[1] - b[1]; total = user + a[2] - b[2]
    if (n > 0) printf "%.1f\t%.1f", total * 1e6 / hz / n, user * 1e6 / hz / n
    else printf "0\t0"
  }'
}

# wrk latency like `512.00us`, `1.20ms`, `1.02s` -> milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
    else { sub(/s$/, "", v); printf "%.3f", v * 1000 }
  }'
}

# wrk against URL: record TARGET WORKERS WORKLOAD CONNS URL [wrk args...]
wrk_run() {
  local target=$1 workers=$2 workload=$3 conns=$4 url=$5
  shift 5
  local out="$RUN/wrk-$target-$workers-$workload-$conns.txt"
  local threads=$WRK_THREADS
  ((threads > conns)) && threads=$conns
  local before after
  before=$(cpu_ticks "${TPID[$target]}")
  wrk -t "$threads" -c "$conns" -d "$DURATION" --latency "$@" "$url" >"$out" 2>&1 || true
  after=$(cpu_ticks "${TPID[$target]}")
  local rps p50 p99 errors cpu
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
  # Socket errors and non-2xx responses: a proxy that answers 502 fast must not look fast.
  errors=$(awk '/Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
                /Non-2xx/ { n += $NF } END { print n + 0 }' "$out")
  cpu=$(cpu_per_request "$before" "$after" "$(awk '$2 == "requests" { print $1 }' "$out")")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$workers" "$workload" "$conns" \
    "${rps:-0}" "${p50:-0}" "${p99:-0}" "$errors" "$cpu" >>"$RUN/results.tsv"
}

# h2load over h2c (prior knowledge), 10 streams per connection; percentiles from its log file.
h2load_run() {
  local target=$1 workers=$2 workload=$3 conns=$4 url=$5
  local out="$RUN/h2load-$target-$workers-$conns.txt" log="$RUN/h2load-$target-$workers-$conns.log"
  local threads=$WRK_THREADS
  local before after
  before=$(cpu_ticks "${TPID[$target]}")
  h2load -t "$threads" -c "$conns" -m 10 -D "${DURATION%s}" --log-file="$log" "$url" >"$out" 2>&1 || true
  after=$(cpu_ticks "${TPID[$target]}")
  local rps errors p50 p99 cpu
  rps=$(awk '/^finished in/ { gsub(/,/, ""); printf "%.0f", $4 }' "$out")
  errors=$(awk '/^requests:/ { gsub(/,/, ""); n += $10 + $12 + $14 }
                /^status codes:/ { gsub(/,/, ""); n += $5 + $7 + $9 } END { print n + 0 }' "$out")
  read -r p50 p99 < <(awk -F'\t' '$2 == 200 { print $3 }' "$log" 2>/dev/null | sort -n | awk '
    { v[NR] = $1 } END {
      if (NR == 0) { print "0 0"; exit }
      i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
      i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
      printf "%.3f %.3f\n", v[i50] / 1000, v[i99] / 1000
    }')
  rm -f "$log"
  cpu=$(cpu_per_request "$before" "$after" "$(awk '/^requests:/ { gsub(/,/, ""); print $8 }' "$out")")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$workers" "$workload" "$conns" \
    "${rps:-0}" "$p50" "$p99" "$errors" "$cpu" >>"$RUN/results.tsv"
}

# The pid and its descendants (nginx master + workers); one pid for the others.
process_tree() {
  local pid=$1 child
  echo "$pid"
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
    process_tree "$child"
  done
}

# Sum of a /proc/PID/status field (VmRSS now, VmHWM peak) over the tree, in KiB.
tree_kib() {
  local pid=$1 field=$2 total=0 p kib
  for p in $(process_tree "$pid"); do
    kib=$(awk -v f="$field:" '$1 == f { print $2 }' /proc/"$p"/status 2>/dev/null)
    total=$((total + ${kib:-0}))
  done
  echo "$total"
}

# Starts a new peak (VmHWM) for every process in the tree (Linux clear_refs, value 5).
reset_peak() {
  local p
  for p in $(process_tree "$1"); do
    echo 5 >/proc/"$p"/clear_refs 2>/dev/null || true
  done
}

# Starts target NAME with W workers and sets READY to "ACCEPT_MS RESPONSE_MS": milliseconds
# until its port accepts a connection, and until the first proxied response arrives. No fork
# per probe: bash opens the socket itself. -1 when the target died or did not answer 200.
time_to_ready() {
  local name=$1 workers=$2 t0 t_accept status fd
  t0=$EPOCHREALTIME
  start_target "$name" "$workers"
  until exec {fd}<>/dev/tcp/127.0.0.1/"$TARGET_PORT"; do
    kill -0 "$TARGET_PID" || { READY="-1 -1"; return; }
  done 2>/dev/null
  t_accept=$EPOCHREALTIME
  printf 'GET /info HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&"$fd"
  read -r -t 10 _ status _ <&"$fd" || status=""
  exec {fd}>&-
  READY=$(awk -v a="$t0" -v b="$t_accept" -v c="$EPOCHREALTIME" -v ok="$status" \
    'BEGIN { if (ok != "200") print "-1 -1"; else printf "%.1f %.1f\n", (b - a) * 1000, (c - a) * 1000 }')
}

# 1 GiB streamed (chunked, no Content-Length) upload through PORT to the sink; prints
# "HTTP_CODE BYTES_THE_UPSTREAM_RECEIVED MiB/s".
upload_gib() {
  local port=$1 out
  out=$(head -c 1073741824 /dev/zero |
    curl -sS -T - -X POST -H 'Content-Type: application/octet-stream' \
      -w ' %{http_code} %{speed_upload}' "http://127.0.0.1:$port/upload" 2>&1) || true
  awk '{ r = $1; gsub(/[^0-9]/, "", r); printf "%s %s %.0f\n", $(NF - 1), r + 0, $NF / 1048576 }' <<<"$out"
}

# Sends 10,000 HTTP/1.1 requests through PORT and counts the TLS upstream's new connections
# from its access log ($pid-$connection per request). Prints "REQUESTS CONNECTIONS".
tls_reuse() {
  local port=$1 before
  before=$(wc -l <"$RUN/upstream-tls.log" 2>/dev/null || echo 0)
  h2load --h1 -t "$WRK_THREADS" -c 50 -n 10000 "http://127.0.0.1:$port/info" >"$RUN/tls-$port.txt" 2>&1 || true
  # nginx writes its access log line after the response; let the last lines land.
  sleep 0.5
  tail -n +"$((before + 1))" "$RUN/upstream-tls.log" |
    awk '$3 == 200 { n++; seen[$1] = 1 } END { c = 0; for (k in seen) c++; print n + 0, c }'
}
