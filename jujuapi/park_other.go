//go:build !linux

package jujuapi

import "time"

// parkState is empty where connections cannot park.
type parkState struct{ expired bool }

// Park reports false: connections park on Linux only.
func (c *Conn) Park(resume func(), recheck time.Time) bool { return false }

// Rechecked reports false: no reader is ever parked.
func (c *Conn) Rechecked() bool { return false }

func (c *Conn) unparkToClose() {}

// ParkedConns is always 0 where connections cannot park.
func ParkedConns() int { return 0 }
