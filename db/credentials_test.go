package db_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

func TestCloudCredentials(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		put := func(cloud, owner, name, auth string, attrs string) {
			t.Helper()
			if err := d.PutCloudCredential(ctx, &db.CloudCredential{Cloud: cloud, Owner: owner, Name: name, AuthType: auth, Attributes: []byte(attrs)}); err != nil {
				t.Fatal(err)
			}
		}
		put("lxd", "alice", "home", "certificate", "sealed-1")
		put("lxd", "alice", "work", "certificate", "sealed-2")
		put("aws", "alice", "work", "access-key", "sealed-3")
		put("lxd", "bob", "home", "certificate", "sealed-4")
		// Putting again replaces.
		put("lxd", "alice", "home", "interactive", "sealed-5")
		c, err := d.CloudCredential(ctx, "lxd", "alice", "home")
		if err != nil || c.AuthType != "interactive" || string(c.Attributes) != "sealed-5" || c.Key() != "lxd/alice/home" {
			t.Fatalf("the replaced credential: %v %+v", err, c)
		}
		all, err := d.CloudCredentials(ctx, "alice", "")
		if err != nil || len(all) != 3 || all[0].Cloud != "aws" || all[1].Name != "home" || all[2].Name != "work" {
			t.Fatalf("alice's credentials: %v %+v", err, all)
		}
		lxd, _ := d.CloudCredentials(ctx, "alice", "lxd")
		if len(lxd) != 2 {
			t.Fatalf("alice's lxd credentials: %+v", lxd)
		}
		ctl := addController(t, d, "ctl-a", "u-a")
		if err := d.AddModel(ctx, &db.Model{UUID: "m-1", Name: "m", Owner: "alice", ControllerID: ctl.ID, Cloud: "lxd", Region: "r1", Life: db.LifeAlive, Credential: "lxd/alice/home"}, "user:alice"); err != nil {
			t.Fatal(err)
		}
		using, err := d.ModelsUsingCredential(ctx, "lxd/alice/home")
		if err != nil || len(using) != 1 || using[0].UUID != "m-1" || using[0].Controller.Name != "ctl-a" {
			t.Fatalf("models using lxd/alice/home: %v %+v", err, using)
		}
		if using, _ := d.ModelsUsingCredential(ctx, "lxd/alice/work"); len(using) != 0 {
			t.Fatalf("models using an unused credential: %+v", using)
		}
		if err := d.RemoveCloudCredential(ctx, "lxd", "alice", "work"); err != nil {
			t.Fatal(err)
		}
		if _, err := d.CloudCredential(ctx, "lxd", "alice", "work"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("a removed credential: %v", err)
		}
		if err := d.RemoveCloudCredential(ctx, "lxd", "alice", "work"); !errors.Is(err, db.ErrNotFound) {
			t.Fatalf("removing it again: %v, want ErrNotFound", err)
		}
	})
}

func TestModelDefaults(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		if err := d.SetModelDefaults(ctx, "lxd", "", map[string]string{"http-proxy": `"http://p"`, "logging-config": `"<root>=INFO"`}, at); err != nil {
			t.Fatal(err)
		}
		if err := d.SetModelDefaults(ctx, "lxd", "east", map[string]string{"http-proxy": `"http://east"`}, at); err != nil {
			t.Fatal(err)
		}
		if err := d.SetModelDefaults(ctx, "aws", "", map[string]string{"http-proxy": `"http://aws"`}, at); err != nil {
			t.Fatal(err)
		}
		// Setting again replaces.
		if err := d.SetModelDefaults(ctx, "lxd", "", map[string]string{"http-proxy": `"http://q"`}, at); err != nil {
			t.Fatal(err)
		}
		got, err := d.ModelDefaults(ctx, "lxd")
		if err != nil || len(got) != 3 {
			t.Fatalf("lxd's defaults: %v %+v", err, got)
		}
		if got[0].Region != "" || got[0].Key != "http-proxy" || got[0].Value != `"http://q"` || got[1].Key != "logging-config" || got[2].Region != "east" {
			t.Fatalf("lxd's defaults, by region and key: %+v", got)
		}
		if err := d.UnsetModelDefaults(ctx, "lxd", "", []string{"http-proxy", "no-such-key"}); err != nil {
			t.Fatal(err)
		}
		got, _ = d.ModelDefaults(ctx, "lxd")
		if len(got) != 2 || got[0].Key != "logging-config" || got[1].Region != "east" {
			t.Fatalf("lxd's defaults after unsetting http-proxy of the cloud: %+v", got)
		}
		if aws, _ := d.ModelDefaults(ctx, "aws"); len(aws) != 1 {
			t.Fatalf("unsetting lxd's touched aws: %+v", aws)
		}
	})
}
