package pemfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCertPoolRefusesAFileWithoutCertificates(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CertPool(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("CertPool on a file without certificates: %v, want an error naming the file", err)
	}
	if _, err := CertPool(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("CertPool on a missing file: no error")
	}
	if _, err := KeyPair(p, p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("KeyPair on garbage: %v, want an error naming the file", err)
	}
}
