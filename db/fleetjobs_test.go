package db_test

import (
	"testing"
	"time"

	"github.com/jimmbroker/jimm/db"
	"github.com/jimmbroker/jimm/db/dbtest"
)

func TestControllerLoads(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		a, _ := addController(t, d, "ctl-a", "u-a"), addController(t, d, "ctl-b", "u-b")
		for i, c := range []struct {
			uuid, name      string
			machines, units int
		}{{"m-1", "one", 3, 7}, {"m-2", "two", 2, 0}} {
			m := &db.Model{UUID: c.uuid, Name: c.name, Owner: "alice", ControllerID: a.ID, Cloud: "localhost", Region: "r1", Life: db.LifeAlive}
			if err := d.AddModel(ctx, m, "user:alice"); err != nil {
				t.Fatal(i, err)
			}
			if err := d.SetModelCounts(ctx, c.uuid, c.machines, c.units); err != nil {
				t.Fatal(err)
			}
		}
		loads, err := d.ControllerLoads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := loads["ctl-a"], (db.Load{Models: 2, Machines: 5, Units: 7}); got != want || got.Agents() != 12 {
			t.Errorf("ctl-a load %+v (agents %d), want %+v (12)", got, got.Agents(), want)
		}
		if got, ok := loads["ctl-b"]; !ok || got != (db.Load{}) {
			t.Errorf("ctl-b load %+v (listed %v), want listed and empty", got, ok)
		}
	})
}

func TestFleetJobs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := t.Context()
		j := &db.FleetJob{Kind: "evacuate", Controller: "ctl-a", Parallel: 2, State: db.FleetJobRunning, Plan: `{"x":1}`,
			Moves: []db.FleetMove{
				{ModelUUID: "m-1", Model: "alice/one", Source: "ctl-a", Target: "ctl-b", Agents: 4, EstimateMS: 1200, State: db.MovePending},
				{ModelUUID: "m-2", Model: "alice/two", Source: "ctl-a", Target: "ctl-c", State: db.MovePending},
			}}
		if err := d.AddFleetJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		if j.ID == 0 || len(j.Moves) != 2 || j.Moves[1].Seq != 1 || j.Moves[1].JobID != j.ID || j.Moves[0].ID == 0 {
			t.Fatalf("recorded job %+v", j)
		}
		if err := d.SetFleetMove(ctx, j.Moves[1].ID, db.MoveFailed, 42, "refused"); err != nil {
			t.Fatal(err)
		}
		running, err := d.RunningFleetJobs(ctx)
		if err != nil || len(running) != 1 || running[0] != j.ID {
			t.Fatalf("running jobs %v, %v; want [%d]", running, err, j.ID)
		}
		got, err := d.FleetJob(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Moves) != 2 || got.Moves[0].Model != "alice/one" || got.Moves[1].State != db.MoveFailed ||
			got.Moves[1].MigrationID != 42 || got.Moves[1].Error != "refused" || got.Plan != `{"x":1}` {
			t.Fatalf("read back %+v", got)
		}
		if err := d.EndFleetJob(ctx, j.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if running, _ := d.RunningFleetJobs(ctx); len(running) != 0 {
			t.Fatalf("running after EndFleetJob: %v", running)
		}
		jobs, err := d.FleetJobs(ctx, 10)
		if err != nil || len(jobs) != 1 || jobs[0].State != db.FleetJobDone || jobs[0].EndedAt == nil || len(jobs[0].Moves) != 2 {
			t.Fatalf("FleetJobs: %v %+v", err, jobs)
		}
	})
}
