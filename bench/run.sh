#!/usr/bin/env bash
# bench/run.sh -- the same sysbench matrix against a repld primary+replica and a MariaDB primary+replica,
# in one run, and one table with both figures and their ratio.
#
# Matrix (issue 7): durable (sync_binlog=1) oltp_insert at 1 and 8 threads, oltp_write_only at 8 threads,
# TABLES x SIZE rows, DUR seconds each; then N single-row INSERTs from one `mariadb` client. After every load:
# the time until the replica has applied everything (catch-up), CHECKSUM TABLE on both sides, and the RSS
# of every server. Last (issue 5), the SQL thread's apply rate on a pre-filled relay log: the replica's
# SQL thread is stopped, oltp_write_only runs at 8 threads for DUR seconds, the IO thread receives all of
# it, then the SQL thread is started and timed until it has applied everything.
#
# Rounds: with ROUNDS=N the matrix runs N times per system, the systems alternating (round 1 in SYSTEMS
# order, round 2 reversed, ...), each system's pair started fresh and stopped before the other's starts.
# This VM's speed drifts by tens of percent over minutes, so a ratio is taken per round (the two systems
# back to back) and the table prints every round's ratio and their median.
#
# Knobs: DUR (20) TABLES (4) SIZE (10000) INSERT_N (20000) PS_MODE (auto) OUT (/tmp/repld-bench) APPLY_RATE (1)
#        SYSTEMS ("repld mariadb")  REPLD_BIN (target/release/repld, built if missing)  ROUNDS (1)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=${OUT:-/tmp/repld-bench}
DUR=${DUR:-20}
TABLES=${TABLES:-4}
SIZE=${SIZE:-10000}
INSERT_N=${INSERT_N:-20000}
PS_MODE=${PS_MODE:-auto}
ROUNDS=${ROUNDS:-1}
SYSTEMS=${SYSTEMS:-"repld mariadb"}
REPLD_BIN=${REPLD_BIN:-$ROOT/target/release/repld}
export PAIR_DIR=${PAIR_DIR:-$OUT/mariadb-pair}
mkdir -p "$OUT"
RES=$OUT/results.tsv
printf 'round\tsystem\tmetric\tvalue\n' >"$RES"
ROUND=1

# shellcheck source=mariadb/run-pair.sh
. "$HERE/mariadb/run-pair.sh"   # p_sql/r_sql, primary_pos, replica_pos, wait_catchup, pair_* for MariaDB

record() { printf '%s\t%s\t%s\t%s\n' "$ROUND" "$1" "$2" "$3" | tee -a "$RES" >&2; }
rss_mb() { awk '/VmRSS/{printf "%.0f", $2/1024}' "/proc/$1/status" 2>/dev/null || echo NA; }

# --- repld pair -----------------------------------------------------------------------------------
REPLD_DIR=$OUT/repld-pair
RP_PORT=${RP_PORT:-33071}
RR_PORT=${RR_PORT:-33072}
repld_start() {
    [ -x "$REPLD_BIN" ] || (cd "$ROOT" && cargo build --release --bins >&2)
    rm -rf "$REPLD_DIR"; mkdir -p "$REPLD_DIR"
    "$REPLD_BIN" primary --data-dir "$REPLD_DIR/primary" --listen "127.0.0.1:$RP_PORT" --server-id 1 \
        >"$REPLD_DIR/primary.log" 2>&1 &
    echo $! >"$REPLD_DIR/primary.pid"
    "$REPLD_BIN" replica --data-dir "$REPLD_DIR/replica" --listen "127.0.0.1:$RR_PORT" --server-id 2 \
        --source "127.0.0.1:$RP_PORT" >"$REPLD_DIR/replica.log" 2>&1 &
    echo $! >"$REPLD_DIR/replica.pid"
    local i
    for i in $(seq 1 200); do
        if mariadb --no-defaults -h127.0.0.1 -P"$RP_PORT" -uroot -e 'SELECT 1' >/dev/null 2>&1 &&
           mariadb --no-defaults -h127.0.0.1 -P"$RR_PORT" -uroot -e 'SELECT 1' >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "repld did not start; see $REPLD_DIR/*.log" >&2; return 1
}
repld_stop() {
    local f pid
    for f in "$REPLD_DIR"/primary.pid "$REPLD_DIR"/replica.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f"); kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true; rm -f "$f"
    done
}

