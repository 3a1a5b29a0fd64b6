// Package selftest checks, on the board itself, everything Doorward needs
// from the hardware and the operating system: which board this is, whether
// the GPIO lines of the PIR sensor, doorbell button, LED and reset switch
// open (and, when a tester is present, react), whether the camera delivers
// H.264 at the expected rate and keyframe interval, how fast the storage and
// age encryption are, whether the system keeps plaintext out of swap and
// core dumps and has a synchronized clock, and whether the configured MQTT
// broker accepts a connection.
//
// A Check is a name, a required flag and a function returning a Result
// (pass, warn, fail, skip or overridden, a detail and measured figures).
// Runner runs a list of them in order, showing progress, and returns a
// Report that prints as a table or JSON. The report is OK only when every
// required check passed, warned, was skipped or was overridden. The checks
// take their clock, logger, file paths and hardware as struct fields, so
// tests point them at testdata and fakes.
package selftest
