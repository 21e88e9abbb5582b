package jujuapi

import (
	"fmt"
	"net/url"
	"strings"
)

// Tag kinds used in the protocol.
const (
	KindUser        = "user"
	KindModel       = "model"
	KindController  = "controller"
	KindCloud       = "cloud"
	KindMachine     = "machine"
	KindApplication = "application"
	KindUnit        = "unit"
	KindCredential  = "cloudcred"
)

// Tag names an entity on the wire: "<kind>-<id>", e.g. "user-alice",
// "model-<uuid>". The zero Tag is invalid.
type Tag struct {
	Kind string
	ID   string
}

func (t Tag) String() string {
	if t.Kind == "" {
		return ""
	}
	return t.Kind + "-" + t.ID
}

// IsZero reports whether t is the zero Tag.
func (t Tag) IsZero() bool { return t.Kind == "" }

// Tag constructors.
func UserTag(name string) Tag        { return Tag{KindUser, name} }
func ModelTag(uuid string) Tag       { return Tag{KindModel, uuid} }
func ControllerTag(uuid string) Tag  { return Tag{KindController, uuid} }
func CloudTag(name string) Tag       { return Tag{KindCloud, name} }
func ApplicationTag(name string) Tag { return Tag{KindApplication, name} }
func MachineTag(id string) Tag       { return Tag{KindMachine, id} }
func UnitTag(unitName string) Tag    { return Tag{KindUnit, strings.ReplaceAll(unitName, "/", "-")} }

func CredentialTag(id string) Tag         { return Tag{KindCredential, id} }
func ParseUserTag(s string) (Tag, error)  { return parseKind(s, KindUser) }
func ParseModelTag(s string) (Tag, error) { return parseKind(s, KindModel) }
func ParseCloudTag(s string) (Tag, error) { return parseKind(s, KindCloud) }
func ParseControllerTag(s string) (Tag, error) {
	return parseKind(s, KindController)
}

// kinds lists the kinds ParseTag knows, longest first where one is a prefix
// of another.
var kinds = []string{KindApplication, KindController, KindCredential, KindMachine, KindModel, KindCloud, KindUser, KindUnit}

// ParseTag parses "<kind>-<id>" for a known kind and a non-empty id.
func ParseTag(s string) (Tag, error) {
	for _, k := range kinds {
		if id, ok := strings.CutPrefix(s, k+"-"); ok && id != "" {
			return Tag{Kind: k, ID: id}, nil
		}
	}
	return Tag{}, Errorf(CodeNotValid, "%q is not a valid tag", s)
}

func parseKind(s, kind string) (Tag, error) {
	t, err := ParseTag(s)
	if err != nil {
		return Tag{}, err
	}
	if t.Kind != kind {
		return Tag{}, Errorf(CodeNotValid, "%q is not a valid %s tag", s, kind)
	}
	return t, nil
}

// UnitName turns a unit tag's id ("app-0") back into a unit name ("app/0").
func UnitName(t Tag) (string, error) {
	i := strings.LastIndexByte(t.ID, '-')
	if t.Kind != KindUnit || i <= 0 || i == len(t.ID)-1 {
		return "", fmt.Errorf("%q is not a valid unit tag", t.String())
	}
	return t.ID[:i] + "/" + t.ID[i+1:], nil
}

// CloudCredentialTag is the tag of the credential name of owner for
// cloud: "cloudcred-<cloud>_<owner>_<name>", with each "_" inside a part
// written %5f, as Juju writes it.
func CloudCredentialTag(cloud, owner, name string) Tag {
	q := func(s string) string { return strings.ReplaceAll(s, "_", "%5f") }
	return Tag{KindCredential, q(cloud) + "_" + q(owner) + "_" + q(name)}
}

// ParseCloudCredentialTag parses a credential tag into its cloud, owner
// and name.
func ParseCloudCredentialTag(s string) (cloud, owner, name string, err error) {
	t, err := parseKind(s, KindCredential)
	if err != nil {
		return "", "", "", err
	}
	parts := strings.Split(t.ID, "_")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", fmt.Errorf("%q is not a valid cloudcred tag: want cloudcred-<cloud>_<owner>_<name>", s)
	}
	for i, p := range parts {
		if parts[i], err = url.PathUnescape(p); err != nil {
			return "", "", "", fmt.Errorf("%q is not a valid cloudcred tag: %w", s, err)
		}
	}
	return parts[0], parts[1], parts[2], nil
}