use_system() { # repld|mariadb: point p_sql/r_sql and the sysbench target at that system
    SYS=$1
    if [ "$SYS" = repld ]; then
        p_sql() { mariadb --no-defaults -h127.0.0.1 -P"$RP_PORT" -uroot "$@"; }
        r_sql() { mariadb --no-defaults -h127.0.0.1 -P"$RR_PORT" -uroot "$@"; }
        SB_PORT=$RP_PORT SB_USER=root SB_PASS=""
        P_PID=$(cat "$REPLD_DIR/primary.pid") R_PID=$(cat "$REPLD_DIR/replica.pid")
    else
        p_sql() { mariadb --no-defaults -S "$PAIR_DIR/primary.sock" -uroot "$@"; }
        r_sql() { mariadb --no-defaults -S "$PAIR_DIR/replica.sock" -uroot "$@"; }
        SB_PORT=$P_PORT SB_USER=$BENCH_USER SB_PASS=$BENCH_PASS
        P_PID=$(cat "$PAIR_DIR/primary.mypid") R_PID=$(cat "$PAIR_DIR/replica.mypid")
    fi
}

SB() {
    sysbench --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$SB_PORT" --mysql-user="$SB_USER" \
        --mysql-password="$SB_PASS" --mysql-db=sbtest --tables="$TABLES" --table-size="$SIZE" "$@"
}
sb_tables() { local i s=""; for i in $(seq 1 "$TABLES"); do s="$s${s:+, }sbtest.sbtest$i"; done; echo "$s"; }
checksums_match() {
    local p r; p=$(p_sql -N -e "CHECKSUM TABLE $1"); r=$(r_sql -N -e "CHECKSUM TABLE $1")
    if [ "$p" = "$r" ]; then echo match; else echo "MISMATCH"; echo "primary: $p / replica: $r" >&2; fi
}
sync_replica() { local f p; read -r f p < <(primary_pos); wait_catchup "$f" "$p" 600 >/dev/null; }

run_sysbench() { # test threads
    local test=$1 th=$2 tag="$SYS-$1-t$2"
    SB "$test" cleanup >/dev/null 2>&1 || true
    p_sql -e "CREATE DATABASE IF NOT EXISTS sbtest"
    SB "$test" prepare >"$OUT/$tag.prepare.log" 2>&1
    sync_replica
    SB "$test" --threads="$th" --time="$DUR" --db-ps-mode="$PS_MODE" run >"$OUT/$tag.log" 2>&1
    local pf pp catch
    read -r pf pp < <(primary_pos)
    catch=$(wait_catchup "$pf" "$pp" 900) || true
    record "$SYS" "$test t$th tps" "$(awk '/transactions:/{gsub(/\(/,"",$3); print $3}' "$OUT/$tag.log")"
    record "$SYS" "$test t$th catch-up s" "$catch"
    record "$SYS" "$test t$th checksum" "$(checksums_match "$(sb_tables)")"
    record "$SYS" "$test t$th primary RSS MB" "$(rss_mb "$P_PID")"
    record "$SYS" "$test t$th replica RSS MB" "$(rss_mb "$R_PID")"
}

run_inserts() {
    local sqlf="$OUT/inserts-$INSERT_N.sql" t0 t1 pf pp catch
    "$HERE/mariadb/gen-inserts.sh" "$INSERT_N" t >"$sqlf"
    p_sql -e "DROP DATABASE IF EXISTS ins; CREATE DATABASE ins;
      CREATE TABLE ins.t (id INT AUTO_INCREMENT PRIMARY KEY, k INT NOT NULL,
        c VARCHAR(64) NOT NULL, v DOUBLE NOT NULL, ts DATETIME NOT NULL) ENGINE=InnoDB;"
    sync_replica
    t0=$(now); p_sql ins <"$sqlf"; t1=$(now)
    read -r pf pp < <(primary_pos)
    catch=$(wait_catchup "$pf" "$pp" 900) || true
    record "$SYS" "inserts x$INSERT_N rows/s" "$(awk -v n="$INSERT_N" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", n/(b-a)}')"
    record "$SYS" "inserts x$INSERT_N catch-up s" "$catch"
    record "$SYS" "inserts x$INSERT_N checksum" "$(checksums_match ins.t)"
}

# wait_received FILE POS [timeout_s]: polls until the IO thread has read up to FILE:POS.
wait_received() {
    local file=$1 pos=$2 timeout=${3:-600} t0 rf ep mf rp sbm
    t0=$(now)
    while :; do
        read -r rf ep mf rp sbm < <(replica_pos)
        if [ "$mf" = "$file" ] && [ "${rp:-0}" -ge "$pos" ]; then return 0; fi
        if awk -v a="$(now)" -v b="$t0" -v t="$timeout" 'BEGIN{exit !(a-b>t)}'; then return 1; fi
        sleep 0.02
    done
}

