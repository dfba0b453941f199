#!/bin/bash
# A busy host for DUR seconds (default 100), to record a real trace for `npm run bench:trace`:
#   node dist/src/cli/main.js watch --no-audit --duration 118 --record /tmp/host.trace.jsonl.zst &
#   sleep 7; bash bench/busy-host.sh; wait
# Archive walks with gzip, find + grep over system files, python3 reading configs, curl against a
# local HTTP server, coreutils pipelines; paced so the probe loses nothing on a 2-vCPU machine
# (~55,000 events/s: 6,054,025 events in 118 s, zero loss, on this project's machine).
set -u
DUR=${DUR:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
end=$((SECONDS + DUR))
python3 -m http.server 18080 --bind 127.0.0.2 --directory /usr/share/doc > /dev/null 2>&1 &
srv=$!
sleep 1
while [ $SECONDS -lt $end ]; do tar -cf - -C "$ROOT/node_modules" typescript | gzip -1 > /dev/null; sleep 0.3; done &
while [ $SECONDS -lt $end ]; do find /usr/lib /usr/share -type f -name "*.py" 2>/dev/null | head -400 | xargs -n 100 grep -l "import os" > /dev/null 2>&1; sleep 0.2; done &
while [ $SECONDS -lt $end ]; do python3 -c "
import glob
for f in glob.glob('/etc/*.conf')[:40]:
    try: open(f).read()
    except Exception: pass
"; done &
while [ $SECONDS -lt $end ]; do for i in $(seq 10); do curl -s http://127.0.0.2:18080/ > /dev/null; done; sleep 0.1; done &
while [ $SECONDS -lt $end ]; do sort /etc/services | uniq -c | wc -l > /dev/null; ls -la /usr/bin > /dev/null; sleep 0.05; done &
sleep "$DUR"
kill "$srv" 2>/dev/null
wait 2>/dev/null
