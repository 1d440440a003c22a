package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/mulegate/mulegate/internal/evidence"
	"github.com/mulegate/mulegate/internal/redistest"
	"github.com/mulegate/mulegate/internal/waitfor"
)

// writeECKey writes a fresh P-256 key as SEC1 PEM.
func writeECKey(t *testing.T, path string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(k)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// jwksKeys reads a JWKS into public keys by kid, with the standard
// library alone.
func jwksKeys(t *testing.T, raw []byte) map[string]*ecdsa.PublicKey {
	t.Helper()
	var set struct {
		Keys []struct {
			Kty, Crv, X, Y, Kid, Alg string
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("JWKS %s: %v", raw, err)
	}
	out := map[string]*ecdsa.PublicKey{}
	for _, k := range set.Keys {
		x, _ := base64.RawURLEncoding.DecodeString(k.X)
		y, _ := base64.RawURLEncoding.DecodeString(k.Y)
		if k.Kty != "EC" || k.Crv != "P-256" || k.Alg != "ES256" {
			t.Errorf("key %+v", k)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			t.Fatalf("key %+v: %v", k, err)
		}
		out[k.Kid] = pub
	}
	return out
}

// checkJWS verifies a detached compact JWS over body with crypto/ecdsa
// (RFC 7515 Appendix F), not the library that signed it, and returns its
// protected header.
func checkJWS(t *testing.T, keys map[string]*ecdsa.PublicKey, sig string, body []byte) (map[string]any, bool) {
	t.Helper()
	parts := strings.Split(sig, ".")
	if len(parts) != 3 || parts[1] != "" {
		t.Fatalf("not a detached compact JWS: %q", sig)
	}
	hj, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var hdr map[string]any
	if err := json.Unmarshal(hj, &hdr); err != nil {
		t.Fatalf("header %s: %v", hj, err)
	}
	kid, _ := hdr["kid"].(string)
	pub := keys[kid]
	raw, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if pub == nil || len(raw) != 64 {
		return hdr, false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + base64.RawURLEncoding.EncodeToString(body)))
	return hdr, ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:]))
}

// auditLine is the audit trail's record seq.
func auditLine(t *testing.T, path string, seq uint64) map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r map[string]any
		if json.Unmarshal(sc.Bytes(), &r) == nil && r["seq"] == float64(seq) {
			return r
		}
	}
	t.Fatalf("no record %d in the trail", seq)
	return nil
}

