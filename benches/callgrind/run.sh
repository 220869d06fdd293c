#!/bin/bash
# Instructions per probe, deterministic where wall-clock CPU on a shared machine is not
# (issue 17; benches/RESULTS.md "Instructions per probe").
#
# usage: benches/callgrind/run.sh <exwatch binary> <output dir> [endpoints=500] [warm=30] [window=60]
#
# Writes a config of <endpoints> endpoints, 100 per exchange, 16 connections each, 1 s interval,
# all GETs of the loopback target on TARGET_PORT (default 18080: benches/nginx-mock.conf), runs
# the binary under callgrind (reniced so that builders sharing the cores starve it less), zeroes
# the counters after <warm> seconds of probing, dumps them <window> seconds later, and prints
# Ir divided by the growth of exwatch_probes_total over the window, then the breakdown by
# category (benches/callgrind/categories.py). Needs valgrind, curl, python3.
set -u
BIN=$1; D=$2; N=${3:-500}; WARM=${4:-30}; WIN=${5:-60}; PORT=${TARGET_PORT:-18080}
HERE=$(cd "$(dirname "$0")" && pwd)
rm -rf "$D"; mkdir -p "$D"; D=$(cd "$D" && pwd)
HTTP=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
{
printf '[monitor]\nregion = "bench"\n[http]\nlisten = "127.0.0.1:%s"\n[store]\npath = ":memory:"\n[defaults]\ninterval = "1s"\ntimeout = "5s"\n[breaker]\nfailure_threshold = 1000000\n[channels.log]\ntype = "log"\nmin_severity = "critical"\n' $HTTP
for ((x=0; x<N/100; x++)); do
  printf '[exchanges.x%d]\nmax_connections = 16\n' $x
  for ((e=0; e<100; e++)); do printf '[exchanges.x%d.endpoints.e%d]\nurl = "http://127.0.0.1:%d/x%d/e%d"\ncheck = "http"\n' $x $e $PORT $x $e; done
done
} > $D/load.toml
probes() { curl -s http://127.0.0.1:$HTTP/metrics | awk '/^exwatch_probes_total\{/ {s+=$NF} END {printf "%d\n", s}'; }
cd $D
RUST_LOG=error nice -n -10 valgrind --tool=callgrind --callgrind-out-file=$D/cg.out.%p $BIN run --config $D/load.toml > $D/stdout 2> $D/log &
VPID=$!
for i in $(seq 1 300); do sleep 1; p=$(probes 2>/dev/null); [ -n "$p" ] && [ "$p" != "0" ] && break; done
sleep $WARM
callgrind_control -z $VPID >/dev/null
P0=$(probes)
sleep $WIN
P1=$(probes)
callgrind_control -d $VPID >/dev/null
sleep 2
kill $VPID; wait $VPID 2>/dev/null
F=$(ls -t $D/cg.out.*.* 2>/dev/null | head -1)
[ -z "$F" ] && F=$(ls -t $D/cg.out.* | head -1)
IR=$(callgrind_annotate $F 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1; exit}')
echo "file=$F probes=$((P1-P0)) Ir=$IR per_probe=$(python3 -c "print(round($IR/$((P1-P0))))")" | tee $D/summary
python3 "$HERE/categories.py" "$F" $((P1-P0)) --cats --top 0 | tee -a $D/summary
