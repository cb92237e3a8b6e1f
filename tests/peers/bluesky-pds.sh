#!/usr/bin/env bash
# Start the reference Bluesky PDS (@atproto/pds, from the npm registry) and an in-memory did:plc
# directory, both on 127.0.0.1, for the adapter tests (tests/networks/bluesky/pds.py runs this).
#
#   bluesky-pds.sh [DIR]
#
# DIR (default $TMPDIR/bluesky-pds) caches node_modules, so only the first run installs (about
# 90 s: better-sqlite3 compiles against the system's Node headers). Every start begins with an
# empty data directory. Ports come from PLC_PORT (2582) and PDS_PORT (2583); PDS_* variables
# already set win over the defaults below. On success it prints one line,
#   READY PLC http://127.0.0.1:<plc> PDS http://127.0.0.1:<pds> pid <pid>
# and exits 0, leaving the server running (stop it with kill <pid>).
#
# 0.4.217 is the last @atproto/pds release that runs on Node 20 (Debian 12's). A bare PDS has no
# AppView: com.atproto.* works (sessions, records, blobs, validated against the lexicons);
# app.bsky.* reads answer 400. Handles must end in .test.
set -euo pipefail
dir=${1:-${TMPDIR:-/tmp}/bluesky-pds}
mkdir -p "$dir"
cd "$dir"
export npm_config_nodedir=${npm_config_nodedir:-/usr}
if [ ! -f package.json ]; then
  npm init -y >/dev/null
fi
if [ ! -d node_modules/@atproto/pds ]; then
  npm install --no-audit --no-fund @atproto/pds@0.4.217 @did-plc/server@0.0.1 >install.log 2>&1 || {
    echo "npm install failed:"; tail -20 install.log; exit 1; }
fi

cat > run-pds.mjs <<'JS'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import plcServer from '@did-plc/server'
import * as pdsModule from '@atproto/pds'

const { PDS, envToCfg, envToSecrets, readEnv } = pdsModule.PDS ? pdsModule : pdsModule.default
const { PlcServer, Database } = plcServer
const host = '127.0.0.1'
const plcPort = Number(process.env.PLC_PORT || 2582)
const pdsPort = Number(process.env.PDS_PORT || 2583)
const data = path.resolve(process.env.PDS_DATA_DIRECTORY || 'data')
fs.mkdirSync(path.join(data, 'blobs'), { recursive: true })

// Both servers listen on loopback only, whatever port they are given.
function onLoopback(app) {
  const listen = app.listen.bind(app)
  app.listen = (port) => listen(port, host)
}
const randomHex = () => crypto.randomBytes(32).toString('hex')

const plc = PlcServer.create({ db: Database.mock(), port: plcPort })
onLoopback(plc.app)
await plc.start()

const defaults = {
  PDS_HOSTNAME: 'localhost',
  PDS_PORT: String(pdsPort),
  PDS_DATA_DIRECTORY: data,
  PDS_BLOBSTORE_DISK_LOCATION: path.join(data, 'blobs'),
  PDS_JWT_SECRET: 'dev-jwt-secret',
  PDS_ADMIN_PASSWORD: 'admin-pass',
  PDS_DPOP_SECRET: randomHex(),
  PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX: randomHex(),
  PDS_DID_PLC_URL: `http://${host}:${plcPort}`,
  PDS_INVITE_REQUIRED: 'false',
  PDS_DEV_MODE: 'true',
  PDS_RATE_LIMITS_ENABLED: 'false',
  LOG_ENABLED: 'false',
}
for (const [key, value] of Object.entries(defaults)) process.env[key] ??= value

const env = readEnv()
const pds = await PDS.create(envToCfg(env), envToSecrets(env))
onLoopback(pds.app)
await pds.start()
console.log(`READY PLC http://${host}:${plcPort} PDS http://${host}:${pdsPort} pid ${process.pid}`)

async function stop() {
  await pds.destroy()
  await plc.destroy()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
JS

rm -rf data
node run-pds.mjs >pds.log 2>&1 &
pid=$!
echo "$pid" >pds.pid
for _ in $(seq 1 300); do  # 60 s
  if grep -q READY pds.log; then
    cat pds.log
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    cat pds.log
    exit 1
  fi
  sleep 0.2
done
echo "the PDS did not start within 60 s"
cat pds.log
kill "$pid" 2>/dev/null || true
exit 1
