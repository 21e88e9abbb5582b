package devcontroller

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jimmbroker/jimm/devcontroller/charm"
	"github.com/jimmbroker/jimm/devcontroller/store"
	"github.com/jimmbroker/jimm/jujuapi"
)

// Uploaded charms. A model's charms are recorded in its document
// (store.Model.Charms: URL, SHA256, size and what the archive says of the
// charm); their archives are files in <data-dir>/charms named by their
// SHA256, written (and synced) before the document that refers to them is
// committed, so that a crash never leaves a charm without its archive.
// Archives no model refers to are removed when the controller starts.

// DefaultMaxCharmSize bounds an uploaded charm archive.
const DefaultMaxCharmSize = 64 << 20

// charmArchiveDir is where the archives are, under the data directory.
const charmArchiveDir = "charms"

func (c *Controller) charmArchivePath(sha string) string {
	return filepath.Join(c.cfg.DataDir, charmArchiveDir, sha+".charm")
}

// writeCharmArchive stores an archive by its SHA256 (hex), atomically.
func (c *Controller) writeCharmArchive(data []byte) (string, error) {
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	path := c.charmArchivePath(sha)
	if _, err := os.Stat(path); err == nil {
		return sha, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("store charm archive: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".upload-*")
	if err != nil {
		return "", fmt.Errorf("store charm archive: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", fmt.Errorf("store charm archive %s: %w", sha, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("store charm archive %s: %w", sha, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("store charm archive %s: %w", sha, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("store charm archive %s: %w", sha, err)
	}
	return sha, nil
}

// readCharmArchive returns a stored archive.
func (c *Controller) readCharmArchive(sha string) ([]byte, error) {
	data, err := os.ReadFile(c.charmArchivePath(sha))
	if err != nil {
		return nil, fmt.Errorf("read charm archive %s: %w", sha, err)
	}
	return data, nil
}

// pruneCharmArchives removes the archives no model refers to (uploads a
// stop interrupted, charms of models that are gone).
func (c *Controller) pruneCharmArchives() {
	dir := filepath.Join(c.cfg.DataDir, charmArchiveDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			c.log.Warn("cannot list charm archives", "dir", dir, "err", err)
		}
		return
	}
	used := map[string]bool{}
	for _, m := range c.store.Models() {
		for _, ch := range m.Charms {
			used[ch.SHA256] = true
		}
	}
	for _, e := range entries {
		sha, ok := strings.CutSuffix(e.Name(), ".charm")
		if ok && used[sha] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			c.log.Warn("cannot remove unused charm archive", "file", e.Name(), "err", err)
		}
	}
}

// charmUpload is a charm archive to add to a model.
type charmUpload struct {
	data []byte
	// url is the URL the client asks for; its revision, when -1, is the
	// archive's.
	url charm.URL
}

// addLocalCharm stores an uploaded local charm in a model, as Juju's
// PrepareLocalCharmUpload does: the charm gets the revision asked for, or
// the next one its URL has not had in this model if that is higher. It
// returns the charm's URL.
func (c *Controller) addLocalCharm(ctx context.Context, uuid string, up charmUpload) (string, error) {
	info, err := charm.Read(bytes.NewReader(up.data), int64(len(up.data)))
	if err != nil {
		return "", jujuapi.Errorf(jujuapi.CodeBadRequest, "%v", err)
	}
	if up.url.Name == "" {
		up.url.Name = info.Meta.Name
	}
	if !charm.ValidName(up.url.Name) {
		return "", jujuapi.Errorf(jujuapi.CodeBadRequest, "name %q not valid", up.url.Name)
	}
	if up.url.Revision < 0 {
		up.url.Revision = info.Revision
	}
	sha, err := c.writeCharmArchive(up.data)
	if err != nil {
		return "", err
	}
	var url string
	_, err = c.store.UpdateModel(ctx, uuid, func(m *store.Model) error {
		if err := writable(m); err != nil {
			return err
		}
		base := up.url.WithRevision(-1).String()
		rev := max(up.url.Revision, m.CharmRevisions[base])
		if m.CharmRevisions == nil {
			m.CharmRevisions = map[string]int{}
		}
		m.CharmRevisions[base] = rev + 1
		url = up.url.WithRevision(rev).String()
		if m.Charms == nil {
			m.Charms = map[string]*store.Charm{}
		}
		m.Charms[url] = &store.Charm{URL: url, SHA256: sha, Size: int64(len(up.data)), UploadedAt: time.Now().UTC(), Info: *info}
		return nil
	})
	if err != nil {
		return "", err
	}
	c.modelEvent(uuid, logInfo, "juju.apiserver.charms", "uploaded charm %s (%d bytes)", url, len(up.data))
	return url, nil
}
