package devcontroller

import (
	"context"

	"github.com/jimmbroker/jimm/jujuapi"
	"github.com/jimmbroker/jimm/jujuapi/params"
)

type root = jujuapi.Registry[*session]

// buildRoots returns the facades a connection sees, with the versions a Juju
// 3.5 controller serves: the first on /api, the second on /model/<uuid>/api.
func buildRoots() (*root, *root) {
	ctl, mdl := &root{}, &root{}
	for _, r := range []*root{ctl, mdl} {
		r.Register("Admin", []int{3}, "Login", typed((*session).login))
		r.Register("Admin", []int{3}, "RedirectInfo", noParams((*session).redirectInfo))
		r.Register("Pinger", []int{1}, "Ping", noParams(func(*session, context.Context) (struct{}, error) {
			return struct{}{}, nil
		}))
		r.Register("ModelConfig", []int{3}, "ModelGet", noParams((*session).modelGet))
		r.Register("ModelConfig", []int{3}, "ModelSet", typed((*session).modelSet))
		r.Register("ModelConfig", []int{3}, "ModelUnset", typed((*session).modelUnset))
	}

	mm := []int{9, 10}
	ctl.Register("ModelManager", mm, "ListModels", typed((*session).listModels))
	ctl.Register("ModelManager", mm, "ListModelSummaries", typed((*session).listModelSummaries))
	ctl.Register("ModelManager", mm, "ModelInfo", typed((*session).modelInfo))
	ctl.Register("ModelManager", mm, "CreateModel", typed((*session).createModel))
	ctl.Register("ModelManager", mm, "DestroyModels", typed((*session).destroyModels))
	ctl.Register("ModelManager", mm, "ModelStatus", typed((*session).modelStatus))
	ctl.Register("ModelManager", mm, "ModifyModelAccess", typed((*session).modifyModelAccess))
	ctl.Register("Cloud", []int{7}, "Clouds", noParams((*session).clouds))
	ctl.Register("Cloud", []int{7}, "Cloud", typed((*session).cloud))
	ctl.Register("Controller", []int{11}, "ControllerVersion", noParams((*session).controllerVersion))
	ctl.Register("Controller", []int{11}, "GetControllerAccess", typed((*session).getControllerAccess))
	ctl.Register("Controller", []int{11}, "IdentityProviderURL", noParams((*session).identityProviderURL))
	ctl.Register("UserManager", []int{3}, "UserInfo", typed((*session).userInfo))
	ctl.Register("UserManager", []int{3}, "AddUser", typed((*session).addUser))

	mdl.Register("Client", []int{6, 7}, "FullStatus", typed((*session).fullStatus))
	app := []int{15, 16, 17, 18, 19, 20}
	mdl.Register("Application", app, "Deploy", typed((*session).deploy))
	mdl.Register("Application", app, "AddUnits", typed((*session).addUnits))
	mdl.Register("Application", app, "DestroyApplication", typed((*session).destroyApplication))
	mdl.Register("MachineManager", []int{9, 10}, "AddMachines", typed((*session).addMachines))
	return ctl, mdl
}

// redirectInfo answers Admin.RedirectInfo: this controller redirects no
// model yet, as Juju answers for a model that has not moved.
func (s *session) redirectInfo(context.Context) (params.RedirectInfoResult, error) {
	return params.RedirectInfoResult{}, jujuapi.Errorf(jujuapi.CodeNotFound, "no redirection information available")
}

// typed and noParams adapt the session's methods, as method expressions
// (receiver first), to registry methods.
func typed[P, R any](fn func(*session, context.Context, P) (R, error)) jujuapi.Method[*session] {
	return jujuapi.Typed(func(ctx context.Context, s *session, p P) (R, error) { return fn(s, ctx, p) })
}

func noParams[R any](fn func(*session, context.Context) (R, error)) jujuapi.Method[*session] {
	return jujuapi.NoParams(func(ctx context.Context, s *session) (R, error) { return fn(s, ctx) })
}
