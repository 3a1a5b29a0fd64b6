package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorward/doorward/capture/capturetest"
)

// BenchmarkAgentRecording1080p30 runs the built agent on a 1080p30 camera
// at about 7 Mb/s, paced in real time, records continuously and reports its
// CPU time per second of video and its memory.
func BenchmarkAgentRecording1080p30(b *testing.B) {
	stream := capturetest.MakeStream(b, 1920, 1080, 30, 4, "7M")
	dir := b.TempDir()
	config := filepath.Join(dir, "doorward.yaml")
	os.WriteFile(config, []byte("camera:\n  file: "+stream+"\n  fps: 30\nrecording:\n  post_roll: 10m\n  max_clip: 1h\n"), 0o600)
	_, recipient := ownerKeyTB(b)
	state := filepath.Join(dir, "state")
	a := startAgent(b, state, nil, "--owner-recipient", recipient, "--config", config)
	time.Sleep(6 * time.Second) // a full pre-roll
	mustRun(b, bins.doorward, "trigger", "motion", "--state", state)
	time.Sleep(2 * time.Second)
	pid := a.cmd.Process.Pid
	u0, s0 := cpuTime(b, pid)
	t0 := time.Now()
	const window = 40 * time.Second // CPU time comes in 10 ms ticks: a long window keeps the figure steady
	time.Sleep(window)
	u1, s1 := cpuTime(b, pid)
	t1 := time.Now()
	rss, hwm := memory(b, pid, "VmRSS"), memory(b, pid, "VmHWM")
	a.stop()
	perSec := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / t1.Sub(t0).Seconds() }
	b.ReportMetric(perSec(u1-u0+s1-s0), "cpu-ms/s")
	b.ReportMetric(perSec(u1-u0), "user-ms/s")
	b.ReportMetric(perSec(s1-s0), "sys-ms/s")
	b.ReportMetric(rss, "rss-MB")
	b.ReportMetric(hwm, "peak-rss-MB")
	b.ReportMetric(0, "ns/op")
}

// cpuTime reads a process's user and system time from /proc (clock ticks
// of 10 ms, the Linux USER_HZ).
func cpuTime(b *testing.B, pid int) (user, system time.Duration) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime) * 10 * time.Millisecond, time.Duration(stime) * 10 * time.Millisecond
}

// memory reads a VmRSS-style line from /proc/<pid>/status, in MB.
func memory(b *testing.B, pid int, field string) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1000
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
