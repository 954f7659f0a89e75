# The markdown summary of one run, from $RUN/results.tsv, load_rss.tsv, memory.tsv and tls.tsv (formats in
# measure.sh and run.sh). Sourced by bench/run.sh.

machine() {
  local cpu
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  printf 'Machine: %s CPU(s) (nproc), %s, Linux %s, %s MiB RAM. ' "$(nproc)" "${cpu:-unknown CPU}" \
    "$(uname -r)" "$(awk '/^MemTotal/ { printf "%d", $2 / 1024 }' /proc/meminfo)"
  printf 'Tools: %s, %s, %s, %s. ' "$(nginx -v 2>&1 | sed 's/.*: //')" \
    "$(haproxy -v | awk 'NR == 1 { print "HAProxy " $3 }')" \
    "$(wrk --version 2>&1 | awk 'NR == 1 { print "wrk " $2 }')" "$(h2load --version | head -1)"
  printf '%s per point, best of ROUNDS=%s, wrk -t%s; load generator, upstream (nginx, %s workers) and proxy share the machine.\n' \
    "$DURATION" "$ROUNDS" "$WRK_THREADS" "$(nproc)"
}

# One row per workload, connection count and worker count; one column per target, then
# langsmith-proxy (as shipped: access log on) over nginx and over HAProxy. MODE `throughput`:
# req/s · p50 / p99 ms from each point's best round (errors of every round are flagged), ratios
# of req/s and of p99. MODE `cpu`: the target's own CPU µs per request (lowest round) and its
# user-space part, the measure that shared-machine noise barely moves; "no proxy" is the
# upstream's CPU. Ratios compare the totals.
points_table() {
  awk -F'\t' -v mode="$1" '
    {
      key = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
      err[key] += $8
      if (!(key in cpu) || $9 < cpu[key]) { cpu[key] = $9; user[key] = $10 }
      if (!(key in rps) || $5 > rps[key]) { rps[key] = $5; p50[key] = $6; p99[key] = $7 }
      if ($1 != "direct" && !(($3, $4, $2) in seen)) { seen[$3, $4, $2] = 1; rows[++n] = $3 SUBSEP $4 SUBSEP $2 }
    }
    function cell(key) {
      if (!(key in rps)) return "-"
      if (mode == "cpu") return user[key] == "" ? cpu[key] : sprintf("%s (user %s)", cpu[key], user[key])
      s = sprintf("%.1fk · %.2f / %.2f", rps[key] / 1000, p50[key], p99[key])
      return err[key] > 0 ? s " ⚠ " err[key] " errors" : s
    }
    function ratio(a, b) {
      if (!(a in rps) || !(b in rps)) return "-"
      if (mode == "cpu") return cpu[b] > 0 ? sprintf("%.2f×", cpu[a] / cpu[b]) : "-"
      if (rps[b] == 0 || p99[b] == 0) return "-"
      return sprintf("%.2f× · p99 %.2f×", rps[a] / rps[b], p99[a] / p99[b])
    }
    END {
      names["get"] = "GET /info"; names["post64k"] = "POST 64 KiB"; names["h2c-get"] = "GET /info, h2c ×10 streams"
      printf "| workload | conns | workers | %s | langsmith-proxy | langsmith-proxy, access log off | hyper floor | nginx | HAProxy | langsmith-proxy / nginx | langsmith-proxy / HAProxy |\n",
        mode == "cpu" ? "upstream (no proxy)" : "no proxy"
      print "|---|---|---|---|---|---|---|---|---|---|---|"
      for (i = 1; i <= n; i++) {
        split(rows[i], r, SUBSEP)
        at = SUBSEP r[3] SUBSEP r[1] SUBSEP r[2]
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", names[r[1]], r[2], r[3],
          cell("direct" at), cell("langsmith-proxy" at), cell("langsmith-proxy-nolog" at),
          cell("hyper-floor" at), cell("nginx" at), cell("haproxy" at),
          ratio("langsmith-proxy" at, "nginx" at), ratio("langsmith-proxy" at, "haproxy" at)
      }
    }' "$RUN/results.tsv"
}

memory_table() {
  echo "| target | ready: accepting / first response | idle RSS | RSS, 1,000 keep-alive conns | 1 GiB chunked upload: peak RSS, MiB/s |"
  echo "|---|---|---|---|---|"
  awk -F'\t' '
    function m(k) { return k == "-" ? "-" : sprintf("%.1f MiB", k / 1024) }
    {
      split($7, up, " ")
      # The sink upstream reports how many body bytes reached it: all of them, or a failure.
      if (up[1] != "200" || up[2] != 1073741824) upload = sprintf("failed (HTTP %s, %s bytes arrived)", up[1], up[2])
      else if ($1 == "direct") upload = sprintf("%s MiB/s", up[3])
      else upload = sprintf("%s, %s MiB/s", m($6), up[3])
      ready = $2 == "-" ? "-" : sprintf("%s / %s ms", $2, $3)
      printf "| %s | %s | %s | %s | %s |\n", $1, ready, m($4), $5 == 0 ? "failed" : m($5), upload
    }' "$RUN/memory.tsv"
}

