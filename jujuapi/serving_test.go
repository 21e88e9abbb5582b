package jujuapi_test

import (
	"context"
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

// Wait returns once every admitted connection has ended, or when its ctx
// ends first; Len counts them.
func TestServingGroupWait(t *testing.T) {
	var g jujuapi.ServingGroup
	if !g.Wait(t.Context()) {
		t.Fatal("Wait on an empty group reported connections left")
	}
	g.Add()
	g.Add()
	if n := g.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if g.Wait(ctx) {
		t.Fatal("Wait reported every connection ended while two were open")
	}
	g.Close()
	if g.Add() {
		t.Fatal("Add admitted a connection after Close")
	}
	done := make(chan bool)
	go func() { done <- g.Wait(t.Context()) }()
	g.Done()
	select {
	case <-done:
		t.Fatal("Wait returned with a connection still open")
	case <-time.After(50 * time.Millisecond):
	}
	g.Done()
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("Wait reported connections left after the last ended")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Wait did not return once the last connection ended")
	}
}
