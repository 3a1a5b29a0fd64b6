// Package device is Doorward's composition root: it takes the config
// (package device/config) and the board profile, owns the state directory
// (the bbolt database, the device keys, the clips), wires the camera, the
// recorder and the vault together, and serves the control socket through which the other doorward commands
// talk to the running agent.
//
// State directory layout:
//
//	<state>/state.db        bbolt: the clip index (and, as features land, owner, policy, grants, audit)
//	<state>/keys/device.key Ed25519 identity and age vault identities, mode 0600
//	<state>/clips/...       encrypted clip pieces (see package vault)
//	<state>/control.sock    the running agent's control socket, mode 0600
package device
