package jimmctl

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Environment variables jimmctl reads.
const (
	EnvURL      = "JIMM_URL"
	EnvCACert   = "JIMM_CA_CERT" // a file path, or the PEM itself
	EnvToken    = "JIMM_TOKEN"
	EnvUser     = "JIMM_USER"
	EnvPassword = "JIMM_PASSWORD"
)

// SavedConfig is the file `jimmctl login` writes.
type SavedConfig struct {
	URL       string    `yaml:"url"`
	CACert    string    `yaml:"ca-cert,omitempty"`
	Token     string    `yaml:"token,omitempty"`
	Identity  string    `yaml:"identity,omitempty"`
	ExpiresAt time.Time `yaml:"expires-at,omitempty"`
}

// ConfigPath returns where the saved config lives:
// $XDG_CONFIG_HOME/jimmctl/config.yaml, by default
// ~/.config/jimmctl/config.yaml.
func ConfigPath() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the jimmctl config file: %w (set XDG_CONFIG_HOME or HOME)", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "jimmctl", "config.yaml"), nil
}

// LoadConfig reads the saved config at path. A missing file is an empty
// config, not an error. If warn is not nil, it is told when the file is
// readable by others.
func LoadConfig(path string, warn io.Writer) (SavedConfig, error) {
	var cfg SavedConfig
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("read jimmctl config: %w", err)
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return cfg, fmt.Errorf("read jimmctl config %s: %w (fix it, or remove it and run `jimmctl login`)", path, err)
	}
	if warn != nil && cfg.Token != "" {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(warn, "WARNING %s holds a session token but is readable by others (mode %04o): run `chmod 600 %s`\n",
				path, fi.Mode().Perm(), path)
		}
	}
	return cfg, nil
}

// SaveConfig writes cfg to path atomically, the file with mode 0600 in a
// directory with mode 0700.
func SaveConfig(path string, cfg SavedConfig) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save jimmctl config: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("save jimmctl config: %w", err)
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("save jimmctl config: %w", err)
	}
	f, err := os.CreateTemp(dir, ".config-*.yaml")
	if err != nil {
		return fmt.Errorf("save jimmctl config: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("save jimmctl config: %w", err)
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return fmt.Errorf("save jimmctl config %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save jimmctl config %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save jimmctl config %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save jimmctl config %s: %w", path, err)
	}
	return nil
}

// Flags are the global flags that say where the broker is.
type Flags struct {
	URL        string // --url
	CACertFile string // --ca-cert
}

// Credential sources.
const (
	CredNone  = ""
	CredEnv   = "env-token"   // JIMM_TOKEN
	CredBasic = "env-basic"   // JIMM_USER + JIMM_PASSWORD
	CredSaved = "saved-token" // the session saved by jimmctl login
)

// Settings is what jimmctl uses after merging flags, environment and the
// saved config, field by field, in that order of precedence.
type Settings struct {
	URL          string
	URLSource    string // "--url", "JIMM_URL", the config file's path, or ""
	CACertPEM    []byte
	CACertSource string

	Token          string
	User, Password string
	CredSource     string // one of the Cred* constants
	// CredError, when there are no credentials, says why the
	// environment's are unusable (JIMM_USER without JIMM_PASSWORD or the
	// reverse).
	CredError error

	// Identity and ExpiresAt describe the saved session when
	// CredSource is CredSaved.
	Identity  string
	ExpiresAt time.Time

	// Path is the saved config's path; Saved its contents.
	Path  string
	Saved SavedConfig
}

// ResolveSettings merges flags, the environment (through getenv) and the
// saved config. The saved token is used only for the URL it was issued
// for, so that overriding the URL never sends it to another server. An
// empty URL is not an error here; Client reports it.
func ResolveSettings(flags Flags, getenv func(string) string, warn io.Writer) (Settings, error) {
	var s Settings
	path, err := ConfigPath()
	if err != nil {
		return s, err
	}
	s.Path = path
	saved, err := LoadConfig(path, warn)
	if err != nil {
		return s, err
	}
	s.Saved = saved
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }

	// URL.
	switch {
	case flags.URL != "":
		s.URL, s.URLSource = flags.URL, "--url"
	case env(EnvURL) != "":
		s.URL, s.URLSource = env(EnvURL), EnvURL
	case saved.URL != "":
		s.URL, s.URLSource = saved.URL, path
	}
	if s.URL != "" {
		u, err := NormalizeURL(s.URL)
		if err != nil {
			return s, fmt.Errorf("%w (from %s)", err, s.URLSource)
		}
		s.URL = u
	}

	// CA certificate.
	switch {
	case flags.CACertFile != "":
		pem, err := readCACertFile(flags.CACertFile)
		if err != nil {
			return s, fmt.Errorf("read --ca-cert: %w", err)
		}
		s.CACertPEM, s.CACertSource = pem, "--ca-cert "+flags.CACertFile
	case env(EnvCACert) != "":
		v := env(EnvCACert)
		if strings.HasPrefix(v, "-----BEGIN") {
			s.CACertPEM, s.CACertSource = []byte(v+"\n"), EnvCACert
		} else {
			pem, err := readCACertFile(v)
			if err != nil {
				return s, fmt.Errorf("read %s: %w", EnvCACert, err)
			}
			s.CACertPEM, s.CACertSource = pem, EnvCACert+"="+v
		}
	case saved.CACert != "":
		s.CACertPEM, s.CACertSource = []byte(saved.CACert), path
	}

	// Credentials.
	user, password := env(EnvUser), getenv(EnvPassword)
	switch {
	case env(EnvToken) != "":
		s.Token, s.CredSource = env(EnvToken), CredEnv
	case user != "" && password != "":
		s.User, s.Password, s.CredSource = user, password, CredBasic
	case saved.Token != "" && sameURL(saved.URL, s.URL):
		s.Token, s.CredSource = saved.Token, CredSaved
		s.Identity, s.ExpiresAt = saved.Identity, saved.ExpiresAt
	case user != "" || password != "":
		s.CredError = fmt.Errorf("not logged in to %s, and only one of %s and %s is set: set both, or run `jimmctl login`",
			s.URL, EnvUser, EnvPassword)
	}
	return s, nil
}

// sameURL says whether two broker URLs name the same broker.
func sameURL(a, b string) bool {
	na, errA := NormalizeURL(a)
	nb, errB := NormalizeURL(b)
	return errA == nil && errB == nil && na == nb
}

// readCACertFile reads a PEM file and checks that it holds a certificate.
func readCACertFile(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(string(raw), "-----BEGIN CERTIFICATE-----") {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return raw, nil
}
