// Package config is the agent's configuration: its schema, its defaults,
// its units and its checks.
//
// A file is YAML that names only what it changes (Default holds the rest).
// Parse and Load decode it strictly with github.com/goccy/go-yaml: an
// unknown field, a field set twice, a value of the wrong kind or a second
// document is refused, and every error is an *Error that names the file,
// the line and column, the field, the value and what would be valid:
//
//	config.yaml:7:14: recording.post_roll: "0s" is out of range (valid: 1s to 10m)
//
// Each section is a type in a file of its own (camera.go, recording.go,
// mqtt.go, live.go, ...; legal is consent.Policy, and ParsePolicy reads a
// policy file the same way) with its default and its own Validate. Durations and byte sizes are in units.go. To add a
// section: add its type and file, a field of Config with its yaml name, its
// default in Default, its problems in Config.problems, and the section with
// every field and its default to the shipped example, init/doorward.yaml (a
// test walks the schema and fails until the example lists it). Add only
// fields that something reads.
package config
