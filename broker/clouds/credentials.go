package clouds

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jimmbroker/jimm/authz"
	"github.com/jimmbroker/jimm/broker/identity"
	"github.com/jimmbroker/jimm/broker/internal/dbfault"
	"github.com/jimmbroker/jimm/controllers"
	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

// The Cloud facade, answered by the broker: its clouds are those of its
// controllers (a cloud's definition comes from a controller hosting it,
// its regions are the union of theirs), and cloud credentials are the
// broker's own, stored sealed and handed to a controller when a model
// there uses one.

// cloudDefs returns the clouds the broker's controllers host, by name.
func (s *Service) cloudDefs(ctx context.Context) (map[string]params.Cloud, error) {
	ctls, err := s.registry.List(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]params.Cloud{}
	known := map[string][]params.CloudRegion{} // by cloud: the regions as a controller defines them
	for _, c := range ctls {
		cl, seen := out[c.Cloud]
		if !seen {
			cl, known[c.Cloud] = s.cloudDef(ctx, c.Cloud, c.CloudType, c.Name)
		}
		for _, r := range c.Regions {
			if slices.ContainsFunc(cl.Regions, func(x params.CloudRegion) bool { return x.Name == r }) {
				continue
			}
			region := params.CloudRegion{Name: r}
			if i := slices.IndexFunc(known[c.Cloud], func(x params.CloudRegion) bool { return x.Name == r }); i >= 0 {
				region = known[c.Cloud][i]
			}
			// A region without endpoints of its own has the cloud's, as
			// Juju's cloud definitions do (the CLI checks a credential
			// against its region's endpoint).
			region.Endpoint = cmp.Or(region.Endpoint, cl.Endpoint)
			region.IdentityEndpoint = cmp.Or(region.IdentityEndpoint, cl.IdentityEndpoint)
			region.StorageEndpoint = cmp.Or(region.StorageEndpoint, cl.StorageEndpoint)
			cl.Regions = append(cl.Regions, region)
		}
		out[c.Cloud] = cl
	}
	return out, nil
}

// cloudDef is a cloud's definition as the controller named ctlName has
// it, without its regions (which the broker adds up from every
// controller's), and the regions as that controller defines them; or,
// when that controller cannot be asked, what the registry knows.
func (s *Service) cloudDef(ctx context.Context, name, typ, ctlName string) (params.Cloud, []params.CloudRegion) {
	def := params.Cloud{Type: typ}
	if !s.up(ctlName) {
		return def, nil
	}
	c, err := s.pool.Get(ctx, ctlName)
	if err != nil {
		return def, nil
	}
	clouds, err := c.Clouds(ctx)
	if err != nil {
		s.log.Debug("cannot read a controller's clouds", "controller", ctlName, "err", err)
		return def, nil
	}
	var regions []params.CloudRegion
	if cl, ok := clouds[name]; ok {
		def, regions = cl, cl.Regions
		def.Regions, def.IsControllerCloud = nil, false
	}
	return def, regions
}

func (s *Service) Clouds(ctx context.Context, caller *identity.Identity) (params.CloudsResult, error) {
	defs, err := s.cloudDefs(ctx)
	if err != nil {
		return params.CloudsResult{}, err
	}
	out := params.CloudsResult{Clouds: make(map[string]params.Cloud, len(defs))}
	for name, cl := range defs {
		out.Clouds[jujuapi.CloudTag(name).String()] = cl
	}
	return out, nil
}

// cloudNamed returns one cloud's definition, or a "not found" error.
func (s *Service) cloudNamed(ctx context.Context, tag string) (params.Cloud, string, error) {
	t, err := jujuapi.ParseCloudTag(tag)
	if err != nil {
		return params.Cloud{}, "", err
	}
	defs, err := s.cloudDefs(ctx)
	if err != nil {
		return params.Cloud{}, "", err
	}
	cl, ok := defs[t.ID]
	if !ok {
		return params.Cloud{}, "", jujuapi.NotFoundf("cloud %q", t.ID)
	}
	return cl, t.ID, nil
}

func (s *Service) Cloud(ctx context.Context, caller *identity.Identity, p params.Entities) (params.CloudResults, error) {
	out := params.CloudResults{Results: make([]params.CloudResult, len(p.Entities))}
	for i, e := range p.Entities {
		cl, _, err := s.cloudNamed(ctx, e.Tag)
		if err != nil {
			out.Results[i].Error = dbfault.AsError(err, s.log)
			continue
		}
		out.Results[i].Cloud = &cl
	}
	return out, nil
}

