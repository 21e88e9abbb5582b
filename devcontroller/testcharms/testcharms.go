// Package testcharms holds the charms the project's tests and demos
// deploy, as directories a `juju deploy ./dir` accepts, and packs them into
// .charm archives (zips) at test time, as the Juju client packs a charm
// directory before uploading it.
//
// demo (demo/) is a small web application: it provides "website"
// (interface http) and requires "backend" (interface http, at most one),
// so that two deployments of it can be integrated; its config options
// are greeting (string, "hello"), port (int, 8080) and verbose (boolean,
// false); it runs on ubuntu 22.04 (amd64) and has a dispatch script.
package testcharms

import (
	"archive/zip"
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
)

//go:embed demo
var charms embed.FS

// Demo is the name of the demo charm.
const Demo = "demo"

// Dir returns the directory of the named charm in the source tree, for
// tools that deploy a charm directory (juju deploy ./dir).
func Dir(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), name)
}

// Pack returns the named charm as a .charm archive: a zip of its files
// at the archive's root, the dispatch script and hooks executable.
func Pack(name string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := fs.WalkDir(charms, name, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, name), "/")
		if rel == "" {
			return nil
		}
		h := &zip.FileHeader{Name: rel, Method: zip.Deflate}
		if d.IsDir() {
			h.Name += "/"
			h.SetMode(os.ModeDir | 0o755)
			_, err := zw.CreateHeader(h)
			return err
		}
		mode := os.FileMode(0o644)
		if rel == "dispatch" || path.Dir(rel) == "hooks" {
			mode = 0o755
		}
		h.SetMode(mode)
		data, err := charms.ReadFile(p)
		if err != nil {
			return err
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pack charm %q: %w", name, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("pack charm %q: %w", name, err)
	}
	return buf.Bytes(), nil
}

// Zip builds a zip archive of files (name → content), for tests that need
// a charm archive the repository does not hold (a broken one, say).
func Zip(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write([]byte(content)); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
