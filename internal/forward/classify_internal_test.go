package forward

import "testing"

// TestClassify: what each answer of a police store means (SPEC: 2xx and
// 409 delivered with the store's reference, 400 and 422 rejected, the
// rest "try later"). A store written by someone else may give its
// reference as a JSON number, or no body at all: delivered either way.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		status  int
		body    string
		outcome Outcome
		ref     string
	}{
		{201, `{"police_reference":"POL-1"}`, Delivered, "POL-1"},
		{200, `{"police_reference":"POL-1","extra":true}`, Delivered, "POL-1"},
		{409, `{"police_reference":"POL-1"}`, Delivered, "POL-1"},
		{201, `{"police_reference":20261204001}`, Delivered, "20261204001"},
		{201, `{"police_reference":null}`, Delivered, ""},
		{201, `{"police_reference":{"id":1}}`, Delivered, ""},
		{204, ``, Delivered, ""},
		{201, `OK`, Delivered, ""},
		{400, `{"error":"bad"}`, Rejected, ""},
		{422, ``, Rejected, ""},
		{404, ``, Retry, ""},
		{302, ``, Retry, ""},
		{503, ``, Retry, ""},
	} {
		got := classify(c.status, []byte(c.body))
		if got.Outcome != c.outcome || got.PoliceRef != c.ref || got.Status != c.status {
			t.Errorf("%d %s: %+v, want outcome %v reference %q", c.status, c.body, got, c.outcome, c.ref)
		}
	}
}
