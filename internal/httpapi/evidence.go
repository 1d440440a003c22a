package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/mulegate/mulegate/internal/domain"
	"github.com/mulegate/mulegate/internal/evidence"
)

// The Merkle trail's routes (SPEC Part 3, "A trail that proves it was
// only appended to"): the latest signed checkpoint, inclusion proofs of
// records (the police any, another org only its own requests'), and
// consistency proofs between two tree sizes.

// EvidenceTree is the audit trail's Merkle tree (evidence.Tree).
type EvidenceTree interface {
	Origin() string
	Latest() []byte
	ProveRecord(seq, size int64) (tlog.Hash, tlog.RecordProof, error)
	ProveTree(from, to int64) (tlog.TreeProof, error)
	RecordOrg(seq int64) (string, error)
}

// treeParams reads origin and the named positive integers of a proof
// query: 400 for a missing or bad one, 404 for another origin (its
// proofs are served by the replica that holds it).
func treeParams(c *gin.Context, tree EvidenceTree, names ...string) ([]int64, bool) {
	if tree == nil {
		writeProblem(c, &domain.Error{Code: domain.CodeNotFound, Msg: "this gateway keeps no Merkle trail (evidence.checkpoint_key_file)"})
		return nil, false
	}
	if o := c.Query("origin"); o != tree.Origin() {
		writeProblem(c, &domain.Error{Code: domain.CodeNotFound, Msg: "origin " + strconv.Quote(o) + " is not this gateway's (" +
			tree.Origin() + "): ask the replica that holds it"})
		return nil, false
	}
	out := make([]int64, len(names))
	for n, name := range names {
		v, err := strconv.ParseInt(c.Query(name), 10, 64)
		if err != nil || v < 1 {
			writeProblem(c, domain.Invalid(name, name+" must be a positive integer"))
			return nil, false
		}
		out[n] = v
	}
	return out, true
}

// handleCheckpoint serves GET /v1/evidence/checkpoint: the latest signed
// checkpoint (text/plain), 404 before the first.
func handleCheckpoint(tree EvidenceTree) gin.HandlerFunc {
	return func(c *gin.Context) {
		var cp []byte
		if tree != nil {
			cp = tree.Latest()
		}
		if cp == nil {
			writeProblem(c, &domain.Error{Code: domain.CodeNotFound, Msg: "no checkpoint yet"})
			return
		}
		c.Data(http.StatusOK, "text/plain; charset=utf-8", cp)
	}
}

// handleProof serves GET /v1/evidence/proof?origin=O&seq=N&size=M: the
// inclusion proof of record seq in the tree of size M; the police for any
// record, another org only for a record of its own request (403).
func handleProof(tree EvidenceTree) gin.HandlerFunc {
	return func(c *gin.Context) {
		v, ok := treeParams(c, tree, "seq", "size")
		if !ok {
			return
		}
		seq, size := v[0], v[1]
		if seq > size {
			writeProblem(c, domain.Invalid("seq", "seq must not be past size"))
			return
		}
		who := caller(c)
		if who.Type != domain.OrgPolice {
			org, err := tree.RecordOrg(seq)
			if err != nil {
				writeProblem(c, &domain.Error{Code: domain.CodeNotFound, Msg: "no such record in the tree yet"})
				return
			}
			if org != who.Org {
				writeProblem(c, &domain.Error{Code: domain.CodeForbidden, Msg: "a proof is for the org whose request the record is (the police: any)"})
				return
			}
		}
		leaf, proof, err := tree.ProveRecord(seq, size)
		if err != nil {
			writeProblem(c, &domain.Error{Code: domain.CodeNotFound, Msg: err.Error()})
			return
		}
		c.JSON(http.StatusOK, evidence.NewProof(tree.Origin(), seq, size, leaf, proof))
	}
}

type consistencyJSON struct {
	Origin string   `json:"origin"`
	From   int64    `json:"from"`
	To     int64    `json:"to"`
	Proof  []string `json:"proof"`
}

// handleConsistency serves GET /v1/evidence/consistency?origin=O&from=M1&to=M2.
func handleConsistency(tree EvidenceTree) gin.HandlerFunc {
	return func(c *gin.Context) {
		v, ok := treeParams(c, tree, "from", "to")
		if !ok {
			return
		}
		if v[0] > v[1] {
			writeProblem(c, domain.Invalid("from", "from must not be past to"))
			return
		}
		p, err := tree.ProveTree(v[0], v[1])
		if err != nil {
			writeProblem(c, &domain.Error{Code: domain.CodeNotFound, Msg: err.Error()})
			return
		}
		c.JSON(http.StatusOK, consistencyJSON{Origin: tree.Origin(), From: v[0], To: v[1], Proof: evidence.HashesB64(p)})
	}
}
