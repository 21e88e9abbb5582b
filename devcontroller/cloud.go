package devcontroller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The Cloud facade (version 7): the controller's one cloud, who may use
// it, and the users' cloud credentials. As in Juju, a user sees the cloud
// when it has add-model or admin access to it (superusers see it always);
// a user manages its own credentials and a superuser anyone's; secrets are
// shown only by CredentialContents, only when asked for, and only to the
// credential's owner.

// credentialAttr is one attribute of an auth type's credential schema.
type credentialAttr struct {
	name   string
	hidden bool // a secret
}

// credentialSchemas returns the credential schemas of the controller's
// cloud, by auth type, as the Juju provider of its type declares them:
// LXD's for an lxd cloud, a username and secret password otherwise.
func (c *Controller) credentialSchemas() map[string][]credentialAttr {
	if c.cfg.CloudType == "lxd" {
		return map[string][]credentialAttr{
			"certificate": {{"server-cert", true}, {"client-cert", true}, {"client-key", true}},
			"interactive": {{"trust-password", true}},
		}
	}
	return map[string][]credentialAttr{"userpass": {{"username", false}, {"password", true}}}
}

// cloudAuthTypes lists the cloud's auth types, as Clouds shows them.
func (c *Controller) cloudAuthTypes() []string {
	if c.cfg.CloudType == "lxd" {
		return []string{"certificate", "interactive"}
	}
	return []string{"userpass"}
}

func (c *Controller) cloudParams() params.Cloud {
	cl := params.Cloud{Type: c.cfg.CloudType, AuthTypes: c.cloudAuthTypes(), Endpoint: c.cfg.CloudEndpoint, IsControllerCloud: true}
	for _, r := range c.cfg.Regions {
		cl.Regions = append(cl.Regions, params.CloudRegion{Name: r})
	}
	return cl
}

func (c *Controller) cloudDetails() params.CloudDetails {
	cl := c.cloudParams()
	return params.CloudDetails{Type: cl.Type, AuthTypes: cl.AuthTypes, Endpoint: cl.Endpoint, Regions: cl.Regions}
}

// parseOurCloud parses a cloud tag and checks that it names the
// controller's cloud.
func (s *session) parseOurCloud(tag string) (string, error) {
	t, err := jujuapi.ParseCloudTag(tag)
	if err != nil {
		return "", err
	}
	if t.ID != s.ctl.cfg.Cloud {
		return "", jujuapi.NotFoundf("cloud %q", t.ID)
	}
	return t.ID, nil
}

func (s *session) clouds(context.Context) (params.CloudsResult, error) {
	out := params.CloudsResult{Clouds: map[string]params.Cloud{}}
	if s.cloudAccess() != "" {
		out.Clouds[jujuapi.CloudTag(s.ctl.cfg.Cloud).String()] = s.ctl.cloudParams()
	}
	return out, nil
}

func (s *session) cloud(_ context.Context, p params.Entities) (params.CloudResults, error) {
	out := params.CloudResults{Results: make([]params.CloudResult, len(p.Entities))}
	for i, e := range p.Entities {
		t, err := jujuapi.ParseCloudTag(e.Tag)
		switch {
		case err != nil:
			out.Results[i].Error = paramsError(err)
		case s.cloudAccess() == "", t.ID != s.ctl.cfg.Cloud:
			out.Results[i].Error = paramsError(jujuapi.NotFoundf("cloud %q", t.ID))
		default:
			cl := s.ctl.cloudParams()
			out.Results[i].Cloud = &cl
		}
	}
	return out, nil
}

// cloudUsers returns who has access to the cloud and how: the admin user
// (who bootstrapped it), the users granted access, and a token user as
// its token says.
func (s *session) cloudUsers() map[string]string {
	users := map[string]string{adminUser: store.AccessAdmin}
	if meta := s.ctl.store.Meta(); meta != nil {
		maps.Copy(users, meta.CloudAccess)
	}
	if s.tokenClaims() != nil {
		if a := s.cloudAccess(); a != "" && !s.isSuperuser() {
			users[s.identity()] = a
		}
	}
	return users
}

func (s *session) cloudInfo(_ context.Context, p params.Entities) (params.CloudInfoResults, error) {
	out := params.CloudInfoResults{Results: make([]params.CloudInfoResult, len(p.Entities))}
	for i, e := range p.Entities {
		info, err := s.oneCloudInfo(e.Tag)
		out.Results[i] = params.CloudInfoResult{Result: info, Error: paramsError(err)}
	}
	return out, nil
}

