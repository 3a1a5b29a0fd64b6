package pairing

// FinishIgnoringCheck builds the Finish that a client holding the wrong code
// would send if it ignored CheckReply's verdict: its own MAC and signature
// over the transcript it computes from its Hello and r.
func FinishIgnoringCheck(c *Client, r HelloReply) Finish {
	t := Transcript(TranscriptFields{
		OwnerNonce:      c.hello.OwnerNonce,
		DeviceNonce:     r.DeviceNonce,
		OwnerKey:        c.hello.OwnerKey,
		OwnerRecipients: c.hello.OwnerRecipients,
		DeviceKey:       r.DeviceKey,
		DeviceID:        r.DeviceID,
		PolicyHash:      [32]byte(r.PolicyHash),
	})
	return c.finish(r.Session, t)
}
