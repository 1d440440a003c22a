// A lookup from Node over mTLS with a certificate-bound token, no
// dependencies. Usage (after `mulegate dev`'s exports):
//   node docs/examples/mtls.js "$MG" NL91ABNA0417164300
// MULEGATE_DIR is the folder with ca.pem, bank.pem, bank-key.pem
// (default .mulegate-dev); BANK_TOKEN the bearer token.
const https = require('node:https');
const fs = require('node:fs');

const [base, iban] = process.argv.slice(2);
const dir = process.env.MULEGATE_DIR || '.mulegate-dev';
// The agent presents the client certificate the token is bound to, and
// trusts the gateway's CA; keepAlive reuses the TLS session.
const agent = new https.Agent({
  ca: fs.readFileSync(`${dir}/ca.pem`),
  cert: fs.readFileSync(`${dir}/bank.pem`),
  key: fs.readFileSync(`${dir}/bank-key.pem`),
  keepAlive: true,
});
const headers = { Authorization: `Bearer ${process.env.BANK_TOKEN}`, 'X-Purpose': 'payment_check' };
https.get(`${base}/v1/ibans/${encodeURIComponent(iban)}`, { agent, headers }, (res) => {
  let body = '';
  res.on('data', (c) => { body += c; });
  res.on('end', () => {
    const answer = JSON.parse(body);
    console.log(res.statusCode, answer.iban, answer.risk);
    agent.destroy();
    process.exitCode = res.statusCode === 200 ? 0 : 1;
  });
}).on('error', (e) => { console.error(e.message); process.exitCode = 1; });
