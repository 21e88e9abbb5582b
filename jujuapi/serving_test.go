package jujuapi_test

import (
	"testing"
	"time"

	"github.com/jimmbroker/jimm/jujuapi"
)

// Drain waits for the admitted connections, and refuses any after it began.
func TestServingGroupDrain(t *testing.T) {
	var g jujuapi.ServingGroup
	if !g.Add() {
		t.Fatal("Add refused before Drain")
	}
	drained := make(chan struct{})
	go func() {
		g.Drain()
		close(drained)
	}()
	select {
	case <-drained:
		t.Fatal("Drain returned while a connection was being served")
	case <-time.After(50 * time.Millisecond):
	}
	// Drain has begun: a late connection is refused.
	deadline := time.Now().Add(2 * time.Second)
	for g.Add() {
		g.Done()
		if time.Now().After(deadline) {
			t.Fatal("Add still admits connections while draining")
		}
		time.Sleep(time.Millisecond)
	}
	g.Done()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
		t.Fatal("Drain did not return once the connection ended")
	}
}
