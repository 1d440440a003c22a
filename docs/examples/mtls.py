"""A lookup from Python over mTLS with a certificate-bound token, standard
library only. Usage (after `mulegate dev`'s exports):
    python3 docs/examples/mtls.py "$MG" NL91ABNA0417164300
MULEGATE_DIR is the folder with ca.pem, bank.pem, bank-key.pem (default
.mulegate-dev); BANK_TOKEN the bearer token."""
import json
import os
import ssl
import sys
import urllib.parse
import urllib.request

base, iban = sys.argv[1:3]
d = os.environ.get("MULEGATE_DIR", ".mulegate-dev")
# The context trusts the gateway's CA and presents the client certificate
# the token is bound to.
ctx = ssl.create_default_context(cafile=f"{d}/ca.pem")
ctx.load_cert_chain(f"{d}/bank.pem", f"{d}/bank-key.pem")
req = urllib.request.Request(
    f"{base}/v1/ibans/{urllib.parse.quote(iban)}",
    headers={"Authorization": "Bearer " + os.environ["BANK_TOKEN"], "X-Purpose": "payment_check"},
)
with urllib.request.urlopen(req, context=ctx) as resp:
    answer = json.load(resp)
    print(resp.status, answer["iban"], answer["risk"])
