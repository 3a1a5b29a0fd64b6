// Package lantls puts the LAN API behind TLS 1.3 that doorwardctl
// authenticates with the device identity it pinned at pairing, without any
// certificate authority.
//
// The device keeps a TLS key of its own (<state>/keys/tls.key, Ed25519,
// mode 0600) and, at every start, issues itself a certificate for it that
// its Ed25519 identity key signs: the identity never signs TLS handshakes,
// only this certificate, so it keeps one job (statements about the
// device: checkpoints, this certificate), and the TLS key can be replaced
// without re-pairing. A client accepts a certificate exactly when its
// signature verifies with the pinned identity (VerifyCertificate), so a
// device paired before TLS existed is recognised by the key it already
// pinned. During pairing the client has no pin yet: it takes whatever
// certificate it is shown (ClientConfig with a nil pin), and
// once the pairing transcript has proved the identity key, it checks that
// the recorded certificate was signed by that key, and aborts otherwise.
//
// Plain HTTP is for loopback only (IsLoopback): tests and `make run`.
package lantls

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/doorward/doorward/device/atomicfile"
)

// KeyFileName is the TLS key's file name in the keys directory.
const KeyFileName = "tls.key"

// ErrNotSigned is returned for a certificate that the expected identity
// did not sign.
var ErrNotSigned = errors.New("lantls: the TLS certificate is not signed by the device's identity key")

// Identity signs with the device's Ed25519 identity key.
type Identity interface {
	PublicKey() ed25519.PublicKey
	Sign(msg []byte) []byte
}

// identitySigner makes an Identity the crypto.Signer x509 wants as issuer.
type identitySigner struct{ id Identity }

func (s identitySigner) Public() crypto.PublicKey { return s.id.PublicKey() }

func (s identitySigner) Sign(_ io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != crypto.Hash(0) {
		return nil, errors.New("lantls: the identity signs pure Ed25519 only")
	}
	return s.id.Sign(msg), nil
}

// Far past and future: the device's clock may be unsynchronized when it
// starts, and the client checks the identity's signature, not dates.
var (
	notBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter  = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC) // RFC 5280: no well-defined expiry
)

// Issue returns a certificate for tlsKey, named after deviceID and signed
// by id (self-issued: issuer and subject are the device).
func Issue(id Identity, tlsKey ed25519.PrivateKey, deviceID string) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("lantls: %w", err)
	}
	name := pkix.Name{CommonName: "doorward " + deviceID}
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		Subject:            name,
		Issuer:             name,
		NotBefore:          notBefore,
		NotAfter:           notAfter,
		KeyUsage:           x509.KeyUsageDigitalSignature,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:           []string{deviceID},
		SignatureAlgorithm: x509.PureEd25519,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, tlsKey.Public(), identitySigner{id})
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("lantls: issuing the certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("lantls: %w", err)
	}
	if err := VerifyCertificate(leaf, id.PublicKey()); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: tlsKey, Leaf: leaf}, nil
}

// LoadOrCreate reads the TLS key in keysDir (creating it, mode 0600, on
// first use) and issues its certificate with id.
func LoadOrCreate(keysDir string, id Identity, deviceID string) (tls.Certificate, error) {
	key, err := loadOrCreateKey(keysDir + string(os.PathSeparator) + KeyFileName)
	if err != nil {
		return tls.Certificate{}, err
	}
	return Issue(id, key, deviceID)
}

func loadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("lantls: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("lantls: %w", err)
		}
		if err := os.MkdirAll(dirOf(path), 0o700); err != nil {
			return nil, fmt.Errorf("lantls: %w", err)
		}
		if err := atomicfile.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("lantls: writing %s: %w", path, err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lantls: %w", err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("lantls: %s is not one PEM \"PRIVATE KEY\" block; delete it and restart for a new TLS key (clients need no change)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("lantls: %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("lantls: %s holds a %T, want an Ed25519 key", path, k)
	}
	return key, nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, os.PathSeparator); i >= 0 {
		return path[:i]
	}
	return "."
}

// ServerConfig is the LAN API's TLS configuration: TLS 1.3 only, cert.
func ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
	}
}

// VerifyCertificate accepts cert exactly when identity signed it (pure
// Ed25519 over its TBSCertificate); nothing else about it matters: no
// name, no date, no CA.
func VerifyCertificate(cert *x509.Certificate, identity ed25519.PublicKey) error {
	if cert == nil {
		return fmt.Errorf("%w: no certificate", ErrNotSigned)
	}
	if len(identity) != ed25519.PublicKeySize {
		return fmt.Errorf("lantls: identity key is %d bytes, want %d", len(identity), ed25519.PublicKeySize)
	}
	if cert.SignatureAlgorithm != x509.PureEd25519 || !ed25519.Verify(identity, cert.RawTBSCertificate, cert.Signature) {
		return ErrNotSigned
	}
	return nil
}

// ClientConfig is doorwardctl's TLS configuration: TLS 1.3 only, no system
// roots; it accepts exactly the certificates one of pins signed, and with
// no pin (pairing) any certificate: the caller then checks the
// certificate of the connection (http.Response.TLS) with VerifyCertificate
// once pairing has proved the identity.
func ClientConfig(pins ...ed25519.PublicKey) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Verification is VerifyConnection's: the pinned identity, not a
		// CA or a host name. The handshake still proves that the server
		// holds the key of the certificate it shows.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if cs.Version != tls.VersionTLS13 || len(cs.PeerCertificates) == 0 {
				return errors.New("lantls: not a TLS 1.3 connection with a certificate")
			}
			if len(pins) == 0 {
				return nil
			}
			for _, p := range pins {
				if VerifyCertificate(cs.PeerCertificates[0], p) == nil {
					return nil
				}
			}
			return ErrNotSigned
		},
	}
}

// IsLoopback reports whether host (a host name or IP, without port) is
// this machine's loopback: "localhost", 127.0.0.0/8 or ::1. The empty host
// (all interfaces) is not.
func IsLoopback(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// ListenAddrIsLoopback reports whether a listen address (host:port) binds
// loopback only: ":8080" and "0.0.0.0:8080" bind every interface.
func ListenAddrIsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && IsLoopback(host)
}

// URLs returns the URLs at which a LAN API listening on addr (as its
// listener reports it) is reached: https unless addr is loopback, and for
// an address that binds every interface ("[::]:8080") one URL per
// non-loopback interface address (IPv4 first), or "https://<this host>:PORT"
// when none is up.
func URLs(addr string) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return []string{"http://" + addr}
	}
	scheme := "https://"
	if IsLoopback(host) {
		scheme = "http://"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsUnspecified() {
		return []string{scheme + net.JoinHostPort(host, port)}
	}
	var v4, v6 []string
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := p.Addr()
			switch {
			case ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast():
			case ip.Is4():
				v4 = append(v4, scheme+net.JoinHostPort(ip.String(), port))
			default:
				v6 = append(v6, scheme+net.JoinHostPort(ip.String(), port))
			}
		}
	}
	if out := append(v4, v6...); len(out) > 0 {
		return out
	}
	name, err := os.Hostname()
	if err != nil {
		name = "<this host>"
	}
	return []string{scheme + net.JoinHostPort(name, port)}
}