// TestSignedAnswers (SPEC Part 3, "Evidence: signed answers"): with
// Prefer: signed, a lookup, a batch lookup and a report's status come
// with a detached ES256 JWS over their exact bytes (checked here with
// crypto/ecdsa and the keys of GET /v1/evidence/keys), whose header names
// the caller, the request, the purpose and the audit record, which holds
// the body's SHA-256 and is on disk; without the preference nothing is
// signed; a changed body fails, also with `mulegate evidence verify`; a
// key rotated by SIGHUP signs from then on while the old one stays
// listed, so earlier answers still verify.
func TestSignedAnswers(t *testing.T) {
	httpOnly(t)
	p := mustPKI(t)
	dir := t.TempDir()
	keyFile, auditFile := filepath.Join(dir, "answers.pem"), filepath.Join(dir, "audit.jsonl")
	writeECKey(t, keyFile)
	extra := func(kid string) string {
		return "audit:\n  path: " + auditFile + "\nevidence:\n  signing_key_file: " + keyFile + "\n  key_id: " + kid + "\n  origin: mulegate/test-gw\n"
	}
	cfgPath := filepath.Join(dir, "mulegate.yaml")
	rds := redistest.StartTopology(t)
	if err := writeFile(cfgPath, p.config(rds.Addrs(), extra("2026-12"))); err != nil {
		t.Fatal(err)
	}
	gw := startProc(t, []string{"serve", "--config", cfgPath}, nil, "api", "ops")
	api := gw.addrs["api"]
	bank, tok := p.client(t, p.clients["bank-a"]), p.token(t, "bank-a", nil, nil)
	rep := do(t, bank, "POST", api+"/v1/reports", tok, `{"iban":"NL91ABNA0417164300","category":"phishing"}`, "Idempotency-Key", "sig-1")
	id := decodeInto[accepted](t, rep).ReportID
	keys := jwksKeys(t, do(t, bank, "GET", api+"/v1/evidence/keys", tok, "").body)
	if len(keys) != 1 || keys["2026-12"] == nil {
		t.Fatalf("the key set: %v", keys)
	}
	type signedCall struct{ name, method, path, body string }
	var first call
	for _, sc := range []signedCall{
		{"lookup", "GET", "/v1/ibans/NL91ABNA0417164300", ""},
		{"batch", "POST", "/v1/ibans/lookup", `{"ibans":["NL91ABNA0417164300","DE89370400440532013000"]}`},
		{"report", "GET", "/v1/reports/" + id, ""},
	} {
		got := do(t, bank, sc.method, api+sc.path, tok, sc.body, "Prefer", "signed", "X-Purpose", "payment_check")
		sig := got.header.Get("Mulegate-Signature")
		if got.status != 200 || sig == "" || got.header.Get("Preference-Applied") != "signed" {
			t.Fatalf("%s: %d, signature %q, Preference-Applied %q", sc.name, got.status, sig, got.header.Get("Preference-Applied"))
		}
		hdr, ok := checkJWS(t, keys, sig, got.body)
		if !ok {
			t.Fatalf("%s: the signature does not verify over the body", sc.name)
		}
		if hdr["alg"] != "ES256" || hdr["typ"] != "mulegate-answer+jws" || hdr["org"] != "bank-a" || hdr["purpose"] != "payment_check" ||
			hdr["request_id"] != got.header.Get("X-Request-ID") || hdr["iat"] == nil {
			t.Errorf("%s: header %v", sc.name, hdr)
		}
		origin, seq, _ := strings.Cut(hdr["audit"].(string), "#")
		n, err := strconv.ParseUint(seq, 10, 64)
		if origin != "mulegate/test-gw" || err != nil {
			t.Fatalf("%s: audit %v", sc.name, hdr["audit"])
		}
		sum := sha256.Sum256(got.body)
		if rec := auditLine(t, auditFile, n); rec["body_sha256"] != hex.EncodeToString(sum[:]) || rec["request_id"] != hdr["request_id"] {
			t.Errorf("%s: the audit record %v does not hold the signed body", sc.name, rec)
		}
		if _, ok := checkJWS(t, keys, sig, append([]byte(" "), got.body...)); ok {
			t.Errorf("%s: a changed body verifies", sc.name)
		}
		if first.status == 0 {
			first = got
		}
	}
	if got := do(t, bank, "GET", api+"/v1/ibans/NL91ABNA0417164300", tok, ""); got.header.Get("Mulegate-Signature") != "" ||
		got.header.Get("Preference-Applied") != "" {
		t.Errorf("an answer without Prefer: signed is signed")
	}
	// mulegate evidence verify, offline.
	jwksFile, bodyFile := filepath.Join(dir, "keys.json"), filepath.Join(dir, "body.json")
	_ = os.WriteFile(jwksFile, do(t, bank, "GET", api+"/v1/evidence/keys", tok, "").body, 0o600)
	_ = os.WriteFile(bodyFile, first.body, 0o600)
	verify := func() (string, error) {
		out, err := exec.Command(mustBinary(t), "evidence", "verify", "--keys", jwksFile, "--signature",
			first.header.Get("Mulegate-Signature"), bodyFile).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil || !strings.Contains(out, `"verified":true`) || !strings.Contains(out, `"org":"bank-a"`) {
		t.Errorf("evidence verify: %v %s", err, out)
	}
	_ = os.WriteFile(bodyFile, append(first.body, ' '), 0o600)
	if out, err := verify(); err == nil {
		t.Errorf("evidence verify took a changed body: %s", out)
	}
	// Rotation: a new key and id, SIGHUP.
	writeECKey(t, keyFile)
	if err := writeFile(cfgPath, p.config(rds.Addrs(), extra("2027-01"))); err != nil {
		t.Fatal(err)
	}
	if err := gw.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, "both keys listed after SIGHUP", 5*time.Second, func() bool {
		keys = jwksKeys(t, do(t, bank, "GET", api+"/v1/evidence/keys", tok, "").body)
		return len(keys) == 2
	})
	got := do(t, bank, "GET", api+"/v1/ibans/NL91ABNA0417164300", tok, "", "Prefer", "signed")
	if hdr, ok := checkJWS(t, keys, got.header.Get("Mulegate-Signature"), got.body); !ok || hdr["kid"] != "2027-01" {
		t.Errorf("after the rotation: %v %v", hdr, ok)
	}
	if _, ok := checkJWS(t, keys, first.header.Get("Mulegate-Signature"), first.body); !ok {
		t.Error("an answer signed before the rotation no longer verifies")
	}
}