func (s *session) oneCloudInfo(tag string) (*params.CloudInfo, error) {
	if _, err := s.parseOurCloud(tag); err != nil {
		return nil, err
	}
	// Superusers and cloud admins see every user; others themselves.
	admin := s.cloudAccess() == store.AccessAdmin
	users := s.cloudUsers()
	info := &params.CloudInfo{CloudDetails: s.ctl.cloudDetails()}
	for _, name := range sortedKeys(users) {
		if !admin && name != s.identity() {
			continue
		}
		display := name
		if !isExternal(name) {
			u, ok := s.ctl.store.User(name)
			if !ok {
				continue // a user since removed
			}
			display = u.DisplayName
		}
		info.Users = append(info.Users, params.CloudUserInfo{UserName: name, DisplayName: display, Access: users[name]})
	}
	if len(info.Users) == 0 {
		return nil, jujuapi.ErrPerm
	}
	return info, nil
}

func (s *session) listCloudInfo(_ context.Context, p params.ListCloudsRequest) (params.ListCloudInfoResults, error) {
	out := params.ListCloudInfoResults{Results: []params.ListCloudInfoResult{}}
	user, err := jujuapi.ParseUserTag(p.UserTag)
	if err != nil {
		return out, err
	}
	access := s.cloudUsers()[user.ID]
	if user.ID == s.identity() {
		access = s.cloudAccess()
	}
	if access != "" || (p.All && s.isSuperuser()) {
		out.Results = append(out.Results, params.ListCloudInfoResult{Result: &params.ListCloudInfo{
			CloudDetails: s.ctl.cloudDetails(), Access: access,
		}})
	}
	return out, nil
}

// mayManageCredentialsOf tells whether the caller may see or change the
// credentials of owner: its own, or anyone's for a superuser.
func (s *session) mayManageCredentialsOf(owner string) bool {
	return owner == s.identity() || s.isSuperuser()
}

func (s *session) userCredentials(_ context.Context, p params.UserClouds) (params.StringsResults, error) {
	out := params.StringsResults{Results: make([]params.StringsResult, len(p.UserClouds))}
	for i, uc := range p.UserClouds {
		user, err := jujuapi.ParseUserTag(uc.UserTag)
		if err != nil {
			out.Results[i].Error = paramsError(err)
			continue
		}
		if !s.mayManageCredentialsOf(user.ID) {
			out.Results[i].Error = paramsError(jujuapi.ErrPerm)
			continue
		}
		cloud, err := jujuapi.ParseCloudTag(uc.CloudTag)
		if err != nil {
			out.Results[i].Error = paramsError(err)
			continue
		}
		tags := []string{}
		for _, c := range s.ctl.store.Credentials() {
			if c.Owner == user.ID && c.Cloud == cloud.ID {
				tags = append(tags, jujuapi.CredentialTag(c.TagID()).String())
			}
		}
		out.Results[i].Result = tags
	}
	return out, nil
}

// credential answers Cloud.Credential: the credentials named, without
// their secrets.
func (s *session) credential(_ context.Context, p params.Entities) (params.CloudCredentialResults, error) {
	out := params.CloudCredentialResults{Results: make([]params.CloudCredentialResult, len(p.Entities))}
	for i, e := range p.Entities {
		ref, err := parseCredentialTag(e.Tag)
		if err != nil {
			out.Results[i].Error = paramsError(err)
			continue
		}
		if !s.mayManageCredentialsOf(ref.owner) {
			out.Results[i].Error = paramsError(jujuapi.ErrPerm)
			continue
		}
		c, ok := s.ctl.store.Credential(ref.id())
		if !ok {
			out.Results[i].Error = paramsError(jujuapi.NotFoundf("credential %q", ref.name))
			continue
		}
		if ref.cloud != s.ctl.cfg.Cloud {
			out.Results[i].Error = paramsError(jujuapi.NotFoundf("cloud %q", ref.cloud))
			continue
		}
		attrs := maps.Clone(c.Attributes)
		var redacted []string
		for _, a := range s.ctl.credentialSchemas()[c.AuthType] {
			if a.hidden {
				delete(attrs, a.name)
				redacted = append(redacted, a.name)
			}
		}
		out.Results[i].Result = &params.CloudCredential{AuthType: c.AuthType, Attributes: attrs, Redacted: redacted}
	}
	return out, nil
}

