//go:build !race

package main

// raceBuild is false: see race_test.go.
const raceBuild = false
