package jujuapi

import (
	"fmt"
	"maps"
	"slices"
)

// FacadeTable lists facades by name with the versions a Juju server
// serves of each, for registering methods with a [Registry] without
// writing version numbers at each call:
//
//	r.Register("ModelManager", jujuapi.Juju35.Versions("ModelManager"), "ListModels", fn)
//
// A table is fixed once built, and safe for concurrent use.
type FacadeTable struct {
	name     string
	versions map[string][]int
}

// Versions returns the versions the table lists for facade, lowest first,
// in a slice the caller may keep. It panics for a facade the table does
// not list: registries are built at startup, so a misspelt name stops the
// process there instead of shipping a facade that answers no version.
func (t *FacadeTable) Versions(facade string) []int {
	vs, ok := t.versions[facade]
	if !ok {
		panic(fmt.Sprintf("jujuapi: facade %q is not in the %s facade table; check the name, or add the facade to jujuapi/facades.go with the versions %s serves", facade, t.name, t.name))
	}
	return slices.Clone(vs)
}

// Facades lists every facade of the table with its versions, sorted by
// name, in the shape of [Registry.Versions].
func (t *FacadeTable) Facades() []FacadeVersions {
	out := make([]FacadeVersions, 0, len(t.versions))
	for _, name := range slices.Sorted(maps.Keys(t.versions)) {
		out = append(out, FacadeVersions{Name: name, Versions: slices.Clone(t.versions[name])})
	}
	return out
}

// Juju35 is what a Juju 3.5 controller serves, as read in Juju 3.5.4
// (commit 31b4b0914740b84ad8166993635ac797a44276de): the registrations in
// apiserver/allfacades.go and in each facade's register.go under
// apiserver/facades, and the Admin versions in adminAPIFactories. It holds
// the facades this project serves and the other facades a 3.5 controller
// lists at login on /api.
//
// Juju lists no Admin facade at login: a client calls Admin before it
// knows the server's facades, at a version it chooses, and a 3.5
// controller answers version 3 only. See [AdminSessionLoginVersion] for
// Admin 4.
var Juju35 = &FacadeTable{name: "Juju 3.5", versions: map[string][]int{
	// Served on every connection; Admin also before login.
	"Admin":  {3},
	"Pinger": {1},

	// Served on /api only.
	"AllModelWatcher":     {4},
	"ApplicationOffers":   {4, 5},
	"Cloud":               {7},
	"Controller":          {11},
	"CrossController":     {1},
	"MigrationTarget":     {1, 2, 3},
	"ModelManager":        {9, 10},
	"ModelSummaryWatcher": {1},
	"ModelUpgrader":       {1},
	"SecretBackends":      {1},
	"UserManager":         {3},

	// Served on /api and on model connections.
	"Bundle":           {6},
	"HighAvailability": {2},
	"ModelConfig":      {3},
	"NotifyWatcher":    {1},

	// Served on model connections only.
	"AllWatcher":     {3},
	"Annotations":    {2},
	"Application":    {15, 16, 17, 18, 19, 20},
	"Block":          {2},
	"Charms":         {5, 6, 7},
	"Client":         {6, 7},
	"MachineManager": {9, 10},
}}

// AdminSessionLoginVersion is the Admin version on which the Juju 3.5
// client makes the logins that only a broker answers: LoginWithSessionToken,
// LoginDevice, GetDeviceSessionToken and LoginWithClientCredentials (its
// api/sessiontokenloginprovider.go and api/clientcredentialsloginprovider.go).
// A Juju 3.5 controller does not serve it, so [Juju35] does not list it;
// a password or controller-token login is Admin 3 Login.
const AdminSessionLoginVersion = 4
