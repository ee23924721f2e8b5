package deploy

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite deploy/kubernetes/ from the chart")

const (
	chartDir     = "helm/apimgw"
	manifestFile = "kubernetes/apimgw.yaml"
	// The release name and namespace the plain manifests are rendered with.
	releaseName = "apimgw"
)

// helmBinary is built once per test binary from the version deploy/go.mod
// names (a `tool` line): `go tool -n helm` compiles it into the Go build
// cache (minutes the first time on two cores, cached after) and prints its
// path.
var helmBinary string

func helm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if helmBinary == "" {
		start := time.Now()
		out, err := exec.Command("go", "tool", "-n", "helm").Output()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				t.Fatalf("go tool -n helm: %v\n%s", err, ee.Stderr)
			}
			t.Fatalf("go tool -n helm: %v", err)
		}
		helmBinary = strings.TrimSpace(string(out))
		t.Logf("helm: %s (%v)", helmBinary, time.Since(start).Round(100*time.Millisecond))
	}
	var o, e bytes.Buffer
	cmd := exec.Command(helmBinary, args...)
	// No kubeconfig, repositories or plugins of the user's: a clean home.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config",
		"HELM_DATA_HOME="+home+"/data", "KUBECONFIG="+home+"/kubeconfig")
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// render runs helm template on the chart with extra arguments.
func render(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := helm(t, append([]string{"template", releaseName, chartDir}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, errOut)
	}
	return out
}

// object is one rendered document, decoded into its Kubernetes type.
type object struct {
	Kind, Name, Source string
	Value              any
}

var sourceLine = regexp.MustCompile(`(?m)^# Source: (.+)$`)

// decodeAll splits a rendered stream and decodes every document strictly
// (an unknown or duplicate field fails) into the k8s.io/api type of its kind.
func decodeAll(t *testing.T, rendered string) []object {
	t.Helper()
	var objs []object
	for _, doc := range strings.Split(rendered, "\n---") {
		src := ""
		if m := sourceLine.FindStringSubmatch(doc); m != nil {
			src = m[1]
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if head.Kind == "" {
			if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) != "" {
				t.Fatalf("%s: a document without kind:\n%s", src, doc)
			}
			continue
		}
		var v any
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			v = &appsv1.Deployment{}
		case "apps/v1 StatefulSet":
			v = &appsv1.StatefulSet{}
		case "v1 Service":
			v = &corev1.Service{}
		case "v1 ConfigMap":
			v = &corev1.ConfigMap{}
		case "v1 Secret":
			v = &corev1.Secret{}
		case "v1 ServiceAccount":
			v = &corev1.ServiceAccount{}
		case "policy/v1 PodDisruptionBudget":
			v = &policyv1.PodDisruptionBudget{}
		case "autoscaling/v2 HorizontalPodAutoscaler":
			v = &autoscalingv2.HorizontalPodAutoscaler{}
		case "monitoring.coreos.com/v1 ServiceMonitor":
			v = &monitoringv1.ServiceMonitor{}
		default:
			t.Fatalf("%s: no Go type for %s %s", src, head.APIVersion, head.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
			t.Fatalf("%s (%s %s): strict decode: %v", src, head.Kind, head.Metadata.Name, err)
		}
		objs = append(objs, object{Kind: head.Kind, Name: head.Metadata.Name, Source: src, Value: v})
	}
	return objs
}

func find[T any](t *testing.T, objs []object, kind, name string) T {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			return o.Value.(T)
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	var zero T
	return zero
}

func TestHelmLint(t *testing.T) {
	for _, values := range [][]string{nil, {"-f", "testdata/values-all.yaml"}, {"-f", "testdata/values-external-redis.yaml"}} {
		out, errOut, err := helm(t, append([]string{"lint", "--strict", chartDir}, values...)...)
		if err != nil || !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("helm lint --strict %v: %v\n%s%s", values, err, out, errOut)
		}
	}
}

