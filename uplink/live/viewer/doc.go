// Package viewer is the owner's live view in a browser (doorwardctl view):
// a small web server on the owner's own computer, on loopback only, that
// serves an embedded page (plain JavaScript, no framework, no build step)
// and stands between the page and the device.
//
// The owner's key never enters the browser. The page makes its own WebRTC
// offer and posts it here; the server reads the offer's DTLS fingerprint,
// signs a live statement bound to it with the owner key and forwards both
// to the device (over the LAN, or through the relay). The media then flows
// from the device to the browser directly. Clips are fetched from the
// device as the age ciphertext it stores, decrypted here in memory with the
// owner key and served to the page as MP4; nothing is written to disk.
//
// Every request must carry the random token printed with the URL (compared
// in constant time) and a Host header naming this loopback server, so
// other local users' programs and web pages that rebind a DNS name to
// 127.0.0.1 get nothing.
package viewer
