package config

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

const day = 24 * time.Hour

// Duration is a time.Duration written in the configuration as a string:
// Go's units ("90s", "1h30m", "500ms") plus d for days of 24 hours ("7d",
// "1d12h"). A bare 0 is zero.
type Duration time.Duration

// durationSyntax is what a duration may look like, for error messages.
const durationSyntax = "e.g. 90s, 10m, 7d"

// ParseDuration parses s as a Duration.
func ParseDuration(s string) (Duration, error) {
	bad := fmt.Errorf("config: %q is not a duration (valid: %s)", s, durationSyntax)
	if !strings.Contains(s, "d") {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, bad
		}
		return Duration(d), nil
	}
	rest, neg := s, false
	if r, ok := strings.CutPrefix(rest, "-"); ok {
		rest, neg = r, true
	} else {
		rest = strings.TrimPrefix(rest, "+")
	}
	if rest == "" {
		return 0, bad
	}
	var total time.Duration
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] == '.' || '0' <= rest[i] && rest[i] <= '9') {
			i++
		}
		j := i
		for j < len(rest) && rest[j] != '.' && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		if num == "" || unit == "" {
			return 0, bad
		}
		var d time.Duration
		if unit == "d" {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f*float64(day) >= math.MaxInt64 {
				return 0, bad
			}
			d = time.Duration(f * float64(day))
		} else {
			var err error
			if d, err = time.ParseDuration(num + unit); err != nil {
				return 0, bad
			}
		}
		if total > math.MaxInt64-d {
			return 0, bad
		}
		total += d
	}
	if neg {
		total = -total
	}
	return Duration(total), nil
}

// String formats d the way the configuration writes it: whole numbers of
// days (two or more) as "7d", otherwise like time.Duration without zero
// units ("10m", "1h30m", "1.5s").
func (d Duration) String() string {
	td := time.Duration(d)
	switch {
	case td == 0:
		return "0s"
	case td < 0:
		if td == math.MinInt64 {
			return td.String()
		}
		return "-" + Duration(-td).String()
	case td%time.Second != 0:
		return td.String()
	case td >= 2*day && td%day == 0:
		return strconv.FormatInt(int64(td/day), 10) + "d"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit string
		d    time.Duration
	}{{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if n := td / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.unit)
			td -= n * u.d
		}
	}
	return b.String()
}

// MarshalText writes d's String form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads what ParseDuration accepts.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ByteSize is a number of bytes, written in the configuration as a plain
// integer or with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB,
// GiB, TiB (powers of 1024), e.g. "16MiB", "500MB", "1.5GiB".
type ByteSize int64

// Byte size units.
const (
	KB ByteSize = 1000
	MB          = 1000 * KB
	GB          = 1000 * MB
	TB          = 1000 * GB

	KiB ByteSize = 1 << 10
	MiB          = 1 << 20
	GiB          = 1 << 30
	TiB          = 1 << 40
)

// byteUnits lists the units, largest first, as String prefers them.
var byteUnits = []struct {
	name string
	size ByteSize
}{
	{"TiB", TiB}, {"TB", TB}, {"GiB", GiB}, {"GB", GB},
	{"MiB", MiB}, {"MB", MB}, {"KiB", KiB}, {"KB", KB}, {"B", 1},
}

// sizeSyntax is what a size may look like, for error messages.
const sizeSyntax = "bytes, or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. 16MiB"

// ParseByteSize parses s, a plain number of bytes or a number with a unit
// ("kB" is read as KB).
func ParseByteSize(s string) (ByteSize, error) {
	bad := func() (ByteSize, error) {
		return 0, fmt.Errorf("config: %q is not a size (valid: %s)", s, sizeSyntax)
	}
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] == '.' || '0' <= t[i] && t[i] <= '9') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	mult := ByteSize(0)
	switch unit {
	case "":
		mult = 1
	case "kB":
		mult = KB
	}
	for _, u := range byteUnits {
		if u.name == unit {
			mult = u.size
		}
	}
	whole, frac, _ := strings.Cut(num, ".")
	if mult == 0 || whole == "" || strings.Contains(frac, ".") || (unit == "" && strings.Contains(num, ".")) {
		return bad()
	}
	n, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok {
		return bad()
	}
	n.Mul(n, big.NewInt(int64(mult)))
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	q, r := new(big.Int).QuoRem(n, scale, new(big.Int))
	if r.Sign() != 0 || !q.IsInt64() {
		return bad()
	}
	return ByteSize(q.Int64()), nil
}

// String formats b with the largest unit that divides it exactly, binary
// units first ("16MiB", "500MB", "1000B").
func (b ByteSize) String() string {
	if b <= 0 {
		return strconv.FormatInt(int64(b), 10) + "B"
	}
	for _, u := range byteUnits {
		if b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	panic("unreachable") // the unit B divides everything
}

// MarshalText writes b's String form.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText reads what ParseByteSize accepts.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}