// TestChartDefaults decodes the default rendering strictly and checks what
// a deployment relies on: replicas, probes on the admin port, drain times
// that match, a non-root read-only container, Redis, the PDB.
func TestChartDefaults(t *testing.T) {
	objs := decodeAll(t, render(t))
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.Kind]++
	}
	want := map[string]int{"Deployment": 1, "StatefulSet": 1, "Service": 3, "ConfigMap": 1, "Secret": 1, "ServiceAccount": 1, "PodDisruptionBudget": 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s rendered, want %d (%v)", kinds[k], k, n, kinds)
		}
	}
	if kinds["HorizontalPodAutoscaler"]+kinds["ServiceMonitor"] != 0 {
		t.Errorf("optional objects rendered by default: %v", kinds)
	}

	d := find[*appsv1.Deployment](t, objs, "Deployment", "apimgw")
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
		t.Errorf("replicas %v, want 3", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.LivenessProbe.HTTPGet.Port.String() != "admin" ||
		c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port.String() != "admin" {
		t.Errorf("probes: liveness %+v readiness %+v", c.LivenessProbe.HTTPGet, c.ReadinessProbe.HTTPGet)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container securityContext %+v", sc)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("pod securityContext %+v", psc)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("no resource requests: %+v", c.Resources)
	}
	// Drain: preStop sleep, then SIGTERM, apimgw's drain of in-flight
	// requests and its wait for send-one-way-request calls (each bounded by
	// shutdown.timeout), all inside terminationGracePeriodSeconds.
	sleep := c.Lifecycle.PreStop.Sleep.Seconds
	cm := find[*corev1.ConfigMap](t, objs, "ConfigMap", "apimgw-config")
	var gw struct {
		Listen, Admin string
		Shutdown      struct{ Timeout string }
		Store         struct {
			Type  string
			Redis struct{ Addr string }
		}
	}
	if err := yaml.Unmarshal([]byte(cm.Data["gateway.yaml"]), &gw); err != nil {
		t.Fatal(err)
	}
	drain, err := time.ParseDuration(gw.Shutdown.Timeout)
	if err != nil {
		t.Fatalf("shutdown.timeout %q: %v", gw.Shutdown.Timeout, err)
	}
	grace := *pod.TerminationGracePeriodSeconds
	if int64(sleep)+2*int64(drain/time.Second) >= grace {
		t.Errorf("preStop %ds + drain %v does not fit terminationGracePeriodSeconds %d", sleep, drain, grace)
	}
	if gw.Listen != "0.0.0.0:8080" || gw.Admin != "0.0.0.0:9090" || c.Ports[0].ContainerPort != 8080 || c.Ports[1].ContainerPort != 9090 {
		t.Errorf("listen %s admin %s, ports %+v", gw.Listen, gw.Admin, c.Ports)
	}
	ss := find[*appsv1.StatefulSet](t, objs, "StatefulSet", "apimgw-redis")
	if gw.Store.Type != "redis" || gw.Store.Redis.Addr != ss.Spec.ServiceName+":6379" {
		t.Errorf("store %+v, Redis service %s", gw.Store, ss.Spec.ServiceName)
	}
	pdb := find[*policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", "apimgw")
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PDB maxUnavailable %v", pdb.Spec.MaxUnavailable)
	}
	for k, v := range pdb.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("PDB selector %s=%s does not match the pods", k, v)
		}
	}
	// Every file gateway.yaml names is projected next to it; the secrets
	// under secrets/ come from the Secret.
	vol := pod.Volumes[0].Projected
	paths := map[string]bool{}
	for _, s := range vol.Sources {
		if s.ConfigMap != nil {
			for _, it := range s.ConfigMap.Items {
				if _, ok := cm.Data[it.Key]; !ok {
					t.Errorf("volume item %s is not in the ConfigMap", it.Key)
				}
				paths[it.Path] = true
			}
		}
		if s.Secret != nil {
			for _, it := range s.Secret.Items {
				paths[it.Path] = true
			}
		}
	}
	for _, p := range []string{"gateway.yaml", "policies/hello.xml", "policies/limited.xml", "secrets/demo-primary-key", "secrets/demo-secondary-key"} {
		if !paths[p] {
			t.Errorf("%s is not projected into /etc/apimgw (%v)", p, paths)
		}
	}
}

// TestChartAllOptions turns on the HPA, the ServiceMonitor and a Redis
// password and decodes that rendering strictly too.
func TestChartAllOptions(t *testing.T) {
	objs := decodeAll(t, render(t, "-f", "testdata/values-all.yaml"))
	hpa := find[*autoscalingv2.HorizontalPodAutoscaler](t, objs, "HorizontalPodAutoscaler", "apimgw")
	if hpa.Spec.ScaleTargetRef.Name != "apimgw" || hpa.Spec.MaxReplicas != 6 {
		t.Errorf("HPA %+v", hpa.Spec)
	}
	d := find[*appsv1.Deployment](t, objs, "Deployment", "apimgw")
	if d.Spec.Replicas != nil {
		t.Errorf("with the HPA the Deployment must leave replicas alone, has %d", *d.Spec.Replicas)
	}
	sm := find[*monitoringv1.ServiceMonitor](t, objs, "ServiceMonitor", "apimgw")
	admin := find[*corev1.Service](t, objs, "Service", "apimgw-admin")
	for k, v := range sm.Spec.Selector.MatchLabels {
		if admin.Labels[k] != v {
			t.Errorf("ServiceMonitor selector %s=%s does not select the admin Service %v", k, v, admin.Labels)
		}
	}
	if sm.Spec.Endpoints[0].Port != admin.Spec.Ports[0].Name {
		t.Errorf("ServiceMonitor port %q, admin Service port %q", sm.Spec.Endpoints[0].Port, admin.Spec.Ports[0].Name)
	}
	cm := find[*corev1.ConfigMap](t, objs, "ConfigMap", "apimgw-config")
	if !strings.Contains(cm.Data["gateway.yaml"], "password: ${file:secrets/redis-password}") {
		t.Errorf("the Redis password is not read from the Secret:\n%s", cm.Data["gateway.yaml"])
	}
	sec := find[*corev1.Secret](t, objs, "Secret", "apimgw-secrets")
	if sec.StringData["redis-password"] == "" {
		t.Errorf("Secret lacks redis-password")
	}
	ss := find[*appsv1.StatefulSet](t, objs, "StatefulSet", "apimgw-redis")
	if env := ss.Spec.Template.Spec.Containers[0].Env; len(env) != 1 || env[0].ValueFrom.SecretKeyRef.Key != "redis-password" {
		t.Errorf("Redis does not take its password from the Secret: %+v", env)
	}
}