// checkpointOf reads a signed checkpoint's size and root.
func checkpointOf(t *testing.T, raw []byte) evidence.Checkpoint {
	t.Helper()
	cp := evidence.SplitCheckpoints(append(append([]byte{}, raw...), '\n'))
	if len(cp) != 1 {
		t.Fatalf("not one signed checkpoint: %q", raw)
	}
	c, err := evidence.ParseCheckpoint(cp[0].Text)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEvidenceTrail (SPEC Part 3, "A trail that proves it was only
// appended to"): the audit records form a Merkle tree whose signed
// checkpoints the gateway publishes; a bank gets the inclusion proof of
// its own signed answer's record (not of another org's; the police of
// any) and checks answer, record, proof and checkpoint offline with
// `mulegate evidence verify`; consistency proofs link checkpoints; the
// tree continues after a SIGKILL and a restart; `mulegate audit verify`
// accepts the trail with its checkpoints and refuses an edited copy.
func TestEvidenceTrail(t *testing.T) {
	httpOnly(t)
	p := mustPKI(t)
	dir := t.TempDir()
	keyFile, auditFile, cpKey := filepath.Join(dir, "answers.pem"), filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "cp.key")
	writeECKey(t, keyFile)
	skey, vkey, err := note.GenerateKey(rand.Reader, "mulegate/trail-test")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(cpKey, []byte(skey+"\n"), 0o600)
	cfgPath := filepath.Join(dir, "mulegate.yaml")
	rds := redistest.StartTopology(t)
	cfgText := p.config(rds.Addrs(), "audit:\n  path: "+auditFile+"\nevidence:\n  signing_key_file: "+keyFile+
		"\n  key_id: k1\n  origin: mulegate/trail-test\n  checkpoint_key_file: "+cpKey+"\n  checkpoint_interval: 200ms\n")
	_ = writeFile(cfgPath, cfgText)
	gw := startProc(t, []string{"serve", "--config", cfgPath}, nil, "api", "ops")
	bank, tok := p.client(t, p.clients["bank-a"]), p.token(t, "bank-a", nil, nil)
	other, otok := p.client(t, p.clients["bank-b"]), p.token(t, "bank-b", nil, nil)
	police, ptok := p.client(t, p.clients["police-nl"]), p.token(t, "police-nl", nil, nil)
	answer := do(t, bank, "GET", gw.addrs["api"]+"/v1/ibans/NL91ABNA0417164300", tok, "", "Prefer", "signed")
	hdr, _ := checkJWS(t, jwksKeys(t, do(t, bank, "GET", gw.addrs["api"]+"/v1/evidence/keys", tok, "").body),
		answer.header.Get("Mulegate-Signature"), answer.body)
	_, seqText, _ := strings.Cut(hdr["audit"].(string), "#")
	seq, _ := strconv.ParseInt(seqText, 10, 64)
	var cp []byte
	waitfor.Until(t, "a checkpoint that covers the answer's record", 5*time.Second, func() bool {
		got := do(t, bank, "GET", gw.addrs["api"]+"/v1/evidence/checkpoint", tok, "")
		cp = got.body
		return got.status == 200 && checkpointOf(t, cp).Size >= seq
	})
	first := checkpointOf(t, cp)
	proofURL := fmt.Sprintf("%s/v1/evidence/proof?origin=mulegate/trail-test&seq=%d&size=%d", gw.addrs["api"], seq, first.Size)
	proof := do(t, bank, "GET", proofURL, tok, "")
	if proof.status != 200 {
		t.Fatalf("the bank's proof of its own record: %d %s", proof.status, proof.body)
	}
	if got := do(t, other, "GET", proofURL, otok, ""); got.status != 403 {
		t.Errorf("another bank's proof of bank-a's record: %d", got.status)
	}
	if got := do(t, police, "GET", proofURL, ptok, ""); got.status != 200 {
		t.Errorf("the police's proof: %d", got.status)
	}
	if got := do(t, bank, "GET", strings.Replace(proofURL, "trail-test", "elsewhere", 1), tok, ""); got.status != 404 ||
		!strings.Contains(string(got.body), "elsewhere") {
		t.Errorf("another origin: %d %s", got.status, got.body)
	}
	// The bank's offline walk: answer, record, proof, checkpoint.
	files := map[string][]byte{"keys.json": do(t, bank, "GET", gw.addrs["api"]+"/v1/evidence/keys", tok, "").body, "body.json": answer.body,
		"proof.json": proof.body, "checkpoint.txt": cp, "record.json": mustRecordLine(t, auditFile, seq)}
	for name, b := range files {
		_ = os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	walk := func() (string, error) {
		out, err := exec.Command(mustBinary(t), "evidence", "verify", "--keys", filepath.Join(dir, "keys.json"),
			"--signature", answer.header.Get("Mulegate-Signature"), "--record", filepath.Join(dir, "record.json"),
			"--proof", filepath.Join(dir, "proof.json"), "--checkpoint", filepath.Join(dir, "checkpoint.txt"), "--note-key", vkey,
			filepath.Join(dir, "body.json")).CombinedOutput()
		return string(out), err
	}
	if out, err := walk(); err != nil || !strings.Contains(out, `"in_trail":{"origin":"mulegate/trail-test"`) {
		t.Fatalf("the offline walk: %v %s", err, out)
	}
	_ = os.WriteFile(filepath.Join(dir, "record.json"), []byte(strings.Replace(string(files["record.json"]), `"status":200`, `"status":404`, 1)), 0o600)
	if out, err := walk(); err == nil {
		t.Errorf("an edited record passed the walk: %s", out)
	}
	// SIGKILL and a restart: the tree continues, consistent with before.
	gw.kill(syscall.SIGKILL)
	gw = startProc(t, []string{"serve", "--config", cfgPath}, nil, "api", "ops")
	for range 5 {
		do(t, bank, "GET", gw.addrs["api"]+"/v1/ibans/DE89370400440532013000", tok, "")
	}
	waitfor.Until(t, "a checkpoint after the restart", 5*time.Second, func() bool {
		got := do(t, bank, "GET", gw.addrs["api"]+"/v1/evidence/checkpoint", tok, "")
		cp = got.body
		return got.status == 200 && checkpointOf(t, cp).Size >= first.Size+5
	})
	second := checkpointOf(t, cp)
	cons := decodeInto[struct {
		Proof []string `json:"proof"`
	}](t, do(t, bank, "GET", fmt.Sprintf("%s/v1/evidence/consistency?origin=mulegate/trail-test&from=%d&to=%d", gw.addrs["api"], first.Size, second.Size), tok, ""))
	tp := make(tlog.TreeProof, len(cons.Proof))
	for n, h := range cons.Proof {
		raw, _ := base64.StdEncoding.DecodeString(h)
		copy(tp[n][:], raw)
	}
	if err := tlog.CheckTree(tp, second.Size, second.Root, first.Size, first.Root); err != nil {
		t.Errorf("the tree after the restart does not extend the one before: %v", err)
	}
	// SIGHUP with a new audit.path rotates the trail: the old file keeps
	// its checkpoints, the new one is a tree of its own, <origin>/1, which
	// a restart keeps.
	auditFile2 := filepath.Join(dir, "audit-2.jsonl")
	_ = writeFile(cfgPath, strings.Replace(cfgText, auditFile, auditFile2, 1))
	if err := gw.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rotated := func(g *proc) {
		t.Helper()
		waitfor.Until(t, "a checkpoint of the rotated trail", 10*time.Second, func() bool {
			do(t, bank, "GET", g.addrs["api"]+"/v1/ibans/DE89370400440532013000", tok, "")
			got := do(t, bank, "GET", g.addrs["api"]+"/v1/evidence/checkpoint", tok, "")
			return got.status == 200 && checkpointOf(t, got.body).Origin == "mulegate/trail-test/1"
		})
		a := do(t, bank, "GET", g.addrs["api"]+"/v1/ibans/NL91ABNA0417164300", tok, "", "Prefer", "signed")
		h, _ := checkJWS(t, jwksKeys(t, do(t, bank, "GET", g.addrs["api"]+"/v1/evidence/keys", tok, "").body), a.header.Get("Mulegate-Signature"), a.body)
		if !strings.HasPrefix(h["audit"].(string), "mulegate/trail-test/1#") {
			t.Errorf("a signed answer after the rotation names %v", h["audit"])
		}
	}
	rotated(gw)
	gw.kill(syscall.SIGTERM)
	gw = startProc(t, []string{"serve", "--config", cfgPath}, nil, "api", "ops")
	rotated(gw)
	gw.kill(syscall.SIGTERM)
	if out, err := exec.Command(mustBinary(t), "audit", "verify", auditFile2, "--checkpoints", auditFile2+".checkpoints", "--note-key", vkey).CombinedOutput(); err != nil {
		t.Errorf("audit verify of the rotated file: %v %s", err, out)
	}
	// The same proof, made offline from the file (precise point 14).
	offline, err := exec.Command(mustBinary(t), "audit", "prove", auditFile, "--seq", seqText, "--size", strconv.FormatInt(first.Size, 10),
		"--origin", "mulegate/trail-test").Output()
	if err != nil || strings.TrimSpace(string(offline)) != strings.TrimSpace(string(proof.body)) {
		t.Errorf("audit prove: %v\n%s\nthe API's: %s", err, offline, proof.body)
	}
	out, err := exec.Command(mustBinary(t), "audit", "verify", auditFile, "--checkpoints", auditFile+".checkpoints", "--note-key", vkey).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "signed checkpoints match the file") {
		t.Errorf("audit verify: %v %s", err, out)
	}
	raw, _ := os.ReadFile(auditFile)
	edited := filepath.Join(dir, "edited.jsonl")
	_ = os.WriteFile(edited, []byte(strings.Replace(string(raw), `"org":"bank-a"`, `"org":"bank-b"`, 1)), 0o600)
	if out, err := exec.Command(mustBinary(t), "audit", "verify", edited, "--checkpoints", auditFile+".checkpoints", "--note-key", vkey).CombinedOutput(); err == nil {
		t.Errorf("an edited trail verifies: %s", out)
	}
}

// mustRecordLine is record seq's JSON line.
func mustRecordLine(t *testing.T, path string, seq int64) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, `{"seq":`+strconv.FormatInt(seq, 10)+`,`) {
			return []byte(l)
		}
	}
	t.Fatalf("no record %d", seq)
	return nil
}
