package devcontroller

import (
	"context"
	"fmt"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// adminCredentialName is the name of the credential the admin user holds
// from the start, which the controller model uses (Juju's bootstrap
// credential).
const adminCredentialName = "default"

// ensureAdminCredential gives the admin user its credential for the
// controller's cloud, on first start (or on the first start of a
// controller from before credentials were kept).
func (c *Controller) ensureAdminCredential(ctx context.Context) error {
	ref := credRef{c.cfg.Cloud, adminUser, adminCredentialName}
	if _, ok := c.store.Credential(ref.id()); ok {
		return nil
	}
	authType, attrs := "userpass", map[string]string{"username": adminUser, "password": randomPassword()}
	if c.cfg.CloudType == "lxd" {
		authType, attrs = "interactive", map[string]string{"trust-password": randomPassword()}
	}
	_, err := c.store.UpdateCredential(ctx, ref.cloud, ref.owner, ref.name, func(cr *store.Credential, exists bool) error {
		now := time.Now().UTC()
		cr.AuthType, cr.Attributes, cr.CreatedAt, cr.UpdatedAt = authType, attrs, now, now
		return nil
	})
	if err != nil {
		return fmt.Errorf("controller %q: create the admin's cloud credential: %w", c.cfg.Name, err)
	}
	return nil
}

// modelCredential decides the credential a new model records: the one
// asked for, which must exist; else, for the admin (the controller
// model's owner), the controller model's.
//
// Juju refuses any other owner without a credential ("no credential
// specified") unless the cloud takes the "empty" auth type. The
// development controller instead records the owner's credential named
// "default" (which need not exist), so that tools that create models for
// other users without managing credentials keep working.
func (c *Controller) modelCredential(tag, owner string) (string, error) {
	if tag == "" {
		if owner == adminUser {
			return credRef{c.cfg.Cloud, adminUser, adminCredentialName}.tagID(), nil
		}
		return credRef{c.cfg.Cloud, owner, adminCredentialName}.tagID(), nil
	}
	ref, err := parseCredentialTag(tag)
	if err != nil {
		return "", err
	}
	if _, ok := c.store.Credential(ref.id()); !ok {
		return "", fmt.Errorf("getting credential: %w", jujuapi.NotFoundf("cloud credential %q", ref.id()))
	}
	if ref.cloud != c.cfg.Cloud {
		return "", jujuapi.Errorf(jujuapi.CodeNotValid, "validating credential %q for cloud %q: cloud %q not valid", ref.id(), c.cfg.Cloud, ref.cloud)
	}
	return ref.tagID(), nil
}

// credentialValidity is ModelInfo's cloud-credential-validity: whether the
// model's credential is valid, when the controller holds it.
func (c *Controller) credentialValidity(m *store.Model) *bool {
	ref, ok := credentialRefOf(m)
	if !ok {
		return nil
	}
	cred, ok := c.store.Credential(ref.id())
	if !ok {
		return nil
	}
	valid := !cred.Invalid
	return &valid
}

// changeModelCredential answers ModelManager.ChangeModelCredential: model
// admins (and superusers) point a model at another existing credential.
func (s *session) changeModelCredential(ctx context.Context, p params.ChangeModelCredentialsParams) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Models))}
	if err := s.ctl.blocked(s.ctl.UUID(), blockChange); err != nil {
		return out, err
	}
	for i, a := range p.Models {
		out.Results[i].Error = paramsError(s.changeOneCredential(ctx, a))
	}
	return out, nil
}

func (s *session) changeOneCredential(ctx context.Context, a params.ChangeModelCredentialParams) error {
	m, err := s.modelFromTag(a.ModelTag, store.AccessAdmin)
	if err != nil {
		return err
	}
	ref, err := parseCredentialTag(a.CloudCredentialTag)
	if err != nil {
		return err
	}
	if _, ok := s.ctl.store.Credential(ref.id()); !ok {
		return jujuapi.NotFoundf("cloud credential %q", ref.id())
	}
	if ref.cloud != m.Cloud {
		return jujuapi.Errorf(jujuapi.CodeNotValid, "cloud %q not valid for model %q (on cloud %q)", ref.cloud, m.Name, m.Cloud)
	}
	if err := writable(m); err != nil {
		return err
	}
	_, err = s.ctl.store.UpdateModel(ctx, m.UUID, func(m *store.Model) error {
		if err := writable(m); err != nil {
			return err
		}
		if m.Credential == ref.tagID() {
			return fmt.Errorf("model %v already uses credential %v", m.UUID, ref.id())
		}
		m.Credential = ref.tagID()
		return nil
	})
	if err != nil {
		return err
	}
	s.ctl.log.Info("model credential changed", "model", m.Name, "uuid", m.UUID, "credential", ref.id(), "by", s.identity())
	return nil
}
