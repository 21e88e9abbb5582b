package clouds

import (
	"context"
	"errors"
	"fmt"

	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// ModelCredential is the credential a new model is to use, by its tag (""
// for none): one the caller may use, for the model's cloud.
func (s *Service) ModelCredential(ctx context.Context, caller *identity.Identity, tag, cloud string) (*Credential, error) {
	if tag == "" {
		return nil, nil
	}
	credCloud, owner, name, err := jujuapi.ParseCloudCredentialTag(tag)
	if err != nil {
		return nil, err
	}
	if !mayUseCredentialsOf(caller, owner) {
		return nil, jujuapi.ErrPerm
	}
	if cloud != "" && credCloud != cloud {
		return nil, jujuapi.Errorf(jujuapi.CodeNotValid, "credential %q is for cloud %q, not the model's cloud %q", name, credCloud, cloud)
	}
	row, err := s.db.CloudCredential(ctx, credCloud, owner, name)
	if errors.Is(err, db.ErrNotFound) && owner == identity.AdminName {
		// The bootstrap admin's own credential on the controllers (one
		// the broker does not store): each controller uses its own.
		return &Credential{controllers: true}, nil
	}
	if errors.Is(err, db.ErrNotFound) {
		return nil, jujuapi.NotFoundf("credential %q for cloud %q of %s", name, credCloud, owner)
	}
	if err != nil {
		return nil, err
	}
	attrs, err := s.openCredential(row)
	if err != nil {
		return nil, err
	}
	return &Credential{row: row, attrs: attrs}, nil
}

// Credential is a credential a new model uses, with its attributes; or,
// with controllers set, the credential each controller holds for its
// admin, which the model uses on whichever controller it lands.
type Credential struct {
	row         *db.CloudCredential
	attrs       map[string]string
	controllers bool
}

// Prepare readies a model's creation on the controller ctl: the region is
// the one asked for, or the controller's first; the controller's model
// defaults are brought up to date with the broker's, so that the model
// inherits them there; the credential, if any, is handed to the
// controller first. It returns the credential's key, to record with the
// model.
func (s *Service) Prepare(ctx context.Context, ctl *db.Controller, args *params.ModelCreateArgs, cred *Credential) (string, error) {
	if args.CloudRegion == "" && len(ctl.Regions) > 0 {
		args.CloudRegion = ctl.Regions[0]
	}
	if err := s.syncDefaults(ctx, ctl); err != nil {
		return "", fmt.Errorf("bring the model defaults of controller %q up to date: %w", ctl.Name, err)
	}
	switch {
	case cred == nil:
		return "", nil
	case cred.controllers:
		args.CloudCredentialTag = "" // the controller's own, for its admin
		return "", nil
	}
	if err := s.pushCredential(ctx, ctl, cred.row, cred.attrs); err != nil {
		return "", err
	}
	return cred.row.Key(), nil
}
