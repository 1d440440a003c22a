package kubernetes

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// kustomization is the part of kustomize's file the base uses; decoding
// it strictly refuses anything else (a generator would add hash
// suffixes this test cannot check).
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
	Resources []string `json:"resources"`
}

// base is every object of the base, decoded strictly into its API type.
type base struct {
	configMaps   map[string]*corev1.ConfigMap
	accounts     map[string]*corev1.ServiceAccount
	services     []*corev1.Service
	statefulSets []*appsv1.StatefulSet
	deployments  []*appsv1.Deployment
	budgets      []*policyv1.PodDisruptionBudget
	policies     []*networkingv1.NetworkPolicy
}

// workload is a StatefulSet's or a Deployment's pod template, with the
// pod names it makes (a StatefulSet's are known).
type workload struct {
	kind, name string
	selector   *metav1.LabelSelector
	template   corev1.PodTemplateSpec
	claims     []string // a StatefulSet's volume claim templates
	pods       []string // a StatefulSet's pod names
}

func (b *base) workloads() []workload {
	var out []workload
	for _, s := range b.statefulSets {
		w := workload{kind: "StatefulSet", name: s.Name, selector: s.Spec.Selector, template: s.Spec.Template}
		for _, c := range s.Spec.VolumeClaimTemplates {
			w.claims = append(w.claims, c.Name)
		}
		for n := range int(*s.Spec.Replicas) {
			w.pods = append(w.pods, fmt.Sprintf("%s-%d", s.Name, n))
		}
		out = append(out, w)
	}
	for _, d := range b.deployments {
		out = append(out, workload{kind: "Deployment", name: d.Name, selector: d.Spec.Selector, template: d.Spec.Template})
	}
	return out
}

func loadBase(t *testing.T) *base {
	t.Helper()
	raw, err := os.ReadFile("base/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("base/kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("base/kustomization.yaml: %s %s, want a kustomize.config.k8s.io/v1beta1 Kustomization", k.APIVersion, k.Kind)
	}
	files, _ := filepath.Glob("base/*.yaml")
	var want []string
	for _, f := range files {
		if f != "base/kustomization.yaml" {
			want = append(want, filepath.Base(f))
		}
	}
	if got := slices.Sorted(slices.Values(k.Resources)); !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml lists %v, base/ holds %v", got, want)
	}
	b := &base{configMaps: map[string]*corev1.ConfigMap{}, accounts: map[string]*corev1.ServiceAccount{}}
	for _, file := range k.Resources {
		for n, doc := range documents(t, filepath.Join("base", file)) {
			at := fmt.Sprintf("%s, document %d", file, n+1)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s: %v", at, err)
			}
			var obj metav1.Object
			switch tm.APIVersion + " " + tm.Kind {
			case "v1 ConfigMap":
				o := into[corev1.ConfigMap](t, at, doc)
				b.configMaps[o.Name], obj = o, o
			case "v1 ServiceAccount":
				o := into[corev1.ServiceAccount](t, at, doc)
				b.accounts[o.Name], obj = o, o
			case "v1 Service":
				b.services = append(b.services, into[corev1.Service](t, at, doc))
				obj = b.services[len(b.services)-1]
			case "apps/v1 StatefulSet":
				b.statefulSets = append(b.statefulSets, into[appsv1.StatefulSet](t, at, doc))
				obj = b.statefulSets[len(b.statefulSets)-1]
			case "apps/v1 Deployment":
				b.deployments = append(b.deployments, into[appsv1.Deployment](t, at, doc))
				obj = b.deployments[len(b.deployments)-1]
			case "policy/v1 PodDisruptionBudget":
				b.budgets = append(b.budgets, into[policyv1.PodDisruptionBudget](t, at, doc))
				obj = b.budgets[len(b.budgets)-1]
			case "networking.k8s.io/v1 NetworkPolicy":
				b.policies = append(b.policies, into[networkingv1.NetworkPolicy](t, at, doc))
				obj = b.policies[len(b.policies)-1]
			default:
				t.Fatalf("%s: %s %s is not a kind this test knows: add it", at, tm.APIVersion, tm.Kind)
			}
			for _, msg := range validation.IsDNS1123Subdomain(obj.GetName()) {
				t.Errorf("%s: name %q: %s", at, obj.GetName(), msg)
			}
		}
	}
	return b
}

