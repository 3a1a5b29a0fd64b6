package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBoardsCommand(t *testing.T) {
	skipShort(t)
	out, errOut, code := run(t, bins.doorward, "boards")
	if code != 0 {
		t.Fatalf("doorward boards: exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"BOARD", "rpi5           arm64  GPIO17  GPIO27  GPIO22  GPIO23  exec rpicam-vid 1280x720@30",
		"sim            any    -", "generic-linux  any    -       -       -       -       v4l2 /dev/video0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("doorward boards output lacks %q:\n%s", want, out)
		}
	}

	out, errOut, code = run(t, bins.doorward, "boards", "--json")
	if code != 0 {
		t.Fatalf("doorward boards --json: exit %d: %s", code, errOut)
	}
	var rows []boardInfo
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	byName := map[string]boardInfo{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	if r := byName["rpi4"]; r.PIR != "GPIO17" || r.Reset != "GPIO23" || r.Camera != "exec rpicam-vid" || r.GOARCH != "arm64" || len(r.Models) == 0 {
		t.Errorf("rpi4 row %+v", r)
	}
	if r := byName["sim"]; !r.Sim || r.PIR != "" || r.Camera != "file (built-in clip)" {
		t.Errorf("sim row %+v", r)
	}
	if _, errOut, code := run(t, bins.doorward, "boards", "extra"); code == 0 || !strings.Contains(errOut, "unknown command") && !strings.Contains(errOut, "accepts 0 arg") {
		t.Errorf("doorward boards extra: exit %d, %s", code, errOut)
	}
}
