// Package vault stores clips encrypted at rest and indexes them in bbolt.
//
// Each piece of a clip (the fMP4 init segment and every media segment) is its
// own age file, encrypted while it is written to the owners' recipients and
// the device's vault recipient. A piece is written to "<name>.partial",
// fsynced, renamed and only then indexed, in one bbolt transaction together
// with its clip's record, so a crash loses at most the piece in progress and
// the index never names a file that is not complete. Open removes what a
// crash left behind; Enforce applies the retention limits.
//
// On disk, under the clips directory:
//
//	YYYY/MM/DD/<clip-id>/init.mp4.age
//	YYYY/MM/DD/<clip-id>/000001.m4s.age, 000002.m4s.age, ...
//
// Decrypting the init piece and the segments in order and concatenating them
// gives a playable MP4 (clipfile.DecryptClip).
package vault
