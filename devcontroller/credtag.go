package devcontroller

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
)

// credRef names a cloud credential: its cloud, owner and name. Its tag is
// "cloudcred-<cloud>_<owner>_<name>", with underscores inside the parts
// escaped as "%5f"; its id (as Juju prints it) is "<cloud>/<owner>/<name>".
type credRef struct{ cloud, owner, name string }

// Juju's rules for the parts of a credential id (juju/names).
var (
	validCredentialName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9.@_+-]*$`)
	validCredentialID   = regexp.MustCompile(`^([a-zA-Z0-9][a-zA-Z0-9._-]*)/` +
		`((?:[a-zA-Z0-9][a-zA-Z0-9.+-]*[a-zA-Z0-9])(?:@[a-zA-Z0-9][a-zA-Z0-9.+-]*[a-zA-Z0-9])?)/` +
		`([a-zA-Z][a-zA-Z0-9.@_+-]*)$`)
)

func (r credRef) id() string    { return store.CredentialID(r.cloud, r.owner, r.name) }
func (r credRef) tagID() string { return store.CredentialTagID(r.cloud, r.owner, r.name) }
func (r credRef) tag() string   { return jujuapi.CredentialTag(r.tagID()).String() }

// parseCredentialID reads "cloud/owner/name".
func parseCredentialID(id string) (credRef, bool) {
	p := validCredentialID.FindStringSubmatch(id)
	if p == nil {
		return credRef{}, false
	}
	return credRef{p[1], p[2], p[3]}, true
}

// parseCredentialTag reads a credential tag, as Juju does: the underscores
// separate the parts, then each part is unescaped.
func parseCredentialTag(tag string) (credRef, error) {
	invalid := jujuapi.Errorf(jujuapi.CodeNotValid, "%q is not a valid cloudcred tag", tag)
	suffix, ok := strings.CutPrefix(tag, jujuapi.KindCredential+"-")
	if !ok {
		return credRef{}, invalid
	}
	id, err := url.QueryUnescape(strings.ReplaceAll(suffix, "_", "/"))
	if err != nil {
		return credRef{}, invalid
	}
	r, ok := parseCredentialID(id)
	if !ok {
		return credRef{}, invalid
	}
	return r, nil
}

// credentialRefOf returns the credential a model records, if any.
func credentialRefOf(m *store.Model) (credRef, bool) {
	if m.Credential == "" {
		return credRef{}, false
	}
	r, err := parseCredentialTag(jujuapi.CredentialTag(m.Credential).String())
	return r, err == nil
}

func (r credRef) String() string { return fmt.Sprintf("credential %q", r.id()) }