// credentialContents answers Cloud.CredentialContents: the caller's own
// credentials (all of them, or those named), with the models that use
// them; secret attributes only when asked for. As in Juju, a superuser has
// no more rights here than anyone, and attributes outside the auth type's
// schema are not shown.
func (s *session) credentialContents(_ context.Context, p params.CloudCredentialArgs) (params.CredentialContentResults, error) {
	me := s.identity()
	var out params.CredentialContentResults
	if len(p.Credentials) == 0 {
		for _, c := range s.ctl.store.Credentials() {
			if c.Owner == me {
				out.Results = append(out.Results, s.ctl.credentialContent(c, p.IncludeSecrets))
			}
		}
		if len(out.Results) == 0 {
			return out, jujuapi.NotFoundf("cloud credentials for %q", me)
		}
		return out, nil
	}
	for _, a := range p.Credentials {
		id := store.CredentialID(a.CloudName, me, a.CredentialName)
		if _, ok := parseCredentialID(id); !ok {
			out.Results = append(out.Results, params.CredentialContentResult{Error: paramsError(jujuapi.Errorf(jujuapi.CodeNotValid, "cloud credential ID %q not valid", id))})
			continue
		}
		c, ok := s.ctl.store.Credential(id)
		if !ok {
			out.Results = append(out.Results, params.CredentialContentResult{Error: paramsError(jujuapi.NotFoundf("cloud credential %q", id))})
			continue
		}
		out.Results = append(out.Results, s.ctl.credentialContent(c, p.IncludeSecrets))
	}
	return out, nil
}

func (c *Controller) credentialContent(cred *store.Credential, secrets bool) params.CredentialContentResult {
	if cred.Cloud != c.cfg.Cloud {
		return params.CredentialContentResult{Error: paramsError(jujuapi.NotFoundf("cloud %q", cred.Cloud))}
	}
	attrs := map[string]string{}
	for _, a := range c.credentialSchemas()[cred.AuthType] {
		if v, ok := cred.Attributes[a.name]; ok && (secrets || !a.hidden) {
			attrs[a.name] = v
		}
	}
	valid := !cred.Invalid
	info := &params.ControllerCredentialInfo{
		Content: params.CredentialContent{Name: cred.Name, Cloud: cred.Cloud, AuthType: cred.AuthType, Valid: &valid, Attributes: attrs},
		Models:  []params.ModelAccess{},
	}
	for _, m := range c.credentialModels(cred.TagID()) {
		info.Models = append(info.Models, params.ModelAccess{Model: m.Name, Access: m.Users[cred.Owner]})
	}
	return params.CredentialContentResult{Result: info}
}

// credentialModels returns the live models that use a credential.
func (c *Controller) credentialModels(tagID string) []*store.Model {
	var out []*store.Model
	for _, m := range c.store.Models() {
		if m.Credential == tagID && m.Life != store.LifeDead && m.MigrationMode != store.MigrationModeImporting {
			out = append(out, m)
		}
	}
	return out
}

func (s *session) addCredentials(ctx context.Context, p params.TaggedCredentials) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Credentials))}
	for i, tc := range p.Credentials {
		ref, err := parseCredentialTag(tc.Tag)
		switch {
		case err != nil:
		case !s.mayManageCredentialsOf(ref.owner):
			err = jujuapi.ErrPerm
		default:
			err = s.ctl.putCredential(ctx, ref, tc.Credential, s.identity())
		}
		out.Results[i].Error = paramsError(err)
	}
	return out, nil
}

// updateCredentialsCheckModels answers Cloud.UpdateCredentialsCheckModels:
// each credential is added or replaced, and the models that use it are
// listed (the development controller's simulated cloud accepts any
// content, so no model objects). Only superusers may force.
func (s *session) updateCredentialsCheckModels(ctx context.Context, p params.UpdateCredentialArgs) (params.UpdateCredentialResults, error) {
	if p.Force && !s.isSuperuser() {
		return params.UpdateCredentialResults{}, jujuapi.Errorf(jujuapi.CodeBadRequest, "unexpected force specified: invalid request")
	}
	return s.updateCredentials(ctx, p.Credentials, true), nil
}

