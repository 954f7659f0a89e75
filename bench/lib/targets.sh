# Starts and stops the processes under test. Sourced by bench/run.sh, which sets RUN (a scratch
# directory), KEY, RESPONSE_JSON and the port variables, and provides `track` (remember a pid so
# it is stopped on exit) and `wait_port`.

# What both nginx configurations share, up to the open `http {` block: NAME names the files
# under $RUN, WORKERS the worker processes. No access log; connections are kept indefinitely.
nginx_preamble() {
  local name=$1 workers=$2
  cat <<EOF
worker_processes $workers;
worker_rlimit_nofile 20000;
daemon off;
pid $RUN/$name.pid;
error_log $RUN/$name-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 600s;
  client_max_body_size 0;
  client_body_temp_path $RUN/$name-body;
EOF
}

# The fast local upstream: nginx answering every request with a small JSON body (bodies of POSTs
# are read and discarded), on plain HTTP/1.1 (UP), h2c (UP_H2C) and TLS with h2 by ALPN (UP_TLS);
# /upload goes on to bench/upload_sink.py (SINK), which counts every body byte. Sets UPSTREAM_PID.
# Upstream connections are never closed by the upstream, so reuse figures are the proxy's alone.
start_upstream() {
  {
    nginx_preamble upstream auto
    cat <<EOF
  log_format connection '\$pid-\$connection \$request_length \$status';
  default_type application/json;
  server {
    listen 127.0.0.1:$UP;
    listen 127.0.0.1:$UP_H2C http2;
    location / { return 200 '$RESPONSE_JSON'; }
    # The upload test's body goes on to the sink, which counts it before answering.
    location /upload {
      proxy_pass http://127.0.0.1:$SINK;
      proxy_http_version 1.1;
      proxy_request_buffering off;
    }
  }
  server {
    listen 127.0.0.1:$UP_TLS ssl http2;
    ssl_certificate $RUN/tls/localhost.pem;
    ssl_certificate_key $RUN/tls/localhost.key;
    access_log $RUN/upstream-tls.log connection;
    location / { return 200 '$RESPONSE_JSON'; }
  }
}
EOF
  } >"$RUN/upstream.conf"
  python3 "$ROOT/bench/upload_sink.py" "$SINK" 2>>"$RUN/upload-sink.log" &
  track $!
  nginx -p "$RUN" -c "$RUN/upstream.conf" 2>>"$RUN/upstream-error.log" &
  UPSTREAM_PID=$!
  track "$UPSTREAM_PID"
  wait_port "$UP" && wait_port "$UP_H2C" && wait_port "$UP_TLS" && wait_port "$SINK"
}

# A self-signed CA and a `localhost` certificate it signs, for the TLS upstream.
make_tls() {
  local dir="$RUN/tls"
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=langsmith-proxy bench CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=localhost" -keyout "$dir/localhost.key" -out "$dir/localhost.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$dir/ext.cnf"
  openssl x509 -req -in "$dir/localhost.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile "$dir/ext.cnf" -out "$dir/localhost.pem" 2>/dev/null
}

# langsmith-proxy with N workers (--workers) on PORT (admin on ADMIN), forwarding to UPSTREAM, at log
# LEVEL; extra args follow. Sets TARGET_PID.
start_langsmith_proxy() {
  local workers=$1 port=$2 admin=$3 upstream=$4 level=$5
  shift 5
  # Run from the scratch directory so no config/langsmith-proxy.toml is picked up.
  (cd "$RUN" && LANGSMITH_API_KEY=$KEY exec "$BIN" --workers "$workers" \
    --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" --upstream "$upstream" \
    --log-format json --log-level "$level" "$@") 2>>"$RUN/langsmith-proxy.log" &
  TARGET_PID=$!
  track "$TARGET_PID"
}

# The bare forwarder (examples/bare_forwarder.rs) with N worker threads on PORT, forwarding to
# the plain upstream: what the stack costs with none of the proxy's features. Sets TARGET_PID.
start_hyper_floor() {
  local workers=$1 port=$2
  LANGSMITH_API_KEY=$KEY "$FLOOR_BIN" "127.0.0.1:$port" "http://127.0.0.1:$UP" "$workers" \
    2>>"$RUN/hyper-floor.log" &
  TARGET_PID=$!
  track "$TARGET_PID"
}

# nginx as the header-setting proxy: N workers, keep-alive upstream pool, request bodies streamed
# (not buffered to disk), no access log. PORT for HTTP/1.1, PORT_H2C for h2c, PORT_TLS fronts the
# TLS upstream. Sets TARGET_PID.
start_nginx() {
  local workers=$1 port=$2 port_h2c=$3 port_tls=$4
  {
    nginx_preamble nginx "$workers"
    cat <<EOF
  proxy_temp_path $RUN/nginx-proxy;
  upstream plain { server 127.0.0.1:$UP; keepalive 512; keepalive_requests 100000000; }
  upstream tls { server 127.0.0.1:$UP_TLS; keepalive 512; keepalive_requests 100000000; }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header x-api-key "$KEY";
  proxy_request_buffering off;
  server {
    listen 127.0.0.1:$port;
    listen 127.0.0.1:$port_h2c http2;
    location / { proxy_pass http://plain; }
  }
  server {
    listen 127.0.0.1:$port_tls;
    location / {
      proxy_pass https://tls;
      # proxy_set_header is inherited only when a level sets none, so all are repeated here.
      proxy_set_header Host localhost;
      proxy_set_header Connection "";
      proxy_set_header x-api-key "$KEY";
      proxy_ssl_name localhost;
      proxy_ssl_server_name on;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate $RUN/tls/ca.pem;
    }
  }
}
EOF
  } >"$RUN/nginx.conf"
  nginx -p "$RUN" -c "$RUN/nginx.conf" 2>>"$RUN/nginx-error.log" &
  TARGET_PID=$!
  track "$TARGET_PID"
}

# HAProxy as the header-setting proxy: N threads, connection reuse `always`, no logging.
# HTTP/1.1 and h2c (prior knowledge) on PORT, TLS upstream behind PORT_TLS. Sets TARGET_PID.
start_haproxy() {
  local workers=$1 port=$2 port_tls=$3
  cat >"$RUN/haproxy.cfg" <<EOF
global
  nbthread $workers
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 600s
  timeout server 600s
  timeout http-keep-alive 600s
  http-reuse always
frontend plain
  bind 127.0.0.1:$port
  http-request set-header x-api-key "$KEY"
  default_backend plain
frontend tls
  bind 127.0.0.1:$port_tls
  http-request set-header x-api-key "$KEY"
  http-request set-header host localhost
  default_backend tls
backend plain
  server upstream 127.0.0.1:$UP
backend tls
  server upstream 127.0.0.1:$UP_TLS ssl verify required ca-file $RUN/tls/ca.pem sni str(localhost) verifyhost localhost
EOF
  haproxy -db -f "$RUN/haproxy.cfg" 2>>"$RUN/haproxy.log" &
  TARGET_PID=$!
  track "$TARGET_PID"
}

# Stops one target and waits for it, so the next one starts on a quiet machine.
stop_target() {
  local pid=$1
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