// cloudInfo describes clouds with the users who may use them: for a
// broker administrator every user with a relation to the cloud, for
// anyone else their own access.
func (s *Service) CloudInfo(ctx context.Context, caller *identity.Identity, p params.Entities) (params.CloudInfoResults, error) {
	out := params.CloudInfoResults{Results: make([]params.CloudInfoResult, len(p.Entities))}
	for i, e := range p.Entities {
		info, err := s.oneCloudInfo(ctx, caller, e.Tag)
		if err != nil {
			out.Results[i].Error = dbfault.AsError(err, s.log)
			continue
		}
		out.Results[i].Result = info
	}
	return out, nil
}

func (s *Service) oneCloudInfo(ctx context.Context, caller *identity.Identity, tag string) (*params.CloudInfo, error) {
	id := caller
	cl, name, err := s.cloudNamed(ctx, tag)
	if err != nil {
		return nil, err
	}
	info := &params.CloudInfo{CloudDetails: params.CloudDetails{
		Type: cl.Type, AuthTypes: cl.AuthTypes, Endpoint: cl.Endpoint,
		IdentityEndpoint: cl.IdentityEndpoint, StorageEndpoint: cl.StorageEndpoint, Regions: cl.Regions,
	}}
	if !id.Admin {
		access, err := s.identity.CloudAccess(ctx, id, name)
		if err != nil {
			return nil, err
		}
		if access == "" {
			return nil, jujuapi.NotFoundf("cloud %q", name)
		}
		info.Users = []params.CloudUserInfo{{UserName: id.Name, DisplayName: id.Name, Access: access}}
		return info, nil
	}
	tuples, err := s.rel.List(ctx, authz.Filter{Object: authz.KindCloud + ":" + name})
	if err != nil {
		return nil, fmt.Errorf("list the users of cloud %q: %w", name, err)
	}
	best := map[string]string{identity.AdminName: "admin"}
	for _, t := range tuples {
		user, ok := identity.NameOf(t.Subject)
		if !ok {
			continue
		}
		access := "add-model"
		if t.Relation == authz.Administrator {
			access = "admin"
		}
		if best[user] != "admin" {
			best[user] = access
		}
	}
	for _, user := range sortedKeys(best) {
		info.Users = append(info.Users, params.CloudUserInfo{UserName: user, DisplayName: user, Access: best[user]})
	}
	return info, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// mayUseCredentialsOf says whether the caller may see and change the
// credentials of the identity named owner: its own, or anyone's for a
// broker administrator.
func mayUseCredentialsOf(caller *identity.Identity, owner string) bool {
	id := caller
	return id.Admin || id.Name == owner
}

func (s *Service) UserCredentials(ctx context.Context, caller *identity.Identity, p params.UserClouds) (params.StringsResults, error) {
	out := params.StringsResults{Results: make([]params.StringsResult, len(p.UserClouds))}
	for i, uc := range p.UserClouds {
		user, err := jujuapi.ParseUserTag(uc.UserTag)
		if err != nil {
			out.Results[i].Error = dbfault.AsError(err, s.log)
			continue
		}
		if !mayUseCredentialsOf(caller, user.ID) {
			out.Results[i].Error = jujuapi.ErrPerm
			continue
		}
		cloud, err := jujuapi.ParseCloudTag(uc.CloudTag)
		if err != nil {
			out.Results[i].Error = dbfault.AsError(err, s.log)
			continue
		}
		creds, err := s.db.CloudCredentials(ctx, user.ID, cloud.ID)
		if err != nil {
			out.Results[i].Error = dbfault.AsError(err, s.log)
			continue
		}
		tags := make([]string, 0, len(creds))
		for _, c := range creds {
			tags = append(tags, jujuapi.CloudCredentialTag(c.Cloud, c.Owner, c.Name).String())
		}
		if len(tags) == 0 && user.ID == identity.AdminName {
			// The bootstrap admin is every controller's admin, whose
			// credential each controller holds (see modelCredential).
			tags = s.controllersAdminCredentials(ctx, cloud.ID)
		}
		out.Results[i].Result = tags
	}
	return out, nil
}

// controllersAdminCredentials are the credentials the admin holds on an
// up controller hosting cloud, as that controller tags them (none when no
// such controller answers).
func (s *Service) controllersAdminCredentials(ctx context.Context, cloud string) []string {
	var tags []string
	s.askController(ctx, cloud, "", func(_ *db.Controller, client *controllers.Client) bool {
		var res params.StringsResults
		err := client.Call(ctx, "Cloud", 7, "UserCredentials", params.UserClouds{UserClouds: []params.UserCloud{{
			UserTag: jujuapi.UserTag(client.User()).String(), CloudTag: jujuapi.CloudTag(cloud).String(),
		}}}, &res)
		if err != nil || len(res.Results) != 1 || res.Results[0].Error != nil {
			return false
		}
		tags = res.Results[0].Result
		return true
	})
	return tags
}

// controllersAdminContents are the credentials the admin holds on the
// controllers, for the clouds where the broker stores none of the
// admin's: the bootstrap admin is every controller's admin (see
// UserCredentials). Each cloud is asked of one up controller hosting it.
func (s *Service) controllersAdminContents(ctx context.Context, stored []db.CloudCredential, secrets bool) []params.CredentialContentResult {
	ctls, err := s.registry.List(ctx)
	if err != nil {
		return nil
	}
	done := map[string]bool{}
	for _, c := range stored {
		done[c.Cloud] = true
	}
	var out []params.CredentialContentResult
	for _, c := range ctls {
		if done[c.Cloud] || !s.up(c.Name) {
			continue
		}
		client, err := s.pool.Get(ctx, c.Name)
		if err != nil {
			continue
		}
		var res params.CredentialContentResults
		if err := client.Call(ctx, "Cloud", 7, "CredentialContents", params.CloudCredentialArgs{IncludeSecrets: secrets}, &res); err != nil {
			continue
		}
		done[c.Cloud] = true
		for _, r := range res.Results {
			if r.Result == nil || r.Result.Content.Cloud != c.Cloud {
				continue
			}
			// The broker's models using it, not the controller's.
			r.Result.Models = nil
			key := r.Result.Content.Cloud + "/" + identity.AdminName + "/" + r.Result.Content.Name
			if models, err := s.db.ModelsUsingCredential(ctx, key); err == nil {
				for _, m := range models {
					r.Result.Models = append(r.Result.Models, params.ModelAccess{Model: m.Name, Access: authz.AccessAdmin})
				}
			}
			out = append(out, r)
		}
	}
	return out
}

// secretAttributes are credential attributes never shown unless asked
// for, by owner or administrator: the hidden attributes of the providers'
// credential schemas (the broker does not run providers, so it names
// them; lxd hides its certificates too).
var secretAttributes = []string{
	"password", "trust-password", "client-cert", "client-key", "server-cert", "secret-key", "private-key",
	"application-password", "client-secret", "token", "key", "ClientKeyData", "Token",
}

func credentialAAD(cloud, owner, name string) string {
	return "cloud-credential/" + cloud + "/" + owner + "/" + name
}

// openCredential returns a stored credential's attributes.
func (s *Service) openCredential(c *db.CloudCredential) (map[string]string, error) {
	raw, err := s.sealer.Open(c.Attributes, credentialAAD(c.Cloud, c.Owner, c.Name))
	if err != nil {
		return nil, fmt.Errorf("credential %s: %w", c.Key(), err)
	}
	attrs := map[string]string{}
	if err := json.Unmarshal(raw, &attrs); err != nil {
		return nil, fmt.Errorf("credential %s: %w", c.Key(), err)
	}
	return attrs, nil
}

func (s *Service) CredentialContents(ctx context.Context, caller *identity.Identity, p params.CloudCredentialArgs) (params.CredentialContentResults, error) {
	id := caller
	if len(p.Credentials) == 0 {
		all, err := s.db.CloudCredentials(ctx, id.Name, "")
		if err != nil {
			return params.CredentialContentResults{}, err
		}
		var out params.CredentialContentResults
		for i := range all {
			out.Results = append(out.Results, s.credentialContent(ctx, &all[i], p.IncludeSecrets))
		}
		if id.Name == identity.AdminName {
			out.Results = append(out.Results, s.controllersAdminContents(ctx, all, p.IncludeSecrets)...)
		}
		if len(out.Results) == 0 {
			return out, jujuapi.NotFoundf("cloud credentials for %q", id.Name)
		}
		return out, nil
	}
	out := params.CredentialContentResults{Results: make([]params.CredentialContentResult, len(p.Credentials))}
	for i, arg := range p.Credentials {
		c, err := s.db.CloudCredential(ctx, arg.CloudName, id.Name, arg.CredentialName)
		if errors.Is(err, db.ErrNotFound) {
			err = jujuapi.NotFoundf("credential %q for cloud %q", arg.CredentialName, arg.CloudName)
		}
		if err != nil {
			out.Results[i].Error = dbfault.AsError(err, s.log)
			continue
		}
		out.Results[i] = s.credentialContent(ctx, c, p.IncludeSecrets)
	}
	return out, nil
}

// credentialContent is one stored credential's content result.
func (s *Service) credentialContent(ctx context.Context, c *db.CloudCredential, secrets bool) params.CredentialContentResult {
	info, err := s.credentialInfo(ctx, c, secrets)
	if err != nil {
		return params.CredentialContentResult{Error: dbfault.AsError(err, s.log)}
	}
	return params.CredentialContentResult{Result: info}
}

func (s *Service) credentialInfo(ctx context.Context, c *db.CloudCredential, secrets bool) (*params.ControllerCredentialInfo, error) {
	attrs, err := s.openCredential(c)
	if err != nil {
		return nil, err
	}
	if !secrets {
		for _, k := range secretAttributes {
			delete(attrs, k)
		}
	}
	valid := true
	info := &params.ControllerCredentialInfo{Content: params.CredentialContent{
		Name: c.Name, Cloud: c.Cloud, AuthType: c.AuthType, Valid: &valid, Attributes: attrs,
	}}
	models, err := s.db.ModelsUsingCredential(ctx, c.Key())
	if err != nil {
		return nil, err
	}
	for _, m := range models {
		access, err := s.identity.ModelAccess(ctx, &identity.Identity{Name: c.Owner}, &m)
		if err != nil {
			return nil, err
		}
		info.Models = append(info.Models, params.ModelAccess{Model: m.Name, Access: access})
	}
	return info, nil
}

// updateCredentialsCheckModels adds or replaces credentials (add-credential
// -c, update-credential), and hands the new content to the controllers of
// the models that use each, as a controller checks it with them.
func (s *Service) UpdateCredentials(ctx context.Context, caller *identity.Identity, p params.UpdateCredentialArgs) (params.UpdateCredentialResults, error) {
	if p.Force && !caller.Admin {
		return params.UpdateCredentialResults{}, jujuapi.Errorf(jujuapi.CodeBadRequest, "unexpected force specified")
	}
	out := params.UpdateCredentialResults{Results: make([]params.UpdateCredentialResult, len(p.Credentials))}
	for i, arg := range p.Credentials {
		out.Results[i].CredentialTag = arg.Tag
		models, err := s.updateCredential(ctx, caller, arg)
		out.Results[i].Models = models
		if err != nil {
			out.Results[i].Error = dbfault.AsError(err, s.log)
		}
	}
	return out, nil
}

// AddCredentials adds or replaces credentials (the Juju client's
// AddCredential): as UpdateCredentialsCheckModels, with an error per
// credential only.
func (s *Service) AddCredentials(ctx context.Context, caller *identity.Identity, p params.TaggedCredentials) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Credentials))}
	for i, arg := range p.Credentials {
		if _, err := s.updateCredential(ctx, caller, arg); err != nil {
			out.Results[i].Error = dbfault.AsError(err, s.log)
		}
	}
	return out, nil
}

