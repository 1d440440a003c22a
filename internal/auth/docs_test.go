package auth_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mulegate/mulegate/internal/auth"
	"github.com/mulegate/mulegate/internal/domain"
)

// TestDocsListTheScopesTheCodeGrants (issue 21.9): docs/contract.md and
// the OpenAPI description list, per org type, exactly the scopes the
// gateway grants (a bank set up from a contract that omitted events:read
// and reports:review got 403 on its feed and every review).
func TestDocsListTheScopesTheCodeGrants(t *testing.T) {
	t.Parallel()
	want := map[string][]string{}
	for _, typ := range []domain.OrgType{domain.OrgBank, domain.OrgMarketplace, domain.OrgPolice} {
		want[string(typ)] = strings.Fields(auth.TypeScopes[typ].String())
	}

	contract, err := os.ReadFile("../../docs/contract.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| (bank|marketplace|police) \| (.*) \|$`)
	name := regexp.MustCompile("`([a-z]+:[a-z]+)`")
	got := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(string(contract), -1) {
		for _, n := range name.FindAllStringSubmatch(m[2], -1) {
			got[m[1]] = append(got[m[1]], n[1])
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("docs/contract.md scope table differs from the code (-code +docs):\n%s", d)
	}

	spec, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(string(spec)), " ")
	m := regexp.MustCompile(`allows \(bank: ([^;]*); marketplace: ([^;]*); police: ([^)]*)\)`).FindStringSubmatch(flat)
	if m == nil {
		t.Fatal("api/openapi.yaml: no \"allows (bank: …; marketplace: …; police: …)\" sentence")
	}
	got = map[string][]string{"bank": strings.Fields(m[1]), "marketplace": strings.Fields(m[2]), "police": strings.Fields(m[3])}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("api/openapi.yaml scopes differ from the code (-code +openapi):\n%s", d)
	}
}
