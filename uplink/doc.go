// Package uplink runs the device's side of its MQTT topics over an
// mqtt.Session: it publishes the agent's events age-encrypted to the
// owners (and the latest audit checkpoint, retained), and answers cmd
// messages: statements and legal tokens go through the LAN API's own
// handler, so they meet the same gate and get the same status and reason,
// and anything malformed is refused with a reason and counted, never
// acted on.
//
// Its rooms: mqtt (the session and its bbolt outbox), wire (the messages
// device, relay and doorwardctl exchange), client (the owner's and the
// relay's side, without bbolt), and mqtttest (a real mosquitto for tests).
package uplink
