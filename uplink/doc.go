// Package uplink will hold everything that talks to the outside world: the
// MQTT session (paho) with its bbolt outbox, presigned uploads of disclosed
// segments, and WebRTC live view (pion, WHEP). Nothing in the agent sends
// media anywhere yet: until these land, the device keeps every clip to
// itself, which is the safe default the rest of the design builds on.
package uplink
