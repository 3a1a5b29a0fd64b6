package lanapi

// SetAfterControlListen sets the test hook that sees the control socket
// the moment it exists.
func SetAfterControlListen(f func(path string)) { afterControlListen = f }
