// Package sensors reads the doorbell's GPIO inputs and drives its status LED:
// a PIR motion sensor, the doorbell button, the factory-reset switch inside
// the enclosure, and one LED.
//
// Each component takes periph's gpio.PinIn or gpio.PinOut (on a board, lines
// from periph.io/x/host/v3's gpioioctl driver; in tests, sensorstest.Pin),
// a clock.Clock and a logger as fields, owns its state in one goroutine
// (inputs add a second one that only waits for the line's edges), and stops
// with a Close that waits for them.
//
// Inputs are debounced: every edge restarts a timer, and a level counts only
// once it has held for the debounce time, so a bouncing contact gives one
// press. Time stamps come from the edges and deadlines, not from when a
// goroutine happens to run, so the outcome is the same on a busy board and
// under a fake clock.
//
//   - PIR reports capture.Motion on a debounced rising edge and, while the
//     sensor stays active, once more every cooldown; never more often.
//   - Button reports capture.Ring on a debounced press, and nothing else:
//     it is outdoors, anyone can hold it, so holding it does nothing more.
//   - ResetSwitch asks for a factory reset when it is held for 10 s,
//     released, and pressed again within 5 s. Anything else does nothing.
//   - LED shows a Pattern (idle heartbeat, recording, pairing, error) and,
//     over it, an override such as ResetConfirm.
package sensors
