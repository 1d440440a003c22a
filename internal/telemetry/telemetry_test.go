package telemetry

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

// TestEnabled: tracing is off unless the standard variables ask for it.
func TestEnabled(t *testing.T) {
	for _, c := range []struct {
		vars map[string]string
		on   bool
		bad  bool
	}{
		{nil, false, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, false, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, false, false},
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, true},
	} {
		on, err := Enabled(env(c.vars))
		if on != c.on || (err != nil) != c.bad {
			t.Errorf("%v: on %v err %v, want on %v, error %v", c.vars, on, err, c.on, c.bad)
		}
	}
}

// TestSetup: off, it leaves the global provider alone; on, it installs
// an SDK provider (the exporter connects only when it sends) that its
// shutdown stops.
func TestSetup(t *testing.T) {
	prev := otel.GetTracerProvider()
	t.Cleanup(func() { otel.SetTracerProvider(prev) })
	stop, err := Setup(context.Background(), env(nil), "test")
	if err != nil || Active() {
		t.Fatalf("off: active %v, err %v", Active(), err)
	}
	_ = stop(context.Background())
	stop, err = Setup(context.Background(), env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SERVICE_NAME": "gw-test"}), "test")
	if err != nil || !Active() {
		t.Fatalf("on: active %v, err %v", Active(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100)
	defer cancel()
	_ = stop(ctx)
	if _, err := Setup(context.Background(), env(map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}), "test"); err == nil {
		t.Error("grpc protocol accepted; only http/protobuf is built in")
	}
}