func (s *Service) updateCredential(ctx context.Context, caller *identity.Identity, arg params.TaggedCredential) ([]params.UpdateCredentialModelResult, error) {
	cloud, owner, name, err := jujuapi.ParseCloudCredentialTag(arg.Tag)
	if err != nil {
		return nil, err
	}
	if !mayUseCredentialsOf(caller, owner) {
		return nil, jujuapi.ErrPerm
	}
	defs, err := s.cloudDefs(ctx)
	if err != nil {
		return nil, err
	}
	def, ok := defs[cloud]
	if !ok {
		return nil, fmt.Errorf("cannot update credential %q: controller does not manage cloud %q", name, cloud)
	}
	if len(def.AuthTypes) > 0 && !slices.Contains(def.AuthTypes, arg.Credential.AuthType) {
		return nil, jujuapi.Errorf(jujuapi.CodeNotValid, "cannot update credential %q: auth type %q is not supported by cloud %q (it supports %s)",
			name, arg.Credential.AuthType, cloud, strings.Join(def.AuthTypes, ", "))
	}
	attrs := arg.Credential.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	raw, err := json.Marshal(attrs)
	if err != nil {
		return nil, err
	}
	sealed, err := s.sealer.Seal(raw, credentialAAD(cloud, owner, name))
	if err != nil {
		return nil, fmt.Errorf("seal credential %q: %w", name, err)
	}
	row := &db.CloudCredential{Cloud: cloud, Owner: owner, Name: name, AuthType: arg.Credential.AuthType, Attributes: sealed}
	models, err := s.db.ModelsUsingCredential(ctx, row.Key())
	if err != nil {
		return nil, err
	}
	// The models that use it see the new content first, on their
	// controllers; a refusal there keeps the old one everywhere.
	var results []params.UpdateCredentialModelResult
	failed := false
	for _, m := range models {
		r := params.UpdateCredentialModelResult{ModelUUID: m.UUID, ModelName: m.Name}
		if err := s.pushCredential(ctx, &m.Controller, row, attrs); err != nil {
			r.Errors = []params.ErrorResult{{Error: dbfault.AsError(err, s.log)}}
			failed = true
		}
		results = append(results, r)
	}
	if failed {
		return results, fmt.Errorf("cannot update credential %q: some models refused it", name)
	}
	if err := s.db.PutCloudCredential(ctx, row); err != nil {
		return results, err
	}
	s.log.Info("cloud credential stored", "credential", row.Key(), "models", len(models))
	return results, nil
}