// TestChartExternalRedis: no StatefulSet, the given address, an existing
// Secret's keys projected.
func TestChartExternalRedis(t *testing.T) {
	objs := decodeAll(t, render(t, "-f", "testdata/values-external-redis.yaml"))
	for _, o := range objs {
		if o.Kind == "StatefulSet" || o.Kind == "Secret" {
			t.Errorf("%s %s rendered with external Redis and an existing Secret", o.Kind, o.Name)
		}
	}
	cm := find[*corev1.ConfigMap](t, objs, "ConfigMap", "apimgw-config")
	if !strings.Contains(cm.Data["gateway.yaml"], "addr: redis.example.internal:6379") ||
		!strings.Contains(cm.Data["gateway.yaml"], "password: ${file:secrets/redis-auth}") {
		t.Errorf("gateway.yaml:\n%s", cm.Data["gateway.yaml"])
	}
	d := find[*appsv1.Deployment](t, objs, "Deployment", "apimgw")
	var items []string
	for _, s := range d.Spec.Template.Spec.Volumes[0].Projected.Sources {
		if s.Secret != nil {
			if s.Secret.Name != "my-gateway-secrets" {
				t.Errorf("secret %s, want my-gateway-secrets", s.Secret.Name)
			}
			for _, it := range s.Secret.Items {
				items = append(items, it.Path)
			}
		}
	}
	if fmt.Sprint(items) != "[secrets/demo-primary-key secrets/demo-secondary-key secrets/redis-auth]" {
		t.Errorf("secret items %v", items)
	}
	// existingSecret without its keys is refused with a message.
	_, errOut, err := helm(t, "template", releaseName, chartDir, "--set", "existingSecret=x")
	if err == nil || !strings.Contains(errOut, "existingSecretKeys") {
		t.Errorf("existingSecret without existingSecretKeys: %v %s", err, errOut)
	}
}

const manifestHeader = `# Plain Kubernetes manifests for apimgw: the Helm chart deploy/helm/apimgw
# rendered with its default values (3 replicas, Redis in a StatefulSet).
# Generated; do not edit. Regenerate after changing the chart:
#   cd deploy && go test -run TestManifestsMatchChart -update
# Apply: kubectl apply -n NAMESPACE -f deploy/kubernetes/apimgw.yaml
`

// TestManifestsMatchChart: deploy/kubernetes/ is what the chart renders.
func TestManifestsMatchChart(t *testing.T) {
	want := manifestHeader + render(t)
	if *update {
		if err := os.WriteFile(manifestFile, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(manifestFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from the chart's rendering; run: cd deploy && go test -run TestManifestsMatchChart -update", manifestFile)
	}
	// And the file itself decodes strictly.
	decodeAll(t, string(got))
}

// gatewayFiles writes the /etc/apimgw tree a pod sees (gateway.yaml, the
// ConfigMap's files, the Secret's keys under secrets/) into dir.
func gatewayFiles(t *testing.T, objs []object, dir string) {
	t.Helper()
	d := find[*appsv1.Deployment](t, objs, "Deployment", "apimgw")
	for _, s := range d.Spec.Template.Spec.Volumes[0].Projected.Sources {
		switch {
		case s.ConfigMap != nil:
			cm := find[*corev1.ConfigMap](t, objs, "ConfigMap", s.ConfigMap.Name)
			for _, it := range s.ConfigMap.Items {
				writeFile(t, filepath.Join(dir, it.Path), cm.Data[it.Key])
			}
		case s.Secret != nil:
			sec := find[*corev1.Secret](t, objs, "Secret", s.Secret.Name)
			for _, it := range s.Secret.Items {
				v, ok := sec.StringData[it.Key]
				if !ok {
					v = string(sec.Data[it.Key])
				}
				writeFile(t, filepath.Join(dir, it.Path), v)
			}
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