// documents splits a multi-document YAML file.
func documents(t *testing.T, file string) [][]byte {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := k8syaml.NewYAMLReader(bufio.NewReader(f))
	var out [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			out = append(out, doc)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

// into decodes doc into a T, refusing unknown and duplicate fields.
func into[T any](t *testing.T, at string, doc []byte) *T {
	t.Helper()
	obj := new(T)
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		t.Fatalf("%s: %v", at, err)
	}
	return obj
}

func matches(t *testing.T, sel *metav1.LabelSelector, set map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(set))
}

// TestWorkloads: the gateway serves and does not forward, a separate
// Deployment forwards; every pod runs without an API token, as non-root
// on a read-only root, with probes on its ops port, requests and limits
// and a GOMEMLIMIT inside the memory limit; every mount has a volume.
func TestWorkloads(t *testing.T) {
	b := loadBase(t)
	ws := b.workloads()
	var serve, forward int
	for _, w := range ws {
		at := w.kind + " " + w.name
		if !matches(t, w.selector, w.template.Labels) {
			t.Errorf("%s: its selector does not match its pod template's labels", at)
		}
		ps := w.template.Spec
		if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken must be false", at)
		}
		if sa := b.accounts[ps.ServiceAccountName]; sa == nil || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("%s: service account %q is not in the base with automountServiceAccountToken: false", at, ps.ServiceAccountName)
		}
		if sc := ps.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("%s: runAsNonRoot must be true", at)
		}
		volumes := map[string]bool{}
		for _, v := range ps.Volumes {
			volumes[v.Name] = true
		}
		for _, c := range w.claims {
			volumes[c] = true
		}
		if len(ps.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", at, len(ps.Containers))
		}
		c := ps.Containers[0]
		switch {
		case len(c.Args) > 0 && c.Args[0] == "serve":
			serve++
			if env(c, "MULEGATE_FORWARD_WORKERS") != "0" {
				t.Errorf("%s: the gateway must not forward (MULEGATE_FORWARD_WORKERS=0): the forwarder Deployment does", at)
			}
			if w.kind != "StatefulSet" || len(w.claims) == 0 {
				t.Errorf("%s: the gateway must be a StatefulSet with a volume (its evidence origin and audit file)", at)
			}
		case len(c.Args) > 0 && c.Args[0] == "forward":
			forward++
			if w.kind != "Deployment" {
				t.Errorf("%s: the forwarder is stateless: a Deployment", at)
			}
		default:
			t.Errorf("%s: args %v: want serve or forward", at, c.Args)
		}
		ports := map[string]bool{}
		for _, p := range c.Ports {
			ports[p.Name] = true
		}
		for name, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			want := map[string]string{"readiness": "/readyz", "liveness": "/healthz"}[name]
			if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.StrVal != "ops" || !ports["ops"] {
				t.Errorf("%s: %s probe must be GET %s on the named port ops", at, name, want)
			}
		}
		req, lim := c.Resources.Requests, c.Resources.Limits
		if req.Cpu().IsZero() || req.Memory().IsZero() || lim.Memory().IsZero() {
			t.Errorf("%s: requests (cpu, memory) and a memory limit are required", at)
		} else if gml := env(c, "GOMEMLIMIT"); gml == "" {
			t.Errorf("%s: GOMEMLIMIT is not set", at)
		} else if q, err := resource.ParseQuantity(strings.TrimSuffix(gml, "B")); err != nil || q.Value()*10 > lim.Memory().Value()*9 {
			t.Errorf("%s: GOMEMLIMIT %s must be at most 90%% of the memory limit %s", at, gml, lim.Memory())
		}
		if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
			!slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: the container must run on a read-only root, without privilege escalation, all capabilities dropped", at)
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("%s: mount %q has no volume", at, m.Name)
			}
		}
	}
	if serve == 0 || forward == 0 {
		t.Errorf("%d gateway and %d forwarder workloads, want both", serve, forward)
	}
	for _, s := range b.statefulSets {
		var governing bool
		for _, svc := range b.services {
			governing = governing || (svc.Name == s.Spec.ServiceName && svc.Spec.ClusterIP == corev1.ClusterIPNone)
		}
		if !governing {
			t.Errorf("StatefulSet %s: its serviceName %q is not a headless Service of the base", s.Name, s.Spec.ServiceName)
		}
	}
}

