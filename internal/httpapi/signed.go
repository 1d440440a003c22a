package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mulegate/mulegate/internal/evidence"
)

// Signed answers (SPEC Part 3, "Evidence"): a request to a lookup, a
// batch lookup or a report's status that carries Prefer: signed gets its
// body signed as a detached compact JWS (Mulegate-Signature) whose
// protected header names the request's audit record. The body is held
// back, its record written (with the body's SHA-256) and synced to disk,
// then signed and sent: the record the signature names always exists.

// AnswerSigner signs an answer's body (evidence.Signer).
type AnswerSigner interface {
	Sign(body []byte, a evidence.Answer) (string, error)
}

// EvidenceTrail is an audit trail whose records signed answers name: it
// says which sequence number a record got, syncs it, and names itself.
type EvidenceTrail interface {
	AuditSeq(AuditEntry) (uint64, error)
	Sync() error
	Origin() string
}

// signedActions are the routes whose answers may be signed.
var signedActions = map[string]bool{"lookup": true, "lookup_batch": true, "report_read": true}

// prefersSigned says whether a Prefer header asks for a signed answer
// (RFC 7240: comma-separated preferences, each a token with optional
// value and parameters).
func prefersSigned(h http.Header) bool {
	for _, v := range h.Values("Prefer") {
		if preferValueSigned(v) {
			return true
		}
	}
	return false
}

// preferValueSigned reads one Prefer header value.
func preferValueSigned(v string) bool {
	for _, p := range strings.Split(v, ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(p), ";")
		name, _, _ = strings.Cut(name, "=")
		if strings.EqualFold(strings.TrimSpace(name), "signed") {
			return true
		}
	}
	return false
}

// signing is the signed-answer state of one request.
type signing struct {
	signer AnswerSigner
	trail  EvidenceTrail
	body   []byte
}

// sign finishes a held-back answer: its record is written and synced by
// commit (which sets seq), then the body is signed and sent. An answer
// whose record failed is the 503 commit wrote; one that cannot be signed
// is sent unsigned (without Preference-Applied).
func (w *auditWriter) sign(c *gin.Context, st *reqState, now time.Time) {
	s := w.signing
	w.signing = nil // from here on, writes go through
	sum := sha256.Sum256(s.body)
	st.bodySHA256 = hex.EncodeToString(sum[:])
	if !w.ensure() {
		return
	}
	if err := s.trail.Sync(); err != nil {
		logger(c).Error("audit trail not synced: the answer goes unsigned", "err", err.Error())
	} else if st.auditSeq > 0 && st.principal.Org.ID != "" && w.ResponseWriter.Status() < 500 {
		p := st.principal
		purpose := st.purpose
		if purpose == "" {
			purpose = "unspecified"
		}
		sig, err := s.signer.Sign(s.body, evidence.Answer{IssuedAt: now, Org: p.Org.ID, RequestID: st.id, Purpose: purpose,
			Audit: s.trail.Origin() + "#" + strconv.FormatUint(st.auditSeq, 10)})
		if err != nil {
			logger(c).Error("answer not signed", "err", err.Error())
		} else {
			w.ResponseWriter.Header().Set("Mulegate-Signature", sig)
			w.ResponseWriter.Header().Set("Preference-Applied", "signed")
		}
	}
	w.ResponseWriter.Header().Add("Vary", "Prefer")
	w.ResponseWriter.WriteHeaderNow()
	_, _ = w.ResponseWriter.Write(s.body)
}

// handleEvidenceKeys serves GET /v1/evidence/keys (any authenticated
// caller): the JWKS of the current and previous answer-signing keys; an
// empty set when the gateway signs nothing.
func handleEvidenceKeys(keys func() ([]byte, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if keys == nil {
			c.Data(http.StatusOK, "application/jwk-set+json", []byte(`{"keys":[]}`))
			return
		}
		b, err := keys()
		if err != nil {
			writeProblem(c, err)
			return
		}
		c.Data(http.StatusOK, "application/jwk-set+json", b)
	}
}
