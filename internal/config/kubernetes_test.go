package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestKubernetesBaseConfigLoads: the configuration in the Kubernetes
// base's ConfigMap loads without a problem as each pod sees it: the
// gateway's (with its MULEGATE_* variables, $(POD_NAME) expanded) and the
// forwarder's, with the secret files at their mount paths (under a
// temporary root here). The objects themselves are checked against the
// Kubernetes API types in deploy/kubernetes.
func TestKubernetesBaseConfigLoads(t *testing.T) {
	base := "../../deploy/kubernetes/base/"
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	raw, err := os.ReadFile(base + "configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	body := strings.ReplaceAll(cm.Data["mulegate.yaml"], "/etc/mulegate/", root+"/etc/mulegate/")
	body = strings.ReplaceAll(body, "/var/lib/mulegate/", root+"/var/lib/mulegate/")
	path := filepath.Join(root, "mulegate.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"secrets/redis-password": "redis-pass", "secrets/pseudonym-secret": "0123456789abcdef0123456789abcdef"} {
		p := filepath.Join(root, "etc", "mulegate", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	gateway := podEnv(t, base+"gateway.yaml", "mulegate-0", root)
	if len(gateway) < 3 {
		t.Fatalf("the gateway sets only %v", gateway)
	}
	for who, env := range map[string]map[string]string{"gateway": gateway, "forwarder": podEnv(t, base+"forwarder.yaml", "mulegate-forwarder-abc12", root)} {
		c, err := Load(path, func(k string) string { return env[k] })
		if err != nil {
			t.Errorf("%s: %v", who, err)
			continue
		}
		if who == "gateway" && (c.Forward.Workers != 0 || c.Evidence.Origin != "mulegate/mulegate-0" || c.Evidence.SigningKeyFile == "") {
			t.Errorf("gateway: forward.workers %d, evidence.origin %q, signing key %q: want 0, mulegate/mulegate-0, set",
				c.Forward.Workers, c.Evidence.Origin, c.Evidence.SigningKeyFile)
		}
		if who == "forwarder" && c.Forward.Workers == 0 {
			t.Error("forwarder: forward.workers is 0")
		}
		if !c.Redis.Cluster || c.Storage.PseudonymSecret == "" || c.Redis.Password != "redis-pass" {
			t.Errorf("%s: redis cluster %v, pseudonym secret read %v, password read %v", who, c.Redis.Cluster, c.Storage.PseudonymSecret != "", c.Redis.Password != "")
		}
	}
}

// podEnv is a workload's MULEGATE_* variables as its pod pod sees them.
func podEnv(t *testing.T, file, pod, root string) map[string]string {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Env []struct{ Name, Value string } `yaml:"env"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range w.Spec.Template.Spec.Containers[0].Env {
		if strings.HasPrefix(e.Name, "MULEGATE_") {
			v := strings.ReplaceAll(e.Value, "$(POD_NAME)", pod)
			out[e.Name] = strings.ReplaceAll(v, "/etc/mulegate/", root+"/etc/mulegate/")
		}
	}
	return out
}
