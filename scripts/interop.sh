#!/usr/bin/env bash
# Interoperability check from the outside: certificates made by openssl, a
# JWKS and an ES256 token made by openssl and shell tools (no mulegate
# code), against "mulegate serve" on a real redis-server, called with curl.
# Everything runs on 127.0.0.1 and is stopped by PID at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in openssl curl redis-server basenc; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 1; }; done
w=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$w"; }
trap cleanup EXIT
freeport() { local p; while :; do p=$((20000 + RANDOM % 20000)); (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }
b64url() { basenc --base64url -w0 | tr -d '='; }

cd "$w"
# A CA, a server certificate for localhost and a client certificate, all openssl.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=interop CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key -out client.csr -subj "/CN=bank-a client" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 -extfile client.ext 2>/dev/null

# The signing key and its JWKS.
openssl ecparam -name prime256v1 -genkey -noout -out sign.key
pub=$(openssl ec -in sign.key -pubout -outform DER 2>/dev/null | tail -c 65 | xxd -p -c 200)
x=$(echo "${pub:2:64}" | xxd -r -p | b64url); y=$(echo "${pub:66:64}" | xxd -r -p | b64url)
echo "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ext-1\",\"use\":\"sig\",\"x\":\"$x\",\"y\":\"$y\"}]}" > jwks.json

# An ES256 JWT bound to the client certificate (cnf.x5t#S256).
thumb=$(openssl x509 -in client.pem -outform DER | openssl dgst -sha256 -binary | b64url)
now=$(date +%s)
header=$(printf '{"alg":"ES256","typ":"JWT","kid":"ext-1"}' | b64url)
payload=$(printf '{"iss":"https://idp.interop","aud":"mulegate","sub":"svc-1","org":"bank-a","scope":"ibans:read reports:write reports:read","iat":%d,"exp":%d,"cnf":{"x5t#S256":"%s"}}' "$now" $((now + 600)) "$thumb" | b64url)
der=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign sign.key | xxd -p -c 500)
# DER ECDSA-Sig-Value -> raw r||s (32 bytes each).
r=$(openssl asn1parse -inform DER -in <(echo "$der" | xxd -r -p) | awk -F: '/INTEGER/{print $NF}' | sed -n 1p)
s=$(openssl asn1parse -inform DER -in <(echo "$der" | xxd -r -p) | awk -F: '/INTEGER/{print $NF}' | sed -n 2p)
pad() { printf '%064s' "$1" | tr ' ' 0; }
sig=$(echo "$(pad "$r")$(pad "$s")" | xxd -r -p | b64url)
TOKEN="$header.$payload.$sig"

rport=$(freeport); aport=$(freeport); oport=$(freeport)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$w" --logfile "$w/redis.log" & pids+=($!)
cat > mulegate.yaml <<CFG
api: {listen: "127.0.0.1:$aport", cert_file: server.pem, key_file: server.key, client_ca_file: ca.pem}
ops: {listen: "127.0.0.1:$oport"}
auth: {issuer: "https://idp.interop", audience: mulegate, jwks_file: jwks.json}
redis: {addrs: ["127.0.0.1:$rport"]}
storage: {pseudonym_secret: interop-secret-0123456789}
forward: {workers: 0}
orgs: [{id: bank-a, type: bank, bank_codes: {NL: [ABNA]}}]
CFG
go build -C "$OLDPWD" -o "$w/mulegate" ./cmd/mulegate
./mulegate serve --config mulegate.yaml > serve.out 2> serve.err & pids+=($!)
for _ in $(seq 100); do grep -q "^api https" serve.out 2>/dev/null && break; sleep 0.1; done
grep -q "^api https" serve.out || { echo "mulegate serve did not start:" >&2; cat serve.err >&2; exit 1; }

c() { curl -sS --cacert ca.pem --cert client.pem --key client.key -H "Authorization: Bearer $TOKEN" "$@"; echo; }
M=https://localhost:$aport
echo "--- lookup";            c "$M/v1/ibans/NL91ABNA0417164300"
echo "--- report";            c -i -X POST "$M/v1/reports" -H 'Content-Type: application/json' -H 'Idempotency-Key: interop-1' -d '{"iban":"NL91ABNA0417164300","category":"phishing"}'
echo "--- lookup again";      c "$M/v1/ibans/NL91ABNA0417164300"
echo "--- no client cert (handshake must fail)"
curl -sS --cacert ca.pem "$M/v1/ibans/NL91ABNA0417164300" && echo "UNEXPECTED SUCCESS" || echo "refused as expected"