// pushCredential gives the controller ctl a credential, owned on the
// controller by its owner, as the broker's administrator connection
// there (a controller superuser may set anyone's).
func (s *Service) pushCredential(ctx context.Context, ctl *db.Controller, c *db.CloudCredential, attrs map[string]string) error {
	client, err := s.pool.Get(ctx, ctl.Name)
	if err != nil {
		return jujuapi.Errorf(jujuapi.CodeTryAgain, "controller %q is unavailable; try again later", ctl.Name)
	}
	tag := jujuapi.CloudCredentialTag(c.Cloud, c.Owner, c.Name).String()
	var res params.UpdateCredentialResults
	err = client.Call(ctx, "Cloud", 7, "UpdateCredentialsCheckModels", params.UpdateCredentialArgs{
		Credentials: []params.TaggedCredential{{Tag: tag, Credential: params.CloudCredential{AuthType: c.AuthType, Attributes: attrs}}},
	}, &res)
	if err == nil && len(res.Results) == 1 && res.Results[0].Error != nil {
		err = res.Results[0].Error
	}
	if err != nil {
		return fmt.Errorf("hand credential %s to controller %q: %w", c.Key(), ctl.Name, jujuapi.Underlying(err))
	}
	return nil
}

// revokeCredentialsCheckModels removes credentials no model uses (or, with
// force, any).
func (s *Service) RevokeCredentials(ctx context.Context, caller *identity.Identity, p params.RevokeCredentialArgs) (params.ErrorResults, error) {
	out := params.ErrorResults{Results: make([]params.ErrorResult, len(p.Credentials))}
	for i, arg := range p.Credentials {
		err := func() error {
			cloud, owner, name, err := jujuapi.ParseCloudCredentialTag(arg.Tag)
			if err != nil {
				return err
			}
			if !mayUseCredentialsOf(caller, owner) {
				return jujuapi.ErrPerm
			}
			models, err := s.db.ModelsUsingCredential(ctx, cloud+"/"+owner+"/"+name)
			if err != nil {
				return err
			}
			if len(models) > 0 && !arg.Force {
				plural := ""
				if len(models) > 1 {
					plural = "s"
				}
				return fmt.Errorf("cannot revoke credential %s/%s/%s: it is still used by %d model%s", cloud, owner, name, len(models), plural)
			}
			if err := s.db.RemoveCloudCredential(ctx, cloud, owner, name); err != nil {
				if errors.Is(err, db.ErrNotFound) {
					return jujuapi.NotFoundf("credential %q", name)
				}
				return err
			}
			return nil
		}()
		if err != nil {
			out.Results[i].Error = dbfault.AsError(err, s.log)
		}
	}
	return out, nil
}