func env(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestServicesAndBudgets: every Service selects pods that have its
// target ports; only the API port is on a load balancer; every budget
// covers exactly one workload.
func TestServicesAndBudgets(t *testing.T) {
	b := loadBase(t)
	ws := b.workloads()
	for _, svc := range b.services {
		at := "Service " + svc.Name
		var selected []workload
		for _, w := range ws {
			if matches(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, w.template.Labels) {
				selected = append(selected, w)
			}
		}
		if len(selected) == 0 {
			t.Errorf("%s: selects no pods", at)
		}
		for _, p := range svc.Spec.Ports {
			if p.TargetPort.Type != intstr.String {
				t.Errorf("%s: port %s: target the container port by name", at, p.Name)
				continue
			}
			for _, w := range selected {
				if !hasPort(w.template.Spec, p.TargetPort.StrVal) {
					t.Errorf("%s: port %s targets %q, which %s %s does not have", at, p.Name, p.TargetPort.StrVal, w.kind, w.name)
				}
			}
			if exposed := svc.Spec.Type == corev1.ServiceTypeLoadBalancer || svc.Spec.Type == corev1.ServiceTypeNodePort; exposed && p.TargetPort.StrVal != "api" {
				t.Errorf("%s: %s exposes port %s outside the cluster: only the API belongs there", at, svc.Spec.Type, p.TargetPort.StrVal)
			}
		}
	}
	for _, pdb := range b.budgets {
		var n int
		for _, w := range ws {
			if matches(t, pdb.Spec.Selector, w.template.Labels) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("PodDisruptionBudget %s covers %d workloads, want 1", pdb.Name, n)
		}
	}
}

func hasPort(ps corev1.PodSpec, name string) bool {
	for _, c := range ps.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

// TestNetworkPolicy: every mulegate pod is covered; the API port is open,
// the ops port only from inside (pods of the namespace or a namespace by
// label, never an address block), and no rule opens every port.
func TestNetworkPolicy(t *testing.T) {
	b := loadBase(t)
	for _, w := range b.workloads() {
		var covered bool
		for _, np := range b.policies {
			if matches(t, &np.Spec.PodSelector, w.template.Labels) && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
				covered = true
			}
		}
		if !covered {
			t.Errorf("%s %s: no NetworkPolicy restricts its ingress", w.kind, w.name)
		}
	}
	var api, ops bool
	for _, np := range b.policies {
		for n, rule := range np.Spec.Ingress {
			at := fmt.Sprintf("NetworkPolicy %s, rule %d", np.Name, n+1)
			if len(rule.Ports) == 0 {
				t.Errorf("%s: opens every port", at)
			}
			for _, p := range rule.Ports {
				switch p.Port.StrVal {
				case "api":
					api = true
				case "ops":
					ops = true
					if len(rule.From) == 0 {
						t.Errorf("%s: the ops port is open to everyone", at)
					}
					for _, f := range rule.From {
						if f.IPBlock != nil {
							t.Errorf("%s: the ops port is open to an address block (%s)", at, f.IPBlock.CIDR)
						}
					}
				default:
					t.Errorf("%s: port %v: name the container port (api, ops)", at, p.Port)
				}
			}
		}
	}
	if !api || !ops {
		t.Errorf("the policies allow api: %v, ops: %v; want both, ops from inside only", api, ops)
	}
}

// TestSecretsAreTheGuides: every file the configuration (or a pod's
// MULEGATE_*_FILE variable) names is in a mount of the pod that reads
// it, and the Secret or ConfigMap key behind it is in the base or
// created by docs/deploy.md's commands: the guide and the base name the
// same objects and keys.
func TestSecretsAreTheGuides(t *testing.T) {
	b := loadBase(t)
	created := guideObjects(t)
	cm := b.configMaps["mulegate"]
	if cm == nil {
		t.Fatal("no ConfigMap mulegate in the base")
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data["mulegate.yaml"]), &cfg); err != nil {
		t.Fatalf("ConfigMap mulegate, mulegate.yaml: %v", err)
	}
	files := map[string]string{} // config key → path
	collectFiles("", cfg, files)
	if len(files) < 8 {
		t.Fatalf("found only %d *_file keys in the configuration: %v", len(files), files)
	}
	for _, w := range b.workloads() {
		c := w.template.Spec.Containers[0]
		want := map[string]string{}
		for key, p := range files {
			// The forwarder reads Redis, the pseudonym secret and the police
			// client; the gateway everything.
			if c.Args[0] == "serve" || strings.HasPrefix(key, "redis.") || strings.HasPrefix(key, "storage.") || strings.HasPrefix(key, "police.") {
				want[key] = p
			}
		}
		pods := w.pods
		if len(pods) == 0 {
			pods = []string{w.name + "-xxxxx"}
		}
		for _, pod := range pods {
			for _, e := range c.Env {
				if strings.HasSuffix(e.Name, "_FILE") && strings.HasPrefix(e.Name, "MULEGATE_") {
					want[e.Name] = strings.ReplaceAll(e.Value, "$(POD_NAME)", pod)
				}
			}
			for key, p := range want {
				at := fmt.Sprintf("%s %s (pod %s): %s %s", w.kind, w.name, pod, key, p)
				kind, name, item, ok := source(w.template.Spec, c, p)
				switch {
				case !ok:
					t.Errorf("%s: in no mount of the pod", at)
				case kind == "configMap" && b.configMaps[name] != nil:
					if _, ok := b.configMaps[name].Data[item]; !ok {
						t.Errorf("%s: ConfigMap %s of the base has no key %q", at, name, item)
					}
				case !slices.Contains(created[kind+"/"+name], item):
					t.Errorf("%s: %s %s key %q is not created by docs/deploy.md (it creates %v)", at, kind, name, item, created[kind+"/"+name])
				}
			}
		}
	}
}

