package httpapi

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
)

// The configuration file (serve --config FILE), TOML:
//
//	[[principal]]
//	name = "admin"
//	role = "admin"            # admin: read and change; viewer: read only
//	secret = "$2y$10$..."     # a bcrypt hash, or an argon2id one ($argon2id$v=19$m=...,t=...,p=...$salt$hash)
//
// Secrets are stored hashed only; a plain secret is refused.

// Config is the file's content.
type Config struct {
	Principals []PrincipalConfig `toml:"principal"`
}

// PrincipalConfig is one [[principal]] of the file.
type PrincipalConfig struct {
	Name   string `toml:"name"`
	Role   string `toml:"role"`   // admin or viewer
	Secret string `toml:"secret"` // bcrypt or argon2id hash
}

// LoadConfig reads the configuration file and builds its principals.
func LoadConfig(path string) ([]*Principal, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return ParseConfig(string(b), path)
}

// ParseConfig builds the principals of a configuration text; name is the
// file's name, for errors.
func ParseConfig(text, name string) ([]*Principal, error) {
	var c Config
	md, err := toml.Decode(text, &c)
	if err != nil {
		return nil, fmt.Errorf("configuration %s: %w", name, err)
	}
	var keys []string
	for _, k := range md.Undecoded() {
		if len(k) > 0 && k[0] == "serve" {
			continue // the [serve] table is the serve command's
		}
		keys = append(keys, k.String())
	}
	if len(keys) > 0 {
		return nil, fmt.Errorf("configuration %s: unknown key %s: a principal has name, role and secret", name, strings.Join(keys, ", "))
	}
	if len(c.Principals) == 0 {
		return nil, fmt.Errorf("configuration %s: no [[principal]]: give at least one, with name, role and secret", name)
	}
	var out []*Principal
	seen := map[string]bool{}
	for i, pc := range c.Principals {
		p, err := newPrincipal(pc)
		if err != nil {
			return nil, fmt.Errorf("configuration %s: principal %d: %w", name, i+1, err)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("configuration %s: principal %q is given twice", name, p.Name)
		}
		seen[p.Name] = true
		out = append(out, p)
	}
	return out, nil
}

func newPrincipal(pc PrincipalConfig) (*Principal, error) {
	name := strings.ToLower(strings.TrimSpace(pc.Name))
	if name == "" || strings.ContainsAny(name, ": \t") {
		return nil, fmt.Errorf("name %q: want a login name without spaces or ':'", pc.Name)
	}
	role, err := ParseRole(pc.Role)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	v, err := hashVerifier(pc.Secret)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Principal{Name: name, Role: role, verify: v}, nil
}

// ParseRole reads admin or viewer.
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "admin":
		return RoleAdmin, nil
	case "viewer":
		return RoleViewer, nil
	case "":
		return 0, errors.New("no role: want role = \"admin\" (read and change) or \"viewer\" (read only)")
	}
	return 0, fmt.Errorf("unknown role %q: want admin (read and change) or viewer (read only)", s)
}
