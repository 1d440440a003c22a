package main

import (
	"io"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// buildInfo is what the binary knows of its own build: the module
// version ("(devel)" for a build from a working tree), the VCS revision
// and time Go stamps into it, and the Go version.
type buildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	BuildTime string `json:"build_time,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go_version"`
}

func readBuildInfo() buildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return buildInfo{Version: "unknown"}
	}
	out := buildInfo{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			out.Revision = s.Value
		case "vcs.time":
			out.BuildTime = s.Value
		case "vcs.modified":
			out.Modified = s.Value == "true"
		}
	}
	return out
}

// cmdVersion is "mulegate version": one JSON line.
func cmdVersion(stdout io.Writer) error { return printJSON(stdout, readBuildInfo()) }

// registerBuildInfo is mulegate_build_info{version,revision,go_version} 1.
func registerBuildInfo(reg prometheus.Registerer) {
	b := readBuildInfo()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "mulegate_build_info", Help: "The running build: always 1, its labels say which.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "go_version": b.GoVersion}})
	g.Set(1)
	reg.MustRegister(g)
}
