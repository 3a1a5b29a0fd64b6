// Package uplink holds everything that talks to the outside world. Its
// rooms: mqtt (the device's MQTT session with its bbolt outbox), wire (the
// messages device, relay and doorwardctl exchange), and mqtttest (a real
// mosquitto for tests). Presigned uploads of disclosed segments and live
// view are still to come: until they land, nothing but the session's
// status and queued messages leaves the device over the uplink.
package uplink
