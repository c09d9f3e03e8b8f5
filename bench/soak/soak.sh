#!/usr/bin/env bash
# Soak benchmark of the whole chain (prints figures; not a test): kube-sim, hookd (on Postgres)
# and deployd as processes on loopback, then N deployments through the real CLI with
# `deploy --wait`, at each concurrency given. Prints, per concurrency: throughput, p50/p99/max
# latency of one `deploy --wait` (process start to exit), failed CLI runs, deployments whose final
# state in Postgres is not success or that have more than one final status, crashes of hookd and
# deployd (a process that is gone), and the VmRSS of hookd and deployd before and after.
#
#   bench/soak/soak.sh [-n 1000] [-c "16 32"] [--database-url URL] [--time-scale 0.02]
#
# Needs a built tree (build/bin: hookd, deployd, deploy, kube-sim) and a Postgres admin URL
# (--database-url or $HOOKD_TEST_DATABASE_URL, e.g. from `scripts/pg start /tmp/pg`); a fresh
# database soak_<pid> is created on it and dropped at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/build/bin
n=1000
concurrency="16 32"
admin_url=${HOOKD_TEST_DATABASE_URL:-}
time_scale=0.02
while [ $# -gt 0 ]; do
  case "$1" in
    -n) n=$2; shift 2 ;;
    -c) concurrency=$2; shift 2 ;;
    --database-url) admin_url=$2; shift 2 ;;
    --time-scale) time_scale=$2; shift 2 ;;
    *) echo "usage: $0 [-n N] [-c \"16 32\"] [--database-url URL] [--time-scale S]" >&2; exit 2 ;;
  esac
done
[ -n "$admin_url" ] || { echo "soak: no database: --database-url or HOOKD_TEST_DATABASE_URL" >&2; exit 2; }

work=$(mktemp -d /tmp/soak.XXXXXX)
db=soak_$$
db_url=$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$admin_url" "$db")
psql -q "$admin_url" -c "CREATE DATABASE $db" >/dev/null
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  echo "logs: $work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo gone; }
alive() { kill -0 "$1" 2>/dev/null && echo yes || echo NO; }

"$bin/kube-sim" --listen 127.0.0.1:0 --kubeconfig-out "$work/kubeconfig" --team aura \
  --time-scale "$time_scale" --log-level warn >"$work/kube-sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -f "$work/kubeconfig" ] && break; sleep 0.1; done
grpc=$(free_port)
http=$(free_port)
"$bin/hookd" --database-url "$db_url" --grpc.address "127.0.0.1:$grpc" \
  --listen-address "127.0.0.1:$http" --log-level info >"$work/hookd.log" 2>&1 &
hookd=$!
pids+=($hookd)
for _ in $(seq 300); do (echo >"/dev/tcp/127.0.0.1/$grpc") 2>/dev/null && break; sleep 0.1; done
"$bin/deployd" --cluster local --grpc.server "127.0.0.1:$grpc" --kubeconfig "$work/kubeconfig" \
  --metrics-listen-address "127.0.0.1:$(free_port)" --log-level info >"$work/deployd.log" 2>&1 &
deployd=$!
pids+=($deployd)

one() {  # one deployment: prints "<exit code> <milliseconds>"
  local i=$1 file=$work/manifests/cm-$1.yaml
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: soak-%s\n  namespace: aura\ndata:\n  i: "%s"\n' "$i" "$i" >"$file"
  local start end rc=0
  start=$(date +%s%N)
  env -u GITHUB_STEP_SUMMARY -u GITHUB_ACTIONS -u GITHUB_SHA -u APIKEY -u TEAM \
    "$bin/deploy" --resource "$file" --cluster local --team aura \
    --deploy-server "127.0.0.1:$grpc" --grpc-use-tls=false --grpc-authentication=false \
    --apikey 20cefcd6bd0e8b8860c4ea90e75d7123019ed7866c61bd09e23821948878a11d \
    --wait --timeout 300s >"$work/cli/$i.log" 2>&1 || rc=$?
  end=$(date +%s%N)
  echo "$rc $(((end - start) / 1000000))"
}
export -f one
export work bin grpc
mkdir -p "$work/manifests" "$work/cli"

# Warm-up: the first deployment waits for deployd's connection.
one warmup >/dev/null

echo "soak: N=$n per concurrency, kube-sim --time-scale $time_scale, $(nproc) cores"
printf '%-5s %9s %8s %8s %8s %6s %9s %12s %12s %12s %12s %7s %7s\n' conc 'deploy/s' 'p50 ms' \
  'p99 ms' 'max ms' failed 'not-once' 'hookd KiB<' 'hookd KiB>' 'deployd KiB<' 'deployd KiB>' \
  hookd deployd
round=0
for c in $concurrency; do
  round=$((round + 1))
  hookd_before=$(rss_kib "$hookd")
  deployd_before=$(rss_kib "$deployd")
  start=$(date +%s%N)
  seq 1 "$n" | sed "s/^/r$round-/" | xargs -P "$c" -I{} bash -c 'one {}' >"$work/results-$c.txt"
  end=$(date +%s%N)
  elapsed_ms=$(((end - start) / 1000000))
  failed=$(awk '$1 != 0' "$work/results-$c.txt" | wc -l)
  read -r p50 p99 max < <(awk '{print $2}' "$work/results-$c.txt" | sort -n | awk '
    {v[NR] = $1} END {i50 = int(NR * 0.50 + 0.999); i99 = int(NR * 0.99 + 0.999);
    print v[i50], v[i99], v[NR]}')
  # Every deployment of this round: final state success and exactly one final status.
  not_once=$(psql -qtA "$db_url" -c "
    SELECT count(*) FROM deployment d
    WHERE d.created > now() - interval '1 day' AND d.id IN (
      SELECT deployment_id FROM deployment_status GROUP BY deployment_id
      HAVING count(*) FILTER (WHERE status IN ('success','failure','error','inactive')) <> 1)
       OR d.state <> 'success'")
  throughput=$(awk -v n="$n" -v ms="$elapsed_ms" 'BEGIN {printf "%.1f", n * 1000 / ms}')
  printf '%-5s %9s %8s %8s %8s %6s %9s %12s %12s %12s %12s %7s %7s\n' "$c" "$throughput" "$p50" \
    "$p99" "$max" "$failed" "$not_once" "$hookd_before" "$(rss_kib "$hookd")" "$deployd_before" \
    "$(rss_kib "$deployd")" "$(alive "$hookd")" "$(alive "$deployd")"
done
echo "columns: not-once = deployments (all rounds) not ending success with exactly one final" \
  "status; hookd/deployd = still running (a crash shows NO); KiB< / KiB> = VmRSS before / after"