# Peak RSS of each target over all throughput workloads, one row per worker count.
load_rss_table() {
  echo "| workers | langsmith-proxy | langsmith-proxy, access log off | hyper floor | nginx | HAProxy |"
  echo "|---|---|---|---|---|---|"
  awk -F'\t' '
    { kib[$1, $2] = $3; if (!($2 in seen)) { seen[$2] = 1; rows[++n] = $2 } }
    function m(k) { return k == "" ? "-" : sprintf("%.1f MiB", k / 1024) }
    END {
      for (i = 1; i <= n; i++) {
        w = rows[i]
        printf "| %s | %s | %s | %s | %s | %s |\n", w, m(kib["langsmith-proxy", w]), m(kib["langsmith-proxy-nolog", w]),
          m(kib["hyper-floor", w]), m(kib["nginx", w]), m(kib["haproxy", w])
      }
    }' "$RUN/load_rss.tsv"
}

tls_table() {
  echo "| target | requests | new upstream connections | per 10,000 requests | reuse |"
  echo "|---|---|---|---|---|"
  awk -F'\t' '$2 > 0 {
    printf "| %s | %d | %d | %.1f | %.2f %% |\n", $1, $2, $3, $3 * 10000 / $2, (1 - $3 / $2) * 100
  }' "$RUN/tls.tsv"
}

# The issue-9 targets, met or not, for langsmith-proxy as shipped.
targets_table() {
  echo "| target | measured | met |"
  echo "|---|---|---|"
  awk -F'\t' '
    FILENAME ~ /results/ {
      key = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
      if (!(key in rps) || $5 > rps[key]) { rps[key] = $5; p99[key] = $7 }
      next
    }
    FILENAME ~ /memory/ && $1 == "langsmith-proxy" { ready = $3; idle = $4 / 1024; held = $5 / 1024; split($7, up, " "); if (up[2] == 1073741824) upload = $6 / 1024; next }
    FILENAME ~ /tls/ && $1 == "langsmith-proxy" && $2 > 0 { reuse = (1 - $3 / $2) * 100 }
    function yes(ok) { return ok ? "yes" : "**no**" }
    END {
      for (key in rps) {
        split(key, k, SUBSEP)
        if (k[1] != "langsmith-proxy") continue
        for (o = 1; o <= 2; o++) {
          other = (o == 1 ? "nginx" : "haproxy") SUBSEP k[2] SUBSEP k[3] SUBSEP k[4]
          if (!(other in rps)) continue
          points++
          if (rps[key] >= 1.2 * rps[other]) fast++
          if (p99[key] <= p99[other]) tail++
          r = rps[key] / rps[other]; if (min == "" || r < min) min = r; if (r > max) max = r
        }
      }
      printf "| throughput ≥ 1.2× nginx and HAProxy, equal workers | %d of %d comparisons (ratios %.2f–%.2f×) | %s |\n", fast, points, min, max, yes(points && fast == points)
      printf "| p99 ≤ nginx and HAProxy | %d of %d comparisons | %s |\n", tail, points, yes(points && tail == points)
      printf "| idle RSS ≤ 10 MiB | %.1f MiB | %s |\n", idle, yes(idle > 0 && idle <= 10)
      printf "| RSS ≤ 40 MiB with 1,000 connections | %.1f MiB | %s |\n", held, yes(held > 0 && held <= 40)
      printf "| 1 GiB upload peak RSS ≤ 32 MiB | %.1f MiB | %s |\n", upload, yes(upload > 0 && upload <= 32)
      printf "| ready ≤ 50 ms (first proxied response) | %s ms | %s |\n", ready, yes(ready >= 0 && ready <= 50)
      printf "| upstream connection reuse ≥ 99.9 %% (TLS) | %.2f %% | %s |\n", reuse, yes(reuse >= 99.9)
    }' "$RUN/results.tsv" "$RUN/memory.tsv" "$RUN/tls.tsv"
}

summary() {
  echo
  echo "## langsmith-proxy benchmark ($(date -u +%Y-%m-%d))"
  echo
  machine
  echo
  echo "Throughput: req/s · p50 / p99 ms. Ratios: req/s and p99 of langsmith-proxy (as shipped, access log on) over the other. The hyper floor is examples/bare_forwarder.rs: the same stack (hyper 1, hyper-util, tokio, one thread per worker) with none of the proxy's features, so what no tuning of langsmith-proxy can beat."
  echo
  points_table throughput
  echo
  echo "CPU time per request, µs (the target's user + system time over the requests it answered, and the part of it spent in user space; lower is leaner):"
  echo
  points_table cpu
  echo
  echo "Peak RSS under the throughput workloads above (up to 500 connections sending 64 KiB bodies; sum over the process tree):"
  echo
  load_rss_table
  echo
  echo "Memory (sum over the process tree; peak = VmHWM) and start, at $MAX_WORKERS worker(s):"
  echo
  memory_table
  echo
  echo "TLS upstream (h2 offered by ALPN), 10,000 requests over 50 client connections, $MAX_WORKERS worker(s):"
  echo
  tls_table
  echo
  echo "Targets (issue 9), langsmith-proxy as shipped:"
  echo
  targets_table
}
