package device

import (
	"encoding/json"
	"errors"

	"github.com/doorward/doorward/consent"
	"github.com/doorward/doorward/consent/pairing"
)

// startPairing makes a one-time pairing code. It lives in RAM (and is shown
// on the terminal and the 0600 control socket), never in the log.
func (a *Agent) startPairing() error {
	secret, err := pairing.NewSecret()
	if err != nil {
		return err
	}
	policy := a.opts.Config.Legal
	policyJSON, err := json.Marshal(policy)
	if err != nil {
		return err
	}
	p, err := pairing.NewPairer(secret, pairing.DeviceInfo{Key: a.id.PublicKey(), ID: a.id.ID()}, policyJSON, policy.Hash(), a.opts.Clock)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.pairer, a.secret = p, secret
	recording := len(a.owners) > 0
	a.mu.Unlock()
	if recording {
		a.log.Info("no paired owner yet: recording for the given recipients; pair to sign grants and approve the trust policy (`doorward pair-code` shows the code)")
	} else {
		a.log.Warn("not paired: nothing is recorded until an owner pairs (`doorward pair-code` shows the code)")
	}
	return nil
}

// pairHello and pairFinish serve the two pairing calls of the LAN API.
func (a *Agent) pairHello(h pairing.Hello) (pairing.HelloReply, error) {
	p := a.currentPairer()
	if p == nil {
		return pairing.HelloReply{}, pairing.ErrAlreadyPaired
	}
	return p.Hello(h)
}

func (a *Agent) pairFinish(f pairing.Finish) error {
	p := a.currentPairer()
	if p == nil {
		return pairing.ErrAlreadyPaired
	}
	owner, err := p.Finish(f)
	if err != nil {
		if w := p.RetryAfter(); w > 0 && !errors.Is(err, pairing.ErrSlowDown) {
			a.log.Warn("pairing slows down after failed attempts", "failures", p.Failures(), "wait", w)
		}
		return err
	}
	policyJSON, err := json.Marshal(a.opts.Config.Legal)
	if err != nil {
		return err
	}
	if err := a.gate.InstallOwner(owner, policyJSON); err != nil {
		return err
	}
	a.mu.Lock()
	a.pairer = nil
	a.mu.Unlock()
	a.log.Info("paired: recording starts now", "owner", consent.KeyID(owner.SigningKey))
	return nil
}

func (a *Agent) currentPairer() *pairing.Pairer {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pairer
}
