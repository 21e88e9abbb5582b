// Command jimmctl is the admin CLI of the jimm broker; see package
// github.com/jimmbroker/jimm/jimmctl.
package main

import (
	"os"

	"github.com/jimmbroker/jimm/jimmctl"
)

func main() {
	if err := jimmctl.NewRootCommand(os.Stdout, os.Stderr).Execute(); err != nil {
		// The command has printed the error on stderr.
		os.Exit(1)
	}
}