run_apply_rate() {
    local test=oltp_write_only th=8 tag="$SYS-apply-rate" pf pp secs txns
    SB "$test" cleanup >/dev/null 2>&1 || true
    p_sql -e "CREATE DATABASE IF NOT EXISTS sbtest"
    SB "$test" prepare >"$OUT/$tag.prepare.log" 2>&1
    sync_replica
    r_sql -e "STOP SLAVE SQL_THREAD"
    SB "$test" --threads="$th" --time="$DUR" --db-ps-mode="$PS_MODE" run >"$OUT/$tag.log" 2>&1
    read -r pf pp < <(primary_pos)
    if ! wait_received "$pf" "$pp" 900; then record "$SYS" "apply rate txn/s" "TIMEOUT"; return 0; fi
    r_sql -e "START SLAVE SQL_THREAD"
    secs=$(wait_catchup "$pf" "$pp" 900) || true
    txns=$(awk '/transactions:/{print $2}' "$OUT/$tag.log")
    record "$SYS" "apply rate txn/s (relay pre-filled)" \
        "$(awk -v n="$txns" -v s="$secs" 'BEGIN{ if (s+0 > 0) printf "%.0f", n/s; else print "NA" }')"
    record "$SYS" "apply rate transactions" "$txns"
    record "$SYS" "apply rate checksum" "$(checksums_match "$(sb_tables)")"
}

run_matrix() {
    run_sysbench oltp_insert 1
    run_sysbench oltp_insert 8
    run_sysbench oltp_write_only 8
    [ "$INSERT_N" -gt 0 ] && run_inserts
    [ "${APPLY_RATE:-1}" = 1 ] && run_apply_rate
    return 0
}

trap 'repld_stop; pair_stop >/dev/null 2>&1 || true' EXIT
run_system() { # repld|mariadb
    if [ "$1" = repld ]; then repld_start; use_system repld; run_matrix; repld_stop
    else
        export SYNC_BINLOG=1 FLUSH_AT_COMMIT=1
        # use_system repld redefined p_sql/r_sql: take run-pair.sh's MariaDB clients back.
        # shellcheck source=mariadb/run-pair.sh
        . "$HERE/mariadb/run-pair.sh"
        pair_init; pair_start; pair_setup_replication; use_system mariadb; run_matrix; pair_stop
    fi
}
for ROUND in $(seq 1 "$ROUNDS"); do
    order=$SYSTEMS
    [ $((ROUND % 2)) = 0 ] && order=$(echo "$SYSTEMS" | awk '{for (i=NF;i>0;i--) printf "%s%s", $i, (i>1?" ":"")}')
    for sys in $order; do echo "== round $ROUND: $sys" >&2; run_system "$sys"; done
done

# One table: metric | repld | MariaDB | ratio (repld / MariaDB; for catch-up and RSS lower is better).
# With several rounds: each system's median, each round's ratio, and the median of those ratios.
echo
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') DUR=${DUR}s TABLES=$TABLES SIZE=$SIZE ps-mode=$PS_MODE, $(nproc) cores, $ROUNDS round(s)"
awk -F'\t' -v rounds="$ROUNDS" '
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " "); if (n == 0) return ""
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] + 0 > t + 0; j--) a[j+1] = a[j]; a[j+1] = t }
    return (n % 2) ? a[(n+1)/2] : sprintf("%.4g", (a[n/2] + a[n/2+1]) / 2)
  }
  function num(x) { return x ~ /^[0-9.]+$/ && x + 0 > 0 }
  NR>1 { v[$1 FS $2 FS $3]=$4; if (!seen[$3]++) order[++n]=$3 }
  END {
    printf "%-36s %10s %10s", "metric", "repld", "MariaDB"
    if (rounds > 1) for (r=1;r<=rounds;r++) printf " %7s", "r" r
    printf " %8s\n", (rounds > 1 ? "median" : "ratio")
    for (i=1;i<=n;i++) { m=order[i]; la=""; lb=""; lr=""; ta=""; tb=""; cells=""
      for (r=1;r<=rounds;r++) { a=v[r FS "repld" FS m]; b=v[r FS "mariadb" FS m]
        if (num(a)) la = la " " a; if (num(b)) lb = lb " " b
        if (a != "" && !num(a)) ta = (ta == "" || ta == a) ? a : "mixed"
        if (b != "" && !num(b)) tb = (tb == "" || tb == b) ? b : "mixed"
        x = (num(a) && num(b)) ? sprintf(a/b < 0.1 ? "%.3f" : "%.2f", a/b) : "-"
        if (x != "-") lr = lr " " x; cells = cells sprintf(" %7s", x) }
      a = (rounds > 1) ? (la != "" ? median(la) : ta) : v[1 FS "repld" FS m]
      b = (rounds > 1) ? (lb != "" ? median(lb) : tb) : v[1 FS "mariadb" FS m]
      if (rounds == 1) cells = ""
      printf "%-36s %10s %10s%s %8s\n", m, (a==""?"-":a), (b==""?"-":b), cells, (lr==""?"-":median(lr)) } }' "$RES" | tee "$OUT/table.txt"
