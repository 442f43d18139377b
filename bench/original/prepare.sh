#!/usr/bin/env bash
# Prepares the original mosaik 0.3.18 for offline runs on loopback: fetches
# the published crate from crates.io, checks it against the checksum
# crates.io lists for it, and replaces the three lines that wait for the
# endpoint to reach a relay server (`Endpoint::online`, which never
# happens with relays disabled and no internet: `Network::build` would
# hang) by a wait for the endpoint's first direct address (what a peer
# needs to dial it on loopback). Nothing else is changed. Run by `mosaik-bench original` before it
# builds this crate; the result lives in `vendor/` (not committed).
set -euo pipefail
cd "$(dirname "$0")"
dst=vendor/mosaik-0.3.18
if [ -f "$dst/.patched" ]; then exit 0; fi
mkdir -p vendor
curl -sSfL https://static.crates.io/crates/mosaik/mosaik-0.3.18.crate -o vendor/mosaik-0.3.18.crate
echo "44be41e0bf5d7181f2165d0b59ba055e2526678bbc7da72d84d8b04e4f1bb158  vendor/mosaik-0.3.18.crate" \
    | sha256sum -c --quiet -
rm -rf "$dst"
tar -xzf vendor/mosaik-0.3.18.crate -C vendor
# Every wait for a relay (`Endpoint::online`, in three places) becomes a
# wait for the endpoint's first direct address.
for f in network/local.rs discovery/announce.rs discovery/worker.rs; do
    sed -i -E 's/([a-z_.0-9()]*endpoint(\(\))?)\.online\(\)\.await;/while \1.addr().ip_addrs().next().is_none() { tokio::time::sleep(core::time::Duration::from_millis(5)).await; }/' \
        "$dst/src/$f"
done
if grep -rqE 'endpoint(\(\))?\.online\(\)' "$dst/src"; then
    echo "prepare.sh: a wait for a relay is left" >&2
    exit 1
fi
touch "$dst/.patched"