// collectFiles finds the configuration's *_file keys with a path.
func collectFiles(prefix string, v any, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			collectFiles(strings.TrimPrefix(prefix+"."+k, "."), x, out)
		}
	case string:
		if strings.HasSuffix(prefix, "_file") && v != "" {
			out[prefix] = v
		}
	}
}

// source is the Secret or ConfigMap (kind "secret" or "configMap") and
// key behind a file path in container c.
func source(ps corev1.PodSpec, c corev1.Container, p string) (kind, name, item string, ok bool) {
	for _, m := range c.VolumeMounts {
		rel, found := strings.CutPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !found {
			continue
		}
		for _, v := range ps.Volumes {
			switch {
			case v.Name != m.Name:
			case v.Secret != nil:
				return "secret", v.Secret.SecretName, rel, true
			case v.ConfigMap != nil:
				return "configMap", v.ConfigMap.Name, rel, true
			}
		}
	}
	return "", "", "", false
}

// guideObjects are the Secrets and ConfigMaps docs/deploy.md's kubectl
// commands create, with their keys ("secret/NAME" → keys).
func guideObjects(t *testing.T) map[string][]string {
	raw, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(raw), "\\\n", " ")
	cmd := regexp.MustCompile(`kubectl create (secret tls|secret generic|configmap) (\S+)([^\n]*)`)
	fromFile := regexp.MustCompile(`--from-file=(\S+)`)
	out := map[string][]string{}
	for _, m := range cmd.FindAllStringSubmatch(text, -1) {
		kind := "secret"
		if m[1] == "configmap" {
			kind = "configMap"
		}
		key := kind + "/" + m[2]
		if m[1] == "secret tls" {
			out[key] = append(out[key], "tls.crt", "tls.key")
		}
		for _, f := range fromFile.FindAllStringSubmatch(m[3], -1) {
			name, _, found := strings.Cut(f[1], "=")
			if !found {
				name = path.Base(f[1])
			}
			out[key] = append(out[key], name)
		}
	}
	if len(out) == 0 {
		t.Fatal("docs/deploy.md creates no Secret or ConfigMap (kubectl create …)")
	}
	return out
}