// checkCredentialsModels answers Cloud.CheckCredentialsModels: the models
// each credential would affect, changing nothing.
func (s *session) checkCredentialsModels(ctx context.Context, p params.TaggedCredentials) (params.UpdateCredentialResults, error) {
	return s.updateCredentials(ctx, p.Credentials, false), nil
}

func (s *session) updateCredentials(ctx context.Context, creds []params.TaggedCredential, update bool) params.UpdateCredentialResults {
	out := params.UpdateCredentialResults{Results: make([]params.UpdateCredentialResult, len(creds))}
	for i, tc := range creds {
		r := &out.Results[i]
		r.CredentialTag = tc.Tag
		ref, err := parseCredentialTag(tc.Tag)
		if err != nil {
			r.Error = paramsError(err)
			continue
		}
		if !s.mayManageCredentialsOf(ref.owner) {
			r.Error = paramsError(jujuapi.ErrPerm)
			continue
		}
		for _, m := range s.ctl.credentialModels(ref.tagID()) {
			r.Models = append(r.Models, params.UpdateCredentialModelResult{ModelUUID: m.UUID, ModelName: m.Name})
		}
		slices.SortFunc(r.Models, func(a, b params.UpdateCredentialModelResult) int {
			return compareStrings(a.ModelUUID, b.ModelUUID)
		})
		if !update {
			continue
		}
		err = s.ctl.putCredential(ctx, ref, tc.Credential, s.identity())
		if jujuapi.ErrorCode(err) == jujuapi.CodeNotFound {
			err = fmt.Errorf("cannot update credential %q: controller does not manage cloud %q", ref.name, ref.cloud)
		}
		r.Error = paramsError(err)
	}
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// putCredential adds or replaces a credential after checking it against
// the cloud, with Juju's messages.
func (c *Controller) putCredential(ctx context.Context, ref credRef, in params.CloudCredential, by string) error {
	const what = "updating cloud credentials"
	if ref.cloud != c.cfg.Cloud {
		return fmt.Errorf("%s: %w", what, jujuapi.NotFoundf("cloud %q", ref.cloud))
	}
	if !slices.Contains(c.cloudAuthTypes(), in.AuthType) {
		return jujuapi.Errorf(jujuapi.CodeNotSupported, "%s: validating credential %q for cloud %q: supported auth-types %s, %q not supported",
			what, ref.id(), ref.cloud, quoteList(c.cloudAuthTypes()), in.AuthType)
	}
	cred, err := c.store.UpdateCredential(ctx, ref.cloud, ref.owner, ref.name, func(cr *store.Credential, exists bool) error {
		now := time.Now().UTC()
		if !exists {
			cr.CreatedAt = now
		}
		cr.AuthType, cr.Attributes, cr.UpdatedAt = in.AuthType, maps.Clone(in.Attributes), now
		cr.Invalid, cr.InvalidReason = false, ""
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	c.log.Info("cloud credential stored", "credential", cred, "by", by)
	return nil
}

// quoteList formats names as Go's %q formats a []string: ["a" "b"].
func quoteList(names []string) string { return fmt.Sprintf("%q", names) }

func (s *session) revokeCredentialsCheckModels(ctx context.Context, p params.RevokeCredentialArgs) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Credentials))}
	for i, a := range p.Credentials {
		out.Results[i].Error = paramsError(s.revokeCredential(ctx, a))
	}
	return out, nil
}

func (s *session) revokeCredential(ctx context.Context, a params.RevokeCredentialArg) error {
	ref, err := parseCredentialTag(a.Tag)
	if err != nil {
		return err
	}
	if !s.mayManageCredentialsOf(ref.owner) {
		return jujuapi.ErrPerm
	}
	if n := len(s.ctl.credentialModels(ref.tagID())); n > 0 && !a.Force {
		return fmt.Errorf("cannot revoke credential %s: it is still used by %d model%s", ref.tag(), n, plural(n))
	}
	// As in Juju, revoking a credential that is not there succeeds.
	uuids, err := s.ctl.store.DeleteCredential(ctx, ref.id())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("removing cloud credential: %w", err)
	}
	if err == nil {
		s.ctl.log.Info("cloud credential revoked", "credential", ref.id(), "by", s.identity(), "models", uuids)
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
