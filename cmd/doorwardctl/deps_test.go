package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The owner's tool links none of the device's storage: not bbolt, not the
// vault, not the gate (issue 7). It speaks the wire types of device/api and
// verifies with consent/audit, both of which link no storage.
func TestLinksNoDeviceStorage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !contains(deps, "github.com/doorward/doorward/device/api") {
		t.Fatalf("go list -deps listed %d packages, without device/api: %q", len(deps), out)
	}
	for _, dep := range deps {
		switch {
		case dep == "go.etcd.io/bbolt" || strings.HasPrefix(dep, "go.etcd.io/bbolt/"),
			dep == "github.com/doorward/doorward/capture/vault",
			dep == "github.com/doorward/doorward/device/gate" || strings.HasPrefix(dep, "github.com/doorward/doorward/device/gate/"),
			dep == "github.com/doorward/doorward/consent/audit/auditlog",
			dep == "github.com/doorward/doorward/device":
			t.Errorf("doorwardctl links %s", dep)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
